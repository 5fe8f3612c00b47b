-- tocsin store, schema version 5: each detection gets a stable integer id (`alerts.id`, its
-- rowid until now, so in the order detections were stored), and memberships are keyed by
-- it instead of the detection key. A new detection's membership is then appended where the
-- last one was, where keyed by its random key it landed on a page of its own: a grouping
-- that places 20,000 detections wrote some 20,000 pages, and now writes a few hundred.
-- The ids stay what the rowids were (a VACUUM could have renumbered those; it cannot
-- renumber an INTEGER PRIMARY KEY).
CREATE TABLE alerts_with_id (
    id INTEGER PRIMARY KEY NOT NULL,
    key TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    level TEXT NOT NULL,
    timestamp_micros INTEGER,
    source TEXT NOT NULL,
    record INTEGER NOT NULL,
    body TEXT NOT NULL
);
INSERT INTO alerts_with_id (id, key, kind, rule_id, level, timestamp_micros, source, record, body)
SELECT rowid, key, kind, rule_id, level, timestamp_micros, source, record, body
FROM alerts ORDER BY rowid;

CREATE TABLE memberships_by_id (
    alert_id INTEGER PRIMARY KEY NOT NULL REFERENCES alerts_with_id (id),
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    position INTEGER NOT NULL
);
INSERT INTO memberships_by_id (alert_id, incident_id, position)
SELECT a.id, m.incident_id, m.position
FROM memberships m JOIN alerts_with_id a ON a.key = m.alert_key
ORDER BY a.id;

DROP TABLE memberships;
DROP TABLE alerts;
ALTER TABLE alerts_with_id RENAME TO alerts;
ALTER TABLE memberships_by_id RENAME TO memberships;
CREATE INDEX alerts_by_time ON alerts (timestamp_micros, key);
CREATE INDEX memberships_by_incident ON memberships (incident_id, position);
