-- tocsin store, schema version 3: the number of stored detections the last grouping saw,
-- in the blob `grouped-alerts` (tocsin_pipeline::GROUPED_BLOB; decimal text), so that a
-- store can say how many detections wait to be grouped. In an older store the detections
-- a grouping state was saved after are all grouped; without a state (a hunt stopped before
-- grouping), only those in incidents count as grouped.
INSERT OR IGNORE INTO blobs (name, bytes)
SELECT 'grouped-alerts', CAST(CAST(
    CASE WHEN EXISTS (SELECT 1 FROM blobs WHERE name = 'grouping-state' AND length(bytes) > 0)
         THEN (SELECT count(*) FROM alerts)
         ELSE (SELECT count(*) FROM memberships)
    END AS TEXT) AS BLOB)
WHERE EXISTS (SELECT 1 FROM alerts);

-- And the alert key scheme of the stored detections, in the
-- blob `alert-key-scheme` (tocsin_incident::KEY_SCHEME_BLOB). Stores written before it hold
-- detections keyed by scheme 1 (the source path as typed); a store without the blob holds
-- no detection yet, and the first hunt into it records the scheme it keys by.
INSERT OR IGNORE INTO blobs (name, bytes)
SELECT 'alert-key-scheme', CAST('1' AS BLOB) WHERE EXISTS (SELECT 1 FROM alerts);
