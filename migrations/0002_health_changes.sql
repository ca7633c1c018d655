-- Health change history as rows of its own: the Account Health tab lists the newest
-- changes with one index read instead of scanning every snapshot of the inbox, and
-- snapshots can be pruned without losing history.

-- One row per tracked field that changed between an inbox's successive successful
-- snapshots (see db.AddSnapshot).
CREATE TABLE health_changes (
    id         INTEGER PRIMARY KEY,
    inbox_id   INTEGER NOT NULL REFERENCES inboxes(id) ON DELETE CASCADE,
    changed_at INTEGER NOT NULL,
    -- status | quality_rating | name_status | limit_tier
    field      TEXT    NOT NULL,
    from_value TEXT    NOT NULL,
    to_value   TEXT    NOT NULL
);
-- Ascending on purpose: read backwards it yields changed_at DESC, id DESC (the rowid
-- closes every index), so the newest-first history needs no sort.
CREATE INDEX health_changes_inbox_time ON health_changes(inbox_id, changed_at);
-- Pruning deletes by age (db.PruneHealthChanges).
CREATE INDEX health_changes_time ON health_changes(changed_at);

-- Pruning deletes snapshots by age (db.PruneSnapshots).
CREATE INDEX health_snapshots_time ON health_snapshots(checked_at);

-- Backfill from the snapshots kept so far, the way the history was computed until now:
-- successive successful snapshots of an inbox (with phone data), oldest first; within
-- one snapshot, fields in the order status, quality, name status, limit tier, so ids
-- rise the way AddSnapshot inserts them.
INSERT INTO health_changes (inbox_id, changed_at, field, from_value, to_value)
WITH good AS (
    SELECT id, inbox_id, checked_at, status, quality_rating, name_status, limit_tier,
        LAG(status) OVER w AS prev_status,
        LAG(quality_rating) OVER w AS prev_quality_rating,
        LAG(name_status) OVER w AS prev_name_status,
        LAG(limit_tier) OVER w AS prev_limit_tier
    FROM health_snapshots
    WHERE ok = 1 AND phone IS NOT NULL
    WINDOW w AS (PARTITION BY inbox_id ORDER BY checked_at, id)
),
changes AS (
    SELECT inbox_id, checked_at, id, 1 AS ord, 'status' AS field, prev_status AS from_value, status AS to_value
        FROM good WHERE status <> prev_status
    UNION ALL
    SELECT inbox_id, checked_at, id, 2, 'quality_rating', prev_quality_rating, quality_rating
        FROM good WHERE quality_rating <> prev_quality_rating
    UNION ALL
    SELECT inbox_id, checked_at, id, 3, 'name_status', prev_name_status, name_status
        FROM good WHERE name_status <> prev_name_status
    UNION ALL
    SELECT inbox_id, checked_at, id, 4, 'limit_tier', prev_limit_tier, limit_tier
        FROM good WHERE limit_tier <> prev_limit_tier
)
SELECT inbox_id, checked_at, field, from_value, to_value FROM changes
ORDER BY checked_at, id, ord;
