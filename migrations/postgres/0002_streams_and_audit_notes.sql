-- expected_version streams are keyed by the aggregate's kind (the event type's prefix:
-- Agent, Role, Account, Policy, ...) and its id: an agent and a policy with one id are two
-- streams with their own sequence numbers.
ALTER TABLE events ADD COLUMN aggregate_kind TEXT NOT NULL DEFAULT '';
UPDATE events SET aggregate_kind = split_part(event_type, '.', 1);
ALTER TABLE events ALTER COLUMN aggregate_kind DROP DEFAULT;
ALTER TABLE events DROP CONSTRAINT events_aggregate_id_sequence_no_key;
ALTER TABLE events ADD CONSTRAINT events_stream_sequence UNIQUE (aggregate_kind, aggregate_id, sequence_no);

-- What the operator should know about a change that did less than it may seem: a revoke
-- that left the edge held by other facts names them here (empty otherwise).
ALTER TABLE audit ADD COLUMN note TEXT NOT NULL DEFAULT '';
