-- expected_version streams are keyed by the aggregate's kind (the event type's prefix:
-- Agent, Role, Account, Policy, ...) and its id: an agent and a policy with one id are two
-- streams with their own sequence numbers. SQLite cannot drop a table constraint, so the
-- log is copied into a table with the new key (positions, ids and content unchanged).
CREATE TABLE events_v2 (
    position       INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    aggregate_kind TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence_no    INTEGER NOT NULL,
    event_type     TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    predicate      TEXT    NOT NULL,
    object         TEXT    NOT NULL,
    payload        TEXT    NOT NULL, -- JSON object of strings, canonical
    timestamp      TEXT    NOT NULL, -- RFC 3339, UTC
    metadata       TEXT    NOT NULL, -- JSON object of strings
    content        TEXT    NOT NULL, -- canonical content, compared when an id is reused
    UNIQUE (aggregate_kind, aggregate_id, sequence_no)
);

INSERT INTO events_v2 (position, id, aggregate_kind, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content)
SELECT position, id,
       CASE WHEN instr(event_type, '.') > 0 THEN substr(event_type, 1, instr(event_type, '.') - 1) ELSE event_type END,
       aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content
FROM events;

DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;

-- What the operator should know about a change that did less than it may seem: a revoke
-- that left the edge held by other facts names them here (empty otherwise).
ALTER TABLE audit ADD COLUMN note TEXT NOT NULL DEFAULT '';
