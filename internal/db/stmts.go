package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// statements are the queries run on every page view, API call and sweep, prepared once
// at Open. SQLite otherwise parses and plans a query's text on every call, which was
// most of a request's time. A *sql.Stmt prepared on a pool is prepared again, once, on
// each connection that runs it; Close finalizes them.
type statements struct {
	// read pool
	userByToken, userByID, membership, memberships *sql.Stmt
	inboxByID, inboxByPhone, canSeeInbox           *sql.Stmt
	secrets, accountInboxIDs                       *sql.Stmt
	latestSnapshot, latestSnapshots, healthChanges *sql.Stmt
	attempts, graphCallsSince                      *sql.Stmt
	sessionByToken                                 *sql.Stmt
	// writer (used inside transactions through Tx.StmtContext)
	insertSnapshot, newestSnapshot, lastGoodSnapshot *sql.Stmt
	lastKnownSnapshot, insertChange, setHealthStatus *sql.Stmt

	all []*sql.Stmt
}

func (s *Store) prepare(ctx context.Context) error {
	var errs []error
	prep := func(pool *sql.DB, query string) *sql.Stmt {
		st, err := pool.PrepareContext(ctx, query)
		if err != nil {
			name, _, _ := strings.Cut(strings.TrimSpace(query), "\n")
			errs = append(errs, fmt.Errorf("db: prepare %q: %w", name, err))
			return nil
		}
		s.st.all = append(s.st.all, st)
		return st
	}
	r, w := s.read, s.write
	s.st.userByToken = prep(r, qUserByToken)
	s.st.userByID = prep(r, qUserByID)
	s.st.membership = prep(r, qMembership)
	s.st.memberships = prep(r, qMemberships)
	s.st.inboxByID = prep(r, qInboxByID)
	s.st.inboxByPhone = prep(r, qInboxByPhone)
	s.st.canSeeInbox = prep(r, qCanSeeInbox)
	s.st.secrets = prep(r, qSecrets)
	s.st.accountInboxIDs = prep(r, qAccountInboxIDs)
	s.st.latestSnapshot = prep(r, qLatestSnapshot)
	s.st.latestSnapshots = prep(r, qLatestSnapshots)
	s.st.healthChanges = prep(r, qHealthChanges)
	s.st.attempts = prep(r, qAttempts)
	s.st.graphCallsSince = prep(r, qGraphCallsSince)
	s.st.sessionByToken = prep(r, qSessionByToken)
	s.st.insertSnapshot = prep(w, qInsertSnapshot)
	s.st.newestSnapshot = prep(w, qNewestSnapshot)
	s.st.lastGoodSnapshot = prep(w, qLastGoodSnapshot)
	s.st.lastKnownSnapshot = prep(w, qLastKnownSnapshot)
	s.st.insertChange = prep(w, qInsertChange)
	s.st.setHealthStatus = prep(w, qSetHealthStatus)
	return errors.Join(errs...)
}

func (st *statements) close() error {
	var errs []error
	for _, s := range st.all {
		errs = append(errs, s.Close())
	}
	st.all = nil
	return errors.Join(errs...)
}
