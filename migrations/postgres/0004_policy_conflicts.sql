-- Conflict strategies (docs/CONTRACT.md §1, "Conflict strategies"): the strategy the latest
-- Policy.Created that named one gave each policy (prohibit, perm or invalid). No row: none
-- given (prohibit). Events before this version dropped the attribute, so there is nothing
-- in the log to copy.
CREATE TABLE policy_conflicts (
    policy   TEXT PRIMARY KEY,
    conflict TEXT NOT NULL
);
