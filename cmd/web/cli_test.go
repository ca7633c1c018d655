package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
