-- Change-only snapshots (issue 15): a health check whose answer is the same as the
-- inbox's newest snapshot no longer adds a row; it moves that row's checked_at to the
-- new look and counts it in check_count (db.AddSnapshots). A row now stands for a run
-- of identical looks, from first_checked_at to checked_at. Reads are unchanged: the
-- newest row's checked_at is still the last time Meta was asked, and the change history
-- (health_changes) never had a row inside such a run.
ALTER TABLE health_snapshots ADD COLUMN check_count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE health_snapshots ADD COLUMN first_checked_at BIGINT NOT NULL DEFAULT 0;
UPDATE health_snapshots SET first_checked_at = checked_at;

-- Fold the runs already stored: rows of one inbox, in history order (checked_at, id),
-- that say the same as the row before them (every column but the time, the id and the
-- source) join that row's run. Each run keeps its last row, which takes the run's first
-- time and its number of looks. Plain window functions, so the file reads the same on
-- PostgreSQL.
CREATE TEMPORARY TABLE snapshot_fold_starts AS
SELECT id, inbox_id, checked_at,
    CASE WHEN lag(id) OVER w IS NULL
        OR lag(ok) OVER w <> ok
        OR coalesce(lag(phone) OVER w, '') <> coalesce(phone, '')
        OR (lag(phone) OVER w IS NULL) <> (phone IS NULL)
        OR coalesce(lag(business_health) OVER w, '') <> coalesce(business_health, '')
        OR (lag(business_health) OVER w IS NULL) <> (business_health IS NULL)
        OR lag(error_kind) OVER w <> error_kind
        OR lag(error_code) OVER w <> error_code
        OR lag(error_subcode) OVER w <> error_subcode
        OR lag(error_message) OVER w <> error_message
        OR lag(overall_status) OVER w <> overall_status
        OR lag(registration_state) OVER w <> registration_state
    THEN 1 ELSE 0 END AS starts
FROM health_snapshots
WINDOW w AS (PARTITION BY inbox_id ORDER BY checked_at, id);

CREATE TEMPORARY TABLE snapshot_fold_runs AS
SELECT id, inbox_id, checked_at,
    sum(starts) OVER (PARTITION BY inbox_id ORDER BY checked_at, id ROWS UNBOUNDED PRECEDING) AS run
FROM snapshot_fold_starts;

CREATE TEMPORARY TABLE snapshot_fold AS
SELECT id, inbox_id, run,
    row_number() OVER (PARTITION BY inbox_id, run ORDER BY checked_at DESC, id DESC) AS from_last,
    min(checked_at) OVER (PARTITION BY inbox_id, run) AS run_first,
    count(*) OVER (PARTITION BY inbox_id, run) AS run_looks
FROM snapshot_fold_runs;

UPDATE health_snapshots SET
    first_checked_at = (SELECT f.run_first FROM snapshot_fold f WHERE f.id = health_snapshots.id),
    check_count = (SELECT f.run_looks FROM snapshot_fold f WHERE f.id = health_snapshots.id)
WHERE id IN (SELECT id FROM snapshot_fold WHERE from_last = 1 AND run_looks > 1);

DELETE FROM health_snapshots WHERE id IN (SELECT id FROM snapshot_fold WHERE from_last > 1);

DROP TABLE snapshot_fold;
DROP TABLE snapshot_fold_runs;
DROP TABLE snapshot_fold_starts;
