package main

import (
	"bytes"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupWhileServing copies the database of a running `web serve` with `web backup`
// and checks that the copy is a whole, consistent database holding the same users, that
// it is private (0600), and that a second backup never overwrites the first.
func TestBackupWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	bin := webBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	env := append(os.Environ(), "DATABASE_PATH="+path, "SECRET_KEY=backup-test-secret-key-of-32-bytes!!")
	add := exec.Command(bin, "user", "add", "--email", "owner@example.com", "--account", "Acme", "--role", "administrator")
	add.Env = env
	add.Stdin = strings.NewReader("a long enough password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("web user add: %v\n%s", err, out)
	}
	srv := crashStart(t, bin, env)
	_ = srv

	dest := filepath.Join(dir, "backup.db")
	backup := exec.Command(bin, "backup", "--to", dest)
	backup.Env = env
	var stdout, stderr bytes.Buffer
	backup.Stdout, backup.Stderr = &stdout, &stderr
	if err := backup.Run(); err != nil {
		t.Fatalf("web backup while serving: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "SECRET_KEY") {
		t.Errorf("the backup must remind that it needs the same SECRET_KEY; printed %q", stdout.String())
	}
	info, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("backup mode %o, want 0600 (it holds encrypted secrets)", perm)
	}
	conn, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var verdict string
	if err := conn.QueryRow("PRAGMA integrity_check").Scan(&verdict); err != nil || verdict != "ok" {
		t.Fatalf("backup integrity_check = %q, %v", verdict, err)
	}
	var email string
	if err := conn.QueryRow("SELECT email FROM users").Scan(&email); err != nil || email != "owner@example.com" {
		t.Fatalf("backup users: %q, %v", email, err)
	}

	again := exec.Command(bin, "backup", "--to", dest)
	again.Env = env
	msg, err := again.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "already exists") {
		t.Fatalf("a second backup onto the same file must refuse, got %v: %s", err, msg)
	}
	if info2, _ := os.Stat(dest); info2.Size() != info.Size() {
		t.Error("the refused backup changed the existing file")
	}
}

func TestBackupWithoutDatabaseSaysSo(t *testing.T) {
	bin := webBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "backup", "--to", filepath.Join(dir, "b.db"))
	cmd.Env = append(os.Environ(), "DATABASE_PATH="+filepath.Join(dir, "missing.db"))
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "no database at") {
		t.Fatalf("want a clear error for a missing database, got %v: %s", err, msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.db")); err == nil {
		t.Error("a failed backup left a file behind")
	}
}

func TestVersionNamesTheStampedRelease(t *testing.T) {
	oldV, oldC := version, commit
	t.Cleanup(func() { version, commit = oldV, oldC })
	version, commit = "v1.2.3", "0123456789abcdef0123"
	got := buildVersion()
	if !strings.HasPrefix(got, "web v1.2.3 (commit 0123456789ab,") {
		t.Fatalf("buildVersion() = %q", got)
	}
	version, commit = "", ""
	if got := buildVersion(); !strings.HasPrefix(got, "web ") || !strings.Contains(got, "go1.") {
		t.Fatalf("unstamped buildVersion() = %q", got)
	}
}
