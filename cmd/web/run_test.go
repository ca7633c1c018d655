package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// TestGraphsimAndServeEndToEnd: `web graphsim` and `web serve` as the README describes
// them: the simulator alone, the app pointed at it with GRAPH_API_URL, a user from
// `web user add`, and the add-inbox form accepting a simulated business account's
// token (checked with the simulator, as with Meta).
func TestGraphsimAndServeEndToEnd(t *testing.T) {
	bin := webBinary(t)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simAddr := free.Addr().String()
	free.Close()
	sim := exec.Command(bin, "graphsim", "-addr", simAddr, "-scenario", "demo")
	simLog := &crashLog{}
	sim.Stdout, sim.Stderr = simLog, simLog
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Process.Kill(); sim.Wait() })
	// It prints the GRAPH_API_URL to use once it listens (the port may accept a
	// connection a moment before the line is written).
	waitFor(t, 20*time.Second, "the simulator to listen and print the GRAPH_API_URL to use", func() bool {
		c, err := net.Dial("tcp", simAddr)
		if err == nil {
			c.Close()
		}
		return err == nil && strings.Contains(simLog.String(), "http://"+simAddr+"/v24.0")
	})

	dir := t.TempDir()
	env := append(os.Environ(), "DATABASE_PATH="+filepath.Join(dir, "app.db"), "SECRET_KEY="+binaryTestSecret,
		"GRAPH_API_URL=http://"+simAddr+"/v24.0")
	add := exec.Command(bin, "user", "add", "--email", "owner@sim.test", "--account", "Sim Co", "--role", "administrator", "--password", "sim-owner-pass-1")
	add.Env = env
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("web user add: %v\n%s", err, out)
	}
	s := crashStart(t, bin, env)

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	post := func(path string, form url.Values) (*http.Response, string) {
		t.Helper()
		page := get(t, client, s.URL+path)
		m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s: no CSRF field in %.300s", path, page)
		}
		form.Set("_csrf", m[1])
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	if resp, body := post("/login", url.Values{"email": {"owner@sim.test"}, "password": {"sim-owner-pass-1"}}); !strings.Contains(body, `data-testid="current-user"`) {
		t.Fatalf("log in: %d %.300s", resp.StatusCode, body)
	}
	// Acme Support's number and its business account's token, from the demo scenario.
	resp, body := post("/accounts/1/inboxes", url.Values{"name": {"Acme Support"}, "phone_number": {"+14155550142"},
		"phone_number_id": {"109876543210001"}, "waba_id": {"209876543210001"}, "business_id": {"309876543210001"},
		"access_token": {"EAAsim-demo-token-acme"}})
	if !strings.HasSuffix(resp.Request.URL.Path, "/health") || !strings.Contains(body, "Acme Support") {
		t.Fatalf("add inbox with the simulator's token: want the new inbox's health tab, got %s %d %.500s\n%s", resp.Request.URL, resp.StatusCode, body, s.log)
	}
	if !strings.Contains(body, `data-testid="health-badges"`) {
		t.Errorf("the new inbox's health must come from the simulator, got %.500s", body)
	}
}

func get(t *testing.T, client *http.Client, u string) string {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
