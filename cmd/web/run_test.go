package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondDemoSaysThePortIsTakenAndKeepsTheFirst: `make run` while a demo runs
// names the taken address and ADDR, and leaves the running demo's database alone
// (the demo resets its database only after it holds its port).
func TestSecondDemoSaysThePortIsTakenAndKeepsTheFirst(t *testing.T) {
	bin := webBinary(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0") // the running demo's port
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "demo.db")
	running := []byte("the running demo's data")
	if err := os.WriteFile(dbPath, running, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ADDR="+taken.Addr().String(), "DATABASE_PATH="+dbPath, "SECRET_KEY=test-secret-key-at-least-32-bytes-long")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a second demo on a taken port must fail, it ran: %s", out)
	}
	if !strings.Contains(string(out), taken.Addr().String()) || !strings.Contains(string(out), "port is taken") || !strings.Contains(string(out), "ADDR") {
		t.Errorf("want the taken address and ADDR named, got %s", out)
	}
	if got, _ := os.ReadFile(dbPath); !bytes.Equal(got, running) {
		t.Error("the second demo wiped the running demo's database")
	}
}

// TestDemoListensOnLoopbackByDefault: without ADDR the demo binds 127.0.0.1 only.
func TestDemoListensOnLoopbackByDefault(t *testing.T) {
	t.Setenv("ADDR", "")
	t.Setenv("DATABASE_PATH", "")
	t.Setenv("FRONTEND_URL", "")
	applyDemoDefaults()
	cfg, err := configFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != demoAddr || !strings.HasPrefix(cfg.Addr, "127.0.0.1:") || cfg.FrontendURL != "http://"+demoAddr {
		t.Errorf("demo without ADDR: want %s (and its URL), got %q %q", demoAddr, cfg.Addr, cfg.FrontendURL)
	}
}
