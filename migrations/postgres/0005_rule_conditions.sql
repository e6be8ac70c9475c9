-- Rules with constraints (docs/CONTRACT.md §1, "Constraints"): a rule's condition, the
-- canonical JSON of its constraints ('' for none), is part of its identity, so the same
-- (policy, kind, assignee, action, target) may be held under several conditions. Events
-- before this version dropped the attribute: every stored rule has none.
ALTER TABLE rules ADD COLUMN condition_json TEXT NOT NULL DEFAULT '';
ALTER TABLE rules DROP CONSTRAINT rules_pkey;
ALTER TABLE rules ADD PRIMARY KEY (policy, kind, assignee, action, target, condition_json);
