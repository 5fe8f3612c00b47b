-- tocsin store, schema version 2: named blobs for other components' state (behavioural
-- baselines), and an audit trail the database itself keeps append-only.
CREATE TABLE blobs (
    name TEXT PRIMARY KEY NOT NULL,
    bytes BLOB NOT NULL
);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
