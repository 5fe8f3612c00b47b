-- tocsin store, schema version 3: the alert key scheme of the stored detections, in the
-- blob `alert-key-scheme` (tocsin_incident::KEY_SCHEME_BLOB). Stores written before it hold
-- detections keyed by scheme 1 (the source path as typed); a store without the blob holds
-- no detection yet, and the first hunt into it records the scheme it keys by.
INSERT INTO blobs (name, bytes)
SELECT 'alert-key-scheme', CAST('1' AS BLOB) WHERE EXISTS (SELECT 1 FROM alerts);
