package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Two engines, one store. The store's SQL is written once, in the SQL both engines
// share plus a few SQLite idioms, and run on PostgreSQL through a database/sql driver
// that wraps pgx (github.com/jackc/pgx/v5/stdlib) and translates each statement's text
// when it is prepared or run (pgSQL). What differs in the schema lives in the two sets
// of migrations (migrations/*.sql for SQLite, migrations/postgres/*.sql, same names);
// what differs in behaviour is asked of Store.engine where it matters: SQLite keeps its
// single-writer pool and its PRAGMAs, PostgreSQL uses one pool for both and locks rows
// or takes advisory locks where SQLite's one writer made a read-then-write safe.

// Engine names the database a Store runs on.
type Engine string

const (
	EngineSQLite   Engine = "sqlite"
	EnginePostgres Engine = "postgres"
)

// IsPostgresURL reports whether a database setting names a PostgreSQL server
// (postgres:// or postgresql://) rather than an SQLite file.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// RedactURL returns a PostgreSQL URL without its password, for messages and logs.
func RedactURL(s string) string {
	cfg, err := pgconn.ParseConfig(s)
	if err != nil || !IsPostgresURL(s) {
		// Unparsable: hide everything before the host (a password may hold an @).
		if i := strings.LastIndex(s, "@"); i >= 0 && IsPostgresURL(s) {
			return s[:strings.Index(s, "://")+3] + "…" + s[i:]
		}
		return s
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// openPostgres opens one pool on the server named by url, its statements translated
// by pgSQL. maxConns bounds the connections this process holds.
func openPostgres(url string, maxConns int) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: DATABASE_URL: %w", err)
	}
	pool := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	pool.SetMaxOpenConns(maxConns)
	pool.SetMaxIdleConns(maxConns)
	return pool, nil
}

type pgConnector struct{ inner driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("db: unexpected pgx connection type %T", conn)
	}
	return pgConn{sc}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.inner.Driver() }

// pgConn is a pgx connection whose statements are translated (pgSQL) and whose bool
// arguments are sent as 0 or 1: flags are INTEGER columns on both engines.
type pgConn struct{ *stdlib.Conn }

func (c pgConn) Prepare(query string) (driver.Stmt, error) { return c.Conn.Prepare(pgSQL(query)) }

func (c pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, pgSQL(query))
}

func (c pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, pgSQL(query), args)
}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, pgSQL(query), args)
}

// BeginTx begins a transaction that, unless read-only, first takes this database's
// (and schema's) write lock, held until it ends: PostgreSQL's transactions then run one
// at a time as SQLite's BEGIN IMMEDIATE makes them, so every check the store makes in
// a transaction before writing (the last administrator, a lease, an account's inboxes)
// still holds at commit, across all instances, without retry loops. Single-statement
// writes outside a transaction, and all reads, do not wait for it.
func (c pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil || opts.ReadOnly {
		return tx, err
	}
	if _, err := c.Conn.ExecContext(ctx, qWriteLock, nil); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("db: take the write lock: %w", err)
	}
	return tx, nil
}

// qWriteLock takes the write lock of the connection's database and schema (see BeginTx).
const qWriteLock = `SELECT pg_advisory_xact_lock(hashtext('inboxhealth:write:' || current_database() || '.' || current_schema()))`

func (c pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
		return nil
	}
	return c.Conn.CheckNamedValue(nv)
}

// The SQLite idioms the store's SQL may use, and what PostgreSQL is given instead.
// Each applies to SQL text only, never inside a string literal, a quoted name or a
// comment.
var (
	// A planner hint for SQLite; PostgreSQL's planner picks its index itself.
	reIndexedBy = regexp.MustCompile(`(?i)\s+INDEXED\s+BY\s+\w+`)
	// Case-insensitive order: the PostgreSQL indexes are on lower(column).
	reNoCase = regexp.MustCompile(`(?i)\b((?:\w+\.)?\w+)\s+COLLATE\s+NOCASE\b`)
	// SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE ignores case.
	reLike = regexp.MustCompile(`(?i)\bLIKE\b`)
	// json_each(?) over a JSON array of ids: json_ids (postgres/0001_init.sql) yields
	// them as bigint in a column named value, as json_each does.
	reJSONEach = regexp.MustCompile(`(?i)\bjson_each\(\?\)(\s+(?:AS\s+)?(\w+))?`)
	// INSERT OR IGNORE: ON CONFLICT DO NOTHING goes at the end of the statement.
	reInsertOrIgnore = regexp.MustCompile(`(?i)\bINSERT\s+OR\s+IGNORE\b`)
)

// pgSQL translates one statement for PostgreSQL: the idioms above, then placeholders
// (?NNN keeps its number as $NNN; each bare ? takes the next number).
func pgSQL(query string) string {
	ignore := false
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	forEachCode(query, func(code string, isCode bool) {
		if !isCode {
			b.WriteString(code)
			return
		}
		if reInsertOrIgnore.MatchString(code) {
			ignore = true
			code = reInsertOrIgnore.ReplaceAllString(code, "INSERT")
		}
		code = reIndexedBy.ReplaceAllString(code, "")
		code = reNoCase.ReplaceAllString(code, "lower($1)")
		code = reLike.ReplaceAllString(code, "ILIKE")
		code = reJSONEach.ReplaceAllStringFunc(code, func(m string) string {
			alias := reJSONEach.FindStringSubmatch(m)[2]
			if alias == "" {
				alias = "json_ids"
			}
			return "json_ids(?) AS " + alias + "(value)"
		})
		for i := 0; i < len(code); i++ {
			if code[i] != '?' {
				b.WriteByte(code[i])
				continue
			}
			j := i + 1
			for j < len(code) && code[j] >= '0' && code[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteString("$" + code[i+1:j])
				i = j - 1
				continue
			}
			n++
			b.WriteString("$" + strconv.Itoa(n))
		}
	})
	out := b.String()
	if ignore {
		out = strings.TrimRight(strings.TrimSpace(out), ";") + " ON CONFLICT DO NOTHING"
	}
	return out
}

// forEachCode splits SQL into SQL text (isCode) and the string literals, quoted names
// and comments between it, in order.
func forEachCode(q string, fn func(part string, isCode bool)) {
	start := 0
	flush := func(end int) {
		if end > start {
			fn(q[start:end], true)
		}
	}
	for i := 0; i < len(q); i++ {
		var end int
		switch {
		case q[i] == '\'' || q[i] == '"':
			quote := q[i]
			end = i + 1
			for end < len(q) {
				if q[end] == quote {
					if end+1 < len(q) && q[end+1] == quote { // doubled: an escaped quote
						end += 2
						continue
					}
					break
				}
				end++
			}
			end = min(end+1, len(q))
		case q[i] == '-' && i+1 < len(q) && q[i+1] == '-':
			end = strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q)
			} else {
				end += i
			}
		case q[i] == '/' && i+1 < len(q) && q[i+1] == '*':
			end = strings.Index(q[i+2:], "*/")
			if end < 0 {
				end = len(q)
			} else {
				end += i + 4
			}
		default:
			continue
		}
		flush(i)
		fn(q[i:end], false)
		start = end
		i = end - 1
	}
	flush(len(q))
}

// pgErrCode returns the SQLSTATE of a PostgreSQL error ("" for any other error).
func pgErrCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// advisoryKey is the PostgreSQL advisory-lock key for name in this database and
// schema: a hash, so stores of different databases (or test schemas) on one server
// never share a lock.
func (s *Store) advisoryKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("inboxhealth:" + s.lockSpace + ":" + name))
	return int64(h.Sum64())
}

// sqlLimit is a LIMIT for both engines: a negative limit means none to SQLite but is
// refused by PostgreSQL, so it becomes the largest number either takes.
func sqlLimit(limit int) int64 {
	if limit < 0 {
		return math.MaxInt64
	}
	return int64(limit)
}
