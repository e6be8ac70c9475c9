-- A rule's condition may be long (up to 128 KiB per attribute: ODRL documents spell time
-- windows out), and a PostgreSQL B-tree entry holds at most about 2.7 KB, so the rules'
-- key can no longer hold the condition's text. The identity stays (policy, kind, assignee,
-- action, target, condition); the unique index keys the condition by its MD5 digest, and
-- a collision between two different conditions of the same rule head would be refused by
-- the index (an error, never a lost or merged rule).
ALTER TABLE rules DROP CONSTRAINT rules_pkey;
CREATE UNIQUE INDEX rules_identity ON rules (policy, kind, assignee, action, target, md5(condition_json));
