package db

import (
	"strings"
	"testing"
)

func TestPostgresTranslation(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, `SELECT a FROM t WHERE x = $1 AND y = $2`},
		{`UPDATE t SET a = ?1 WHERE id = ?3 AND (a <> ?1 OR b <> ?2)`, `UPDATE t SET a = $1 WHERE id = $3 AND (a <> $1 OR b <> $2)`},
		// Not in literals, quoted names or comments.
		{"SELECT '?', \"a?\" -- why?\nFROM t WHERE x = ? /* ? */", "SELECT '?', \"a?\" -- why?\nFROM t WHERE x = $1 /* ? */"},
		{`SELECT 'it''s ?' WHERE x = ?`, `SELECT 'it''s ?' WHERE x = $1`},
		{`SELECT id FROM inboxes INDEXED BY inboxes_fleet_name WHERE a = ? ORDER BY name COLLATE NOCASE, id`,
			`SELECT id FROM inboxes WHERE a = $1 ORDER BY lower(name), id`},
		{`WHERE name LIKE ? ESCAPE '\'`, `WHERE name ILIKE $1 ESCAPE '\'`},
		{`WHERE id IN (SELECT value FROM json_each(?))`, `WHERE id IN (SELECT value FROM json_ids($1) AS json_ids(value))`},
		{`SELECT s.id FROM json_each(?) j WHERE j.value = 1`, `SELECT s.id FROM json_ids($1) AS j(value) WHERE j.value = 1`},
		{`INSERT OR IGNORE INTO t (a) VALUES (?)`, `INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING`},
		{`SELECT 'COLLATE NOCASE LIKE'`, `SELECT 'COLLATE NOCASE LIKE'`},
	} {
		if got := pgSQL(c.in); got != c.want {
			t.Errorf("pgSQL(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestRedactURLHidesThePassword(t *testing.T) {
	got := RedactURL("postgres://app:s3cret-pw@db.internal:5433/inbox?sslmode=require")
	if got != "postgres://app@db.internal:5433/inbox" {
		t.Errorf("RedactURL: got %q", got)
	}
	if got := RedactURL("postgres://app:s3cr@t-pw@[bad"); got == "" || strings.Contains(got, "s3cr") {
		t.Errorf("RedactURL of a malformed URL: got %q", got)
	}
}
