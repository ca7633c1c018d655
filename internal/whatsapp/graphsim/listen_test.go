package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestListenAndServeLogsBaseURLAndNoTokens(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, "127.0.0.1:0", "demo", "secret", logger) }()

	var base string
	waitFor(t, func() bool {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["graph_api_url"] != nil {
				base = str(rec["graph_api_url"])
				return true
			}
		}
		return false
	}, "a log line with graph_api_url")
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/v24.0") {
		t.Fatalf("want base URL http://127.0.0.1:PORT/v24.0, got %q", base)
	}
	a := callURL(t, http.MethodGet, base+"/"+pendingID+"?fields=status", acmeToken, "")
	wantOK(t, a)
	callURL(t, http.MethodPost, base+"/"+pendingID+"/register", acmeToken, `{"messaging_product":"whatsapp","pin":"123456"}`)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("want a clean shutdown, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	out := logs.String()
	for _, secret := range []string{"sim-token", "123456", "246810", "424242"} {
		if strings.Contains(out, secret) {
			t.Errorf("want no token or PIN in the logs, found %q in:\n%s", secret, out)
		}
	}
}

func TestListenAndServeRejectsUnknownScenario(t *testing.T) {
	if err := ListenAndServe(context.Background(), "127.0.0.1:0", "nope", "", nil); err == nil {
		t.Error("want an error for an unknown scenario, got none")
	}
}

func TestStartTicksReviewsInBackgroundAndCloseStopsIt(t *testing.T) {
	sc, _ := LoadScenario("name_in_review")
	sc.Numbers[0].NameReviewDelay = "1ms"
	sim := New(Config{})
	if err := sim.Load(sc); err != nil {
		t.Fatal(err)
	}
	sim.Start(context.Background())
	waitFor(t, func() bool { return mustNumber(t, sim, inReviewID).NameStatus == "APPROVED" }, "the ticker to approve the name")
	closed := make(chan struct{})
	go func() { sim.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the ticker")
	}
}

func TestServeSetsTheAppCallbackOrFailsClearly(t *testing.T) {
	hook, _ := receiver(t, http.StatusOK)
	cases := []struct {
		name, token string
		wantErr     bool
	}{
		{"verified", testVerifyToken, false},
		{"challenge not answered", "wrong-token", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs syncBuffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- Serve(ctx, ServeOptions{Addr: "127.0.0.1:0", Scenario: "connected",
					AppCallbackURL: hook.URL, VerifyToken: c.token, Logger: logger})
			}()
			if c.wantErr {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "challenge") {
						t.Fatalf("want a clear verification error, got %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Serve did not fail")
				}
				return
			}
			waitFor(t, func() bool { return strings.Contains(logs.String(), "app callback verified") }, "the callback verified")
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("want a clean shutdown, got %v", err)
			}
			if strings.Contains(logs.String(), testVerifyToken+`"`) {
				t.Errorf("the verify token must not be logged:\n%s", logs.String())
			}
		})
	}
}
