-- The event log: the only source of truth. position is the global revision (no gaps):
-- appends take a transaction advisory lock and assign MAX(position) + 1 inside it.
CREATE TABLE events (
    position     BIGINT PRIMARY KEY,
    id           TEXT   NOT NULL UNIQUE,
    aggregate_id TEXT   NOT NULL,
    sequence_no  BIGINT NOT NULL,
    event_type   TEXT   NOT NULL,
    subject      TEXT   NOT NULL,
    predicate    TEXT   NOT NULL,
    object       TEXT   NOT NULL,
    payload      TEXT   NOT NULL, -- JSON object of strings, canonical
    timestamp    TEXT   NOT NULL, -- RFC 3339, UTC
    metadata     TEXT   NOT NULL, -- JSON object of strings
    content      TEXT   NOT NULL, -- canonical content, compared when an id is reused
    UNIQUE (aggregate_id, sequence_no)
);

-- Read model: the facts that decide, updated in the transaction that appends the events.
-- account is '' for a global edge; source says which event kind holds the edge.
CREATE TABLE role_edges (
    account TEXT NOT NULL,
    node    TEXT NOT NULL,
    role    TEXT NOT NULL,
    source  TEXT NOT NULL,
    PRIMARY KEY (account, node, role, source)
);

CREATE TABLE memberships (
    account TEXT NOT NULL,
    agent   TEXT NOT NULL,
    role    TEXT NOT NULL,
    PRIMARY KEY (account, agent)
);

CREATE TABLE rules (
    policy   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    assignee TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    PRIMARY KEY (policy, kind, assignee, action, target)
);
CREATE INDEX rules_by_assignee ON rules (assignee);

CREATE TABLE statuses (
    kind   TEXT   NOT NULL, -- policy, agent, account
    id     TEXT   NOT NULL,
    active BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE roles (
    id TEXT PRIMARY KEY
);

-- Every admin change, written in the same transaction as its events. Append-only.
CREATE TABLE audit (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             TEXT   NOT NULL,
    actor          TEXT   NOT NULL,
    action         TEXT   NOT NULL,
    correlation_id TEXT   NOT NULL,
    event_ids      TEXT   NOT NULL, -- JSON array
    revision       BIGINT NOT NULL
);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;

CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
