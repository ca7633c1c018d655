package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const binaryTestSecret = "binary-test-secret-key-0123456789abcdef"

// openFDs counts the file descriptors a process holds.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors here: %v", err)
	}
	return len(entries)
}

func TestBinaryMaxConnectionsBoundsIdleSocketsAndHealthzStillAnswers(t *testing.T) {
	bin := webBinary(t)
	const limit = 16
	env := append(os.Environ(), "DATABASE_PATH="+filepath.Join(t.TempDir(), "app.db"), "SECRET_KEY="+binaryTestSecret,
		"MAX_CONNECTIONS="+strconv.Itoa(limit))
	s := crashStart(t, bin, env)
	before := openFDs(t, s.cmd.Process.Pid)

	// 200 sockets that connect and say nothing, as a flood would.
	addr := strings.TrimPrefix(s.URL, "http://")
	var idle []net.Conn
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	for range 200 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		idle = append(idle, c)
	}
	// /healthz queues behind all of them and still answers well before the 10 s the
	// server gives a silent socket (ReadHeaderTimeout): the cap makes room by closing
	// the connections idle the longest.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz under a flood of idle sockets: %v\n%s", err, s.log)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz under a flood of idle sockets: want 200, got %d", resp.StatusCode)
	}
	if after := openFDs(t, s.cmd.Process.Pid); after-before > limit+4 {
		t.Errorf("with MAX_CONNECTIONS=%d the server must hold at most about %d sockets, holds %d more descriptors than at start", limit, limit, after-before)
	}
}

// runServeBriefly runs `web serve` and expects it to refuse to start.
func runServeBriefly(t *testing.T, bin string, env []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(env, "ADDR=127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("web serve kept running; want it to refuse to start:\n%s", out)
	}
	return string(out), err
}

func TestBinaryRefusesAShortSecretKey(t *testing.T) {
	bin := webBinary(t)
	env := append(os.Environ(), "DATABASE_PATH="+filepath.Join(t.TempDir(), "app.db"), "SECRET_KEY=only-twenty-bytes-ok")
	out, err := runServeBriefly(t, bin, env)
	if err == nil || !strings.Contains(out, "at least 32") {
		t.Fatalf("a 20-byte SECRET_KEY: want a non-zero exit saying at least 32 bytes, got %v:\n%s", err, out)
	}
}

func TestBinaryDetectsASecretKeyThatDoesNotMatchTheDatabase(t *testing.T) {
	bin := webBinary(t)
	dbPath := filepath.Join(t.TempDir(), "app.db")
	base := append(os.Environ(), "DATABASE_PATH="+dbPath)
	create := exec.Command(bin, "migrate")
	create.Env = append(base, "SECRET_KEY="+binaryTestSecret)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("web migrate: %v\n%s", err, out)
	}
	out, err := runServeBriefly(t, bin, append(base, "SECRET_KEY=another-secret-key-0123456789abcdefgh"))
	if err == nil || !strings.Contains(out, "not the one") || !strings.Contains(out, "original key") {
		t.Fatalf("another SECRET_KEY: want a non-zero exit naming the mismatch, got %v:\n%s", err, out)
	}
	// The right key still starts.
	crashStart(t, bin, append(base, "SECRET_KEY="+binaryTestSecret)).stop(syscall.SIGTERM)
}
