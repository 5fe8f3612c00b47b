-- tocsin store, schema version 6: a detection is kept unique by its time and key (its key
-- hashes its time, so this refuses exactly what a unique key refused) instead of by its key
-- alone. Keys are random, so a unique index on them made every stored detection write a
-- page of its own (a service storing 300 detections a step wrote 300 pages of that index,
-- two thirds of all it wrote); a live feed's detections arrive in time order, and their
-- times append to the end of the time index. Untimed detections stay unique by key.
--
-- (tocsin 0.1 as first released with schema 6 also made an index of keys alone here,
-- `alert_keys`, filled in bulk by each save; schema 7 drops it, so this migration no longer
-- builds it only for the next one to drop it.)
CREATE TABLE alerts_unique_by_time (
    id INTEGER PRIMARY KEY NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    level TEXT NOT NULL,
    timestamp_micros INTEGER,
    source TEXT NOT NULL,
    record INTEGER NOT NULL,
    body TEXT NOT NULL
);
INSERT INTO alerts_unique_by_time (id, key, kind, rule_id, level, timestamp_micros, source, record, body)
SELECT id, key, kind, rule_id, level, timestamp_micros, source, record, body
FROM alerts ORDER BY id;

CREATE TABLE memberships_of_unique (
    alert_id INTEGER PRIMARY KEY NOT NULL REFERENCES alerts_unique_by_time (id),
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    position INTEGER NOT NULL
);
INSERT INTO memberships_of_unique (alert_id, incident_id, position)
SELECT alert_id, incident_id, position FROM memberships
WHERE alert_id IN (SELECT id FROM alerts) ORDER BY alert_id;

DROP TABLE memberships;
DROP TABLE alerts;
ALTER TABLE alerts_unique_by_time RENAME TO alerts;
ALTER TABLE memberships_of_unique RENAME TO memberships;
CREATE UNIQUE INDEX alerts_by_time ON alerts (timestamp_micros, key);
CREATE UNIQUE INDEX alerts_untimed ON alerts (key) WHERE timestamp_micros IS NULL;
CREATE INDEX memberships_by_incident ON memberships (incident_id, position);
