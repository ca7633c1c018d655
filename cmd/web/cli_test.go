package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// filepathTempDir is a folder that outlives single tests (the binary is shared).
func filepathTempDir() (string, error) { return os.MkdirTemp("", "inboxhealth-bin-") }

func TestCLIUserAddPrintsIDsAndToken(t *testing.T) {
	bin := webBinary(t)
	dir := t.TempDir()
	env := append(os.Environ(), "DATABASE_PATH="+filepath.Join(dir, "app.db"), "SECRET_KEY=")
	cmd := exec.Command(bin, "user", "add", "--email", "owner@example.com", "--account", "Acme", "--role", "administrator")
	cmd.Env = env
	cmd.Stdin = strings.NewReader("a long enough password\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("web user add: %v\n%s", err, stderr.String())
	}
	var out struct {
		UserID         int64  `json:"user_id"`
		AccountID      int64  `json:"account_id"`
		APIAccessToken string `json:"api_access_token"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("want JSON on stdout, got %q: %v", stdout.String(), err)
	}
	if out.UserID == 0 || out.AccountID == 0 || len(out.APIAccessToken) < 32 {
		t.Fatalf("want user_id, account_id and a token, got %+v", out)
	}
	if strings.Contains(stderr.String(), "a long enough password") {
		t.Fatal("the password must never be printed")
	}
	info, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("want a generated secret.key with mode 0600 beside the database, got %v %v", info, err)
	}

	bad := exec.Command(bin, "user", "add", "--email", "x@example.com", "--account", "Acme", "--role", "owner", "--password", "long enough pw")
	bad.Env = env
	msg, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "administrator or agent") {
		t.Fatalf("unknown role: want a non-zero exit naming the allowed roles, got %v: %s", err, msg)
	}
}

// runCLI runs the built binary with args and stdin against the data folder dir.
func runCLI(t *testing.T, dir, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(webBinary(t), args...)
	cmd.Env = append(os.Environ(), "DATABASE_PATH="+filepath.Join(dir, "app.db"), "SECRET_KEY=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// openCLIStore opens the database the CLI wrote, with the key it generated.
func openCLIStore(t *testing.T, dir string) *db.Store {
	t.Helper()
	store, _, err := openStore(context.Background(), config{DatabasePath: filepath.Join(dir, "app.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func TestCLIUserAddRefusesAnExistingEmailUnlessResetPassword(t *testing.T) {
	dir := t.TempDir()
	const first, second = "the first long password", "the second long password"
	out, errOut, err := runCLI(t, dir, first+"\n", "user", "add", "--email", "owner@example.com", "--account", "Acme", "--role", "administrator")
	if err != nil {
		t.Fatalf("web user add: %v\n%s", err, errOut)
	}
	var created db.NewUserResult
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}

	out, errOut, err = runCLI(t, dir, second+"\n", "user", "add", "--email", "Owner@example.com", "--account", "Other", "--role", "agent")
	if err == nil || !strings.Contains(errOut, "already a user") || !strings.Contains(errOut, "--reset-password") || out != "" {
		t.Fatalf("add an existing email: want a non-zero exit naming --reset-password and nothing on stdout, got %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	ctx := context.Background()
	store := openCLIStore(t, dir)
	if _, err := store.Authenticate(ctx, "owner@example.com", first); err != nil {
		t.Fatalf("the refused add must keep the password: %v", err)
	}
	if _, err := store.UserByAPIToken(ctx, created.APIAccessToken); err != nil {
		t.Fatalf("the refused add must keep the API token: %v", err)
	}
	if ms, _ := store.Memberships(ctx, created.UserID); len(ms) != 1 {
		t.Fatalf("the refused add must not join the other account, got %+v", ms)
	}
	store.Close()

	out, errOut, err = runCLI(t, dir, second+"\n", "user", "add", "--email", "owner@example.com", "--account", "Other", "--role", "agent", "--reset-password")
	if err != nil {
		t.Fatalf("add --reset-password: %v\n%s", err, errOut)
	}
	var reset db.NewUserResult
	if err := json.Unmarshal([]byte(out), &reset); err != nil || reset.UserID != created.UserID || reset.APIAccessToken == created.APIAccessToken {
		t.Fatalf("add --reset-password: want the same user with a new API token, got %q (%v)", out, err)
	}
	store = openCLIStore(t, dir)
	if _, err := store.Authenticate(ctx, "owner@example.com", second); err != nil {
		t.Fatalf("after --reset-password the new password must work: %v", err)
	}
	if _, err := store.Authenticate(ctx, "owner@example.com", first); err == nil {
		t.Fatal("after --reset-password the old password must not work")
	}
	if m, err := store.Membership(ctx, reset.UserID, reset.AccountID); err != nil || m.Role != db.RoleAgent {
		t.Fatalf("after --reset-password: want an agent of Other, got %+v %v", m, err)
	}
	store.Close()
	for _, secret := range []string{first, second} {
		if strings.Contains(out+errOut, secret) {
			t.Fatal("a password must never be printed")
		}
	}
}

func TestCLIUserPasswdSetsThePasswordFromStdin(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := runCLI(t, dir, "a long enough password\n", "user", "add", "--email", "owner@example.com", "--account", "Acme")
	if err != nil {
		t.Fatalf("web user add: %v\n%s", err, errOut)
	}
	var created db.NewUserResult
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	// A person an administrator added, who has only a one-time password so far.
	store := openCLIStore(t, dir)
	ctx := context.Background()
	if _, err := store.AddMember(ctx, created.AccountID, db.NewMember{Email: "sam@example.com", Role: db.RoleAgent}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	const chosen = "set by the operator 1"
	out, errOut, err = runCLI(t, dir, chosen+"\n", "user", "passwd", "--email", "SAM@example.com")
	if err != nil || !strings.Contains(out, "password set for sam@example.com") {
		t.Fatalf("web user passwd: want success, got %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	if strings.Contains(out+errOut, chosen) {
		t.Fatal("the password must never be printed")
	}
	store = openCLIStore(t, dir)
	u, err := store.Authenticate(ctx, "sam@example.com", chosen)
	if err != nil || u.HasOneTimePassword() {
		t.Fatalf("after passwd: want the new password to work as a chosen (not one-time) password, got %+v %v", u, err)
	}
	store.Close()

	for _, bad := range []struct{ stdin, email, want string }{
		{"short\n", "sam@example.com", "8 to 72 characters"},
		{"\n", "sam@example.com", "standard input"},
		{"another long password\n", "nobody@example.com", "no user"},
		{"another long password\n", "", "--email is required"},
	} {
		args := []string{"user", "passwd"}
		if bad.email != "" {
			args = append(args, "--email", bad.email)
		}
		_, errOut, err := runCLI(t, dir, bad.stdin, args...)
		if err == nil || !strings.Contains(errOut, bad.want) {
			t.Errorf("passwd %q for %q: want a non-zero exit saying %q, got %v: %s", bad.stdin, bad.email, bad.want, err, errOut)
		}
	}
	store = openCLIStore(t, dir)
	if _, err := store.Authenticate(ctx, "sam@example.com", chosen); err != nil {
		t.Fatalf("refused passwd calls must keep the password: %v", err)
	}
	if _, err := store.UserByAPIToken(ctx, created.APIAccessToken); err != nil {
		t.Fatalf("passwd must keep the API token: %v", err)
	}
}
