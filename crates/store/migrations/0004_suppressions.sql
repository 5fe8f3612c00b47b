-- tocsin store, schema version 4: suppressions, the analyst's feedback that a benign
-- pattern (a rule, an entity, or a rule on an entity) must not open incidents again
-- (tocsin_incident::suppression). A removed suppression keeps its row, with who removed
-- it and when, and never comes back: rows are only inserted and marked removed.
CREATE TABLE IF NOT EXISTS suppressions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id TEXT,
    entity_kind TEXT,
    entity_value TEXT,
    reason TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    incident TEXT,
    removed_by TEXT,
    removed_at INTEGER,
    CHECK (rule_id IS NOT NULL OR entity_value IS NOT NULL),
    CHECK ((entity_kind IS NULL) = (entity_value IS NULL)),
    CHECK ((removed_by IS NULL) = (removed_at IS NULL))
);

CREATE TRIGGER IF NOT EXISTS suppressions_no_delete BEFORE DELETE ON suppressions
BEGIN
    SELECT RAISE(ABORT, 'suppressions are marked removed, never deleted');
END;

CREATE TRIGGER IF NOT EXISTS suppressions_stay_removed BEFORE UPDATE ON suppressions
WHEN OLD.removed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a removed suppression stays removed');
END;

CREATE TRIGGER IF NOT EXISTS suppressions_keep_their_scope BEFORE UPDATE OF
    rule_id, entity_kind, entity_value, reason, added_by, added_at, incident ON suppressions
BEGIN
    SELECT RAISE(ABORT, 'a suppression is removed and added again, never edited');
END;
