-- Duties (docs/CONTRACT.md §1, "Duties"): who discharged which duty of which policy. A
-- permission with duties applies only when each is inactive or fulfilled. Before this
-- version Policy.DutyDischarged events were stored and ignored; those naming a duty
-- (predicate odrl:duty, the duty's uid as object, who discharged it as subject) are
-- copied in, as a replay of the log now reads them.
CREATE TABLE duty_discharges (
    policy TEXT NOT NULL,
    duty   TEXT NOT NULL,
    agent  TEXT NOT NULL,
    PRIMARY KEY (policy, duty, agent)
);

INSERT INTO duty_discharges (policy, duty, agent)
SELECT DISTINCT aggregate_id, object, subject
FROM events
WHERE event_type = 'Policy.DutyDischarged'
  AND predicate IN ('odrl:duty', 'http://www.w3.org/ns/odrl/2/duty')
  AND subject <> '' AND subject <> '*'
  AND object <> '' AND object <> '*'
  AND octet_length(subject) <= 512 AND octet_length(object) <= 512
ON CONFLICT DO NOTHING;
