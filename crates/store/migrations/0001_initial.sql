-- tocsin store, schema version 1: alerts, incidents, memberships, audit trail.
-- Marks the file as a tocsin store ('tocs' in ASCII) so that other SQLite files are refused.
PRAGMA application_id = 1953457011;

-- One row per detection; `key` is the stable detection key, so rerunning a hunt adds nothing.
-- `body` is the whole alert as JSON (entities, evidence); the other columns are for queries.
CREATE TABLE alerts (
    key TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    level TEXT NOT NULL,
    timestamp_micros INTEGER,
    source TEXT NOT NULL,
    record INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX alerts_by_time ON alerts (timestamp_micros, key);

-- One row per incident. `computed` is the grouping result as JSON (rewritten on regrouping),
-- `lifecycle` the analysts' part as JSON (never rewritten by regrouping).
CREATE TABLE incidents (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    first_seen_micros INTEGER,
    last_seen_micros INTEGER,
    score INTEGER NOT NULL,
    band TEXT NOT NULL,
    status TEXT NOT NULL,
    computed TEXT NOT NULL,
    lifecycle TEXT NOT NULL,
    merged_into TEXT REFERENCES incidents (id)
);
CREATE INDEX incidents_by_activity ON incidents (last_seen_micros);

-- Which incident each alert belongs to (one each).
CREATE TABLE memberships (
    alert_key TEXT PRIMARY KEY NOT NULL REFERENCES alerts (key),
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    position INTEGER NOT NULL
);
CREATE INDEX memberships_by_incident ON memberships (incident_id, position);

-- Every lifecycle change, in order.
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at_micros INTEGER NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX audit_by_incident ON audit (incident_id, seq);
