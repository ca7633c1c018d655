-- The inbox list as the administrator's dashboard (issue 13): counts per overall status,
-- filter, search, sort by severity and pages, all answered from indexes so
-- page 1 and page 200 of 10,000 inboxes cost about the same.

-- Each inbox's overall status as its newest snapshot says (health_snapshots.overall_status,
-- whatsapp.DeriveOverallStatus), and its severity rank (whatsapp.StatusByCode). Kept by
-- db.AddSnapshots in the snapshot's own transaction; the severity of every row is also
-- brought in line with the code's ranking each time the store opens, so a change of the
-- ranking needs no migration.
ALTER TABLE inboxes ADD COLUMN health_status TEXT NOT NULL DEFAULT 'unknown';
-- The default is unknown's rank; db.CreateInbox sets it from the code all the same.
ALTER TABLE inboxes ADD COLUMN health_severity BIGINT NOT NULL DEFAULT 7;

UPDATE inboxes SET health_status = coalesce(nullif((SELECT hs.overall_status FROM health_snapshots hs
    WHERE hs.inbox_id = inboxes.id ORDER BY hs.checked_at DESC, hs.id DESC LIMIT 1), ''), 'unknown');

-- The list's two orders, each with the columns its filters and search read, so paging
-- walks one index (lower(name): the store orders by name COLLATE NOCASE, which the
-- driver gives PostgreSQL as lower(name)) (the page's snapshots are then read by inbox id).
-- An agent's inboxes come from inbox_members_user (0007).
CREATE INDEX inboxes_fleet_severity ON inboxes(account_id, health_severity, lower(name), id, health_status, phone_number);
CREATE INDEX inboxes_fleet_name ON inboxes(account_id, lower(name), id, health_status, phone_number);

-- The counts per overall status: one ordered walk of the account's entries, no sort.
CREATE INDEX inboxes_fleet_status ON inboxes(account_id, health_status);
