-- Policy types (docs/CONTRACT.md §1, "Policy types"): the type the latest Policy.Created
-- that named one gave each policy, as a full IRI. No row: no type given (a Set). Offers,
-- Requests and Assertions never grant or deny; before this table they were enforced like
-- Sets, so the types already in the log are copied in.
CREATE TABLE policy_types (
    policy      TEXT PRIMARY KEY,
    policy_type TEXT NOT NULL
);

INSERT INTO policy_types (policy, policy_type)
SELECT e.aggregate_id, json_extract(e.payload, '$.policy_type')
FROM events e
WHERE e.event_type = 'Policy.Created'
  AND COALESCE(json_extract(e.payload, '$.policy_type'), '') <> ''
  AND e.position = (
      SELECT MAX(l.position) FROM events l
      WHERE l.event_type = 'Policy.Created'
        AND l.aggregate_id = e.aggregate_id
        AND COALESCE(json_extract(l.payload, '$.policy_type'), '') <> ''
  );
