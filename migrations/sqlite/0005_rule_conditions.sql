-- Rules with constraints (docs/CONTRACT.md §1, "Constraints"): a rule's condition, the
-- canonical JSON of its constraints ('' for none), is part of its identity, so the same
-- (policy, kind, assignee, action, target) may be held under several conditions. Events
-- before this version dropped the attribute: every stored rule has none.
CREATE TABLE rules_with_conditions (
    policy         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    assignee       TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT NOT NULL,
    condition_json TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (policy, kind, assignee, action, target, condition_json)
);
INSERT INTO rules_with_conditions (policy, kind, assignee, action, target)
    SELECT policy, kind, assignee, action, target FROM rules;
DROP TABLE rules;
ALTER TABLE rules_with_conditions RENAME TO rules;
CREATE INDEX rules_by_assignee ON rules (assignee);
