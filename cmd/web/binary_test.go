package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
	buildOutput []byte
)

// webBinary builds the real binary once per test run, for tests that go through the
// command line or kill the process.
func webBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := filepathTempDir()
		if err != nil {
			buildErr = err
			return
		}
		builtBinary = filepath.Join(dir, "web")
		buildOutput, buildErr = exec.Command("go", "build", "-o", builtBinary, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build web: %v\n%s", buildErr, buildOutput)
	}
	return builtBinary
}

// cliUser is what `web user add` prints: the new administrator's account and API token.
type cliUser struct {
	AccountID      int64  `json:"account_id"`
	APIAccessToken string `json:"api_access_token"`
}

// cliAddAdministrator runs `web user add` for an administrator with env, as an
// operator does, and returns what it printed.
func cliAddAdministrator(t *testing.T, bin string, env []string, email, account, password string) cliUser {
	t.Helper()
	add := exec.Command(bin, "user", "add", "--email", email, "--account", account, "--role", "administrator", "--password", password)
	add.Env = env
	out, err := add.Output()
	if err != nil {
		t.Fatalf("web user add: %v", err)
	}
	var user cliUser
	if err := json.Unmarshal(out, &user); err != nil {
		t.Fatalf("web user add printed %q: %v", out, err)
	}
	return user
}
