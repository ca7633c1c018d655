package db

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Two administrators demoting each other at the same moment: the writer's IMMEDIATE
// transactions serialise the check and the write, so one wins and the account keeps
// an administrator.
func TestRacingDemotionsKeepOneAdministrator(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	a, err := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateUser(ctx, "b@example.com", "password1", "Acme", RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	agent := RoleAgent
	for round := range 20 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []int64{a.UserID, b.UserID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.UpdateMember(ctx, a.AccountID, id, MemberChange{Role: &agent})
			}()
		}
		wg.Wait()
		refused := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, ErrLastAdministrator):
				refused++
			case err != nil:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		admins := 0
		ms, err := s.Members(ctx, a.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.IsAdministrator() {
				admins++
			}
		}
		if refused != 1 || admins != 1 {
			t.Fatalf("round %d: want one demotion refused and one administrator left, got %d refused, %d administrators", round, refused, admins)
		}
		admin := RoleAdministrator
		for _, m := range ms {
			if !m.IsAdministrator() {
				if _, err := s.UpdateMember(ctx, a.AccountID, m.UserID, MemberChange{Role: &admin}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// Inbox assignments are per account: changing or removing someone in one account
// leaves their inboxes of another account alone.
func TestInboxAssignmentsStayInTheirAccount(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	acme, _ := s.CreateUser(ctx, "admin@acme.test", "password1", "Acme", RoleAdministrator)
	globex, _ := s.CreateUser(ctx, "admin@globex.test", "password1", "Globex", RoleAdministrator)
	sam, _ := s.CreateUser(ctx, "sam@example.com", "password1", "Acme", RoleAgent)
	if _, err := s.CreateUser(ctx, "sam@example.com", "password1", "Globex", RoleAgent); err != nil {
		t.Fatal(err)
	}
	acmeInbox := createTestInbox(t, s, acme.AccountID, "+15550100001", "tok")
	globexInbox := createTestInbox(t, s, globex.AccountID, "+15550100002", "tok")
	if _, err := s.UpdateMember(ctx, acme.AccountID, sam.UserID, MemberChange{InboxIDs: &[]int64{acmeInbox.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateMember(ctx, globex.AccountID, sam.UserID, MemberChange{InboxIDs: &[]int64{globexInbox.ID}}); err != nil {
		t.Fatal(err)
	}
	none := []int64{}
	if _, err := s.UpdateMember(ctx, acme.AccountID, sam.UserID, MemberChange{InboxIDs: &none}); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Member(ctx, globex.AccountID, sam.UserID); len(m.InboxIDs) != 1 || m.InboxIDs[0] != globexInbox.ID {
		t.Fatalf("clearing sam's Acme inboxes must keep the Globex one, got %+v", m.InboxIDs)
	}
	if err := s.RemoveMember(ctx, globex.AccountID, sam.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByID(ctx, sam.UserID); err != nil {
		t.Fatalf("sam is still in Acme, so the login stays: %v", err)
	}
	if err := s.RemoveMember(ctx, acme.AccountID, sam.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByID(ctx, sam.UserID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed from the last account, the login goes: want ErrNotFound, got %v", err)
	}
	if _, err := s.UserByAPIToken(ctx, sam.APIAccessToken); !errors.Is(err, ErrNotFound) {
		t.Fatalf("and the API token with it: want ErrNotFound, got %v", err)
	}
	var rows int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM inbox_members WHERE user_id = ?`, sam.UserID).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("no inbox assignment may outlive the person: %d rows (%v)", rows, err)
	}
}
