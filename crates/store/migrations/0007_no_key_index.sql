-- tocsin store, schema version 7: the detections' key index of schema 6 (`alert_keys`) is
-- dropped. Its keys are random, so every detection it indexed wrote a page of its own (a
-- service storing ten thousand detections a second wrote some 40 MB a second of that index,
-- with the write lock held in slices of up to 150 ms). A save finds the members of its
-- incidents by their time and key instead, which every incident's timeline gives, through
-- the unique indexes of schema 6 (`alerts_by_time`; for detections without a time, that
-- or `alerts_untimed`, as SQLite picks). A store migrated from an older schema never had the index (migration 6
-- no longer builds it).
DROP TABLE IF EXISTS alert_keys;
DROP TABLE IF EXISTS alert_keys_indexed;
