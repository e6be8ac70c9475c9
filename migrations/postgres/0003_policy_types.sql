-- Policy types (docs/CONTRACT.md §1, "Policy types"): the type the latest Policy.Created
-- that named one gave each policy, as a full IRI. No row: no type given (a Set). Offers,
-- Requests and Assertions never grant or deny; before this table they were enforced like
-- Sets, so the types already in the log are copied in.
CREATE TABLE policy_types (
    policy      TEXT PRIMARY KEY,
    policy_type TEXT NOT NULL
);

INSERT INTO policy_types (policy, policy_type)
SELECT DISTINCT ON (aggregate_id) aggregate_id, payload::jsonb ->> 'policy_type'
FROM events
WHERE event_type = 'Policy.Created'
  AND COALESCE(payload::jsonb ->> 'policy_type', '') <> ''
ORDER BY aggregate_id, position DESC;
