package main

import (
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
