package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// crashServer is one `web serve` process of the real binary.
type crashServer struct {
	cmd     *exec.Cmd
	URL     string
	log     *crashLog
	done    chan error
	stopped bool
}

// crashLog is the server's output, safe to read while the process writes it.
type crashLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *crashLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *crashLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// crashStart runs `web serve` with env on a free loopback port and waits for /healthz.
func crashStart(t *testing.T, bin string, env []string) *crashServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &crashServer{URL: "http://" + addr, log: &crashLog{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = append(env, "ADDR="+addr, "FRONTEND_URL="+s.URL)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.stop(syscall.SIGKILL) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("web serve exited before answering /healthz: %v\n%s", err, s.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("web serve: no 200 on /healthz within 30 s\n%s", s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits for the process to end (a second call is a no-op).
func (s *crashServer) stop(sig syscall.Signal) {
	if s.stopped {
		return
	}
	s.stopped = true
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

func crashRequest(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("api_access_token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, map[string]any{"_error": err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, out
}

// crashOffline opens the database while no server runs, with the server's SECRET_KEY.
func crashOffline(t *testing.T, path, secret string) *db.Store {
	t.Helper()
	cipher, err := db.NewCipher(secret)
	if err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(context.Background(), path, cipher)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestCrashKillDuringRegistrationKeepsPIN kills the real binary with SIGKILL while
// Meta holds a register call open (Meta has acted: it holds the PIN), restarts it on
// the same database, and checks that the PIN Meta got is the one stored, that no
// second PIN is ever made, that nothing else was lost, and that the attempt is shown
// as interrupted.
func TestCrashKillDuringRegistrationKeepsPIN(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary three times")
	}
	bin := webBinary(t)
	const (
		secret    = "crash-test-secret-key-at-least-32-bytes"
		appSecret = "crash-app-secret"
		waba      = "204000000000001"
		numberID  = "104000000000001"
		phone     = "+14155550199"
		token     = "crash-access-token-0123456789"
	)
	sim := graphsim.New(graphsim.Config{AppSecret: appSecret})
	t.Cleanup(sim.Close)
	if err := sim.AddBusiness(graphsim.Business{WABAID: waba, BusinessID: "304000000000001", Name: "Crash Co", AccessToken: token}); err != nil {
		t.Fatal(err)
	}
	// Verified, name approved, not registered yet: registration is due.
	if err := sim.AddNumber(graphsim.Number{PhoneNumber: phone, PhoneNumberID: numberID, WABAID: waba}); err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	env := append(os.Environ(), "DATABASE_PATH="+dbPath, "SECRET_KEY="+secret, "GRAPH_API_URL="+simSrv.URL+sim.Prefix(),
		"WHATSAPP_APP_SECRET="+appSecret, "HEALTH_REFRESH_INTERVAL=1h")

	user := cliAddAdministrator(t, bin, env, "owner@crash.test", "Crash Co", "crash password 1")

	// Meta acts on register calls at once but withholds its answer.
	release := sim.HoldRegister(numberID)
	defer release()

	srv := crashStart(t, bin, env)
	api := fmt.Sprintf("%s/api/v1/accounts/%d/inboxes", srv.URL, user.AccountID)
	status, created := crashRequest(t, http.MethodPost, api, user.APIAccessToken, map[string]string{
		"name": "Crash line", "phone_number": phone, "phone_number_id": numberID, "waba_id": waba,
		"business_id": "304000000000001", "access_token": token})
	if status != http.StatusCreated {
		t.Fatalf("create inbox: want 201, got %d %v", status, created)
	}
	inboxID := int64(created["id"].(float64))
	// The registration API (and the new inbox's setup) race for the one call Meta holds.
	go func() {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/%d/registration", api, inboxID), nil)
		req.Header.Set("api_access_token", user.APIAccessToken)
		if resp, err := (&http.Client{Timeout: time.Minute}).Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for sim.ReceivedPIN(numberID) == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no register call reached Meta within 30 s\n%s", srv.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	metaPIN := sim.ReceivedPIN(numberID)
	time.Sleep(200 * time.Millisecond) // room for a second call, which must not come
	srv.stop(syscall.SIGKILL)
	registerPath := "/" + numberID + "/register"
	if n := sim.CountRequests(http.MethodPost, registerPath); n != 1 {
		t.Fatalf("before the kill: want exactly 1 register call (setup and API share one), got %d", n)
	}

	// With the process dead, the database already holds what Meta holds.
	store := crashOffline(t, dbPath, secret)
	secrets, err := store.Secrets(context.Background(), inboxID)
	if err != nil {
		t.Fatal(err)
	}
	if secrets.PIN != metaPIN {
		t.Fatalf("after kill -9: want the stored PIN to equal the one Meta received, stored %q, Meta got %q", mask(secrets.PIN), mask(metaPIN))
	}
	attempts, err := store.Attempts(context.Background(), inboxID, 10)
	if err != nil || len(attempts) == 0 || !attempts[0].GraphCalled {
		t.Fatalf("after kill -9: want the attempt recorded as having called Meta before the call, got %+v (%v)", attempts, err)
	}
	snapshotsBefore := crashCount(t, dbPath, "health_snapshots")
	if snapshotsBefore == 0 {
		t.Fatal("after kill -9: want the health fetched before registering to be stored, found no snapshot")
	}
	store.Close()
	release()

	// Restart at once: nothing lost, and no second register call while the dead
	// process's lease could still be live.
	srv = crashStart(t, bin, env)
	api = fmt.Sprintf("%s/api/v1/accounts/%d/inboxes", srv.URL, user.AccountID)
	status, body := crashRequest(t, http.MethodGet, api, user.APIAccessToken, nil)
	if status != http.StatusOK || !strings.Contains(fmt.Sprint(body), numberID) {
		t.Fatalf("after restart: want the inbox listed, got %d %v\n%s", status, body, srv.log)
	}
	crashRequest(t, http.MethodPost, fmt.Sprintf("%s/%d/registration", api, inboxID), user.APIAccessToken, nil)
	srv.stop(syscall.SIGTERM)
	if n := sim.CountRequests(http.MethodPost, registerPath); n > 2 {
		t.Fatalf("after restart: want at most one more register call, got %d in all", n)
	}
	if got := sim.ReceivedPIN(numberID); got != metaPIN {
		t.Fatalf("after restart: a register call sent another PIN (%s), want only %s", mask(got), mask(metaPIN))
	}

	// The restart released the killed process's lease (its pid is gone) and showed its
	// attempt as interrupted, without waiting for the lease to expire.
	srv = crashStart(t, bin, env)
	api = fmt.Sprintf("%s/api/v1/accounts/%d/inboxes", srv.URL, user.AccountID)
	status, healthBody := crashRequest(t, http.MethodGet, fmt.Sprintf("%s/%d/health", api, inboxID), user.APIAccessToken, nil)
	if status != http.StatusOK {
		t.Fatalf("health after restart: want 200, got %d %v", status, healthBody)
	}
	// The Account Health tab's attempts table shows it, as an administrator sees it.
	cookie := faultsLogin(t, srv.URL, "owner@crash.test", "crash password 1")
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/accounts/%d/inboxes/%d/health", srv.URL, user.AccountID, inboxID), nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-testid="registration-attempt" data-outcome="interrupted"`) {
		t.Fatalf("Account Health tab after restart: want an attempt row with data-outcome=\"interrupted\", got %d\n%.3000s", resp.StatusCode, page)
	}
	srv.stop(syscall.SIGTERM)

	store = crashOffline(t, dbPath, secret)
	defer store.Close()
	attempts, err = store.Attempts(context.Background(), inboxID, 20)
	if err != nil {
		t.Fatal(err)
	}
	killed := attempts[len(attempts)-1] // the oldest: the one in flight at the kill
	if killed.Outcome != db.OutcomeInterrupted {
		t.Fatalf("after restart: want the killed attempt shown as %q, got %q (all: %+v)", db.OutcomeInterrupted, killed.Outcome, attempts)
	}
	for _, a := range attempts {
		if a.Outcome == db.OutcomeInFlight {
			t.Fatalf("after restart: want no attempt left in flight, got %+v", a)
		}
	}
	secrets, err = store.Secrets(context.Background(), inboxID)
	if err != nil || secrets.PIN != metaPIN {
		t.Fatalf("after restart: want the same PIN still stored, got %s (%v)", mask(secrets.PIN), err)
	}
	if n, ok := sim.Number(numberID); !ok || n.PIN != metaPIN {
		t.Fatalf("Meta's side: want the number's PIN to be the one first sent, got %s", mask(n.PIN))
	}
	if got := crashCount(t, dbPath, "health_snapshots"); got < snapshotsBefore {
		t.Fatalf("after restarts: want no snapshot lost, had %d, now %d", snapshotsBefore, got)
	}
	if got := crashCount(t, dbPath, "inboxes"); got != 1 {
		t.Fatalf("after restarts: want the 1 inbox, got %d", got)
	}
	if v, err := store.IntegrityCheck(context.Background()); err != nil || v != "ok" {
		t.Fatalf("after kill -9 and restarts: want integrity_check ok, got %q (%v)", v, err)
	}
}

// mask shows a PIN's length and last digit only, so a failing test log holds no PIN.
func mask(pin string) string {
	if pin == "" {
		return `""`
	}
	return fmt.Sprintf("%d digits ending %s", len(pin), pin[len(pin)-1:])
}

func crashCount(t *testing.T, path, table string) int {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func crashExec(t *testing.T, path, stmt string) {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// TestCrashKillDuringWebhookBurstLosesNoAcknowledgedEvent kills the real binary with
// SIGKILL in the middle of a burst of signed webhooks (group-committed: many requests
// share a transaction) and checks that every webhook that got a 200 is in the
// database: the answer comes only after the commit.
func TestCrashKillDuringWebhookBurstLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	bin := webBinary(t)
	const (
		secret    = "crash-test-secret-key-at-least-32-bytes"
		appSecret = "crash-app-secret"
		waba      = "204000000000002"
	)
	sim := graphsim.New(graphsim.Config{AppSecret: appSecret})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	dbPath := filepath.Join(t.TempDir(), "app.db")
	env := append(os.Environ(), "DATABASE_PATH="+dbPath, "SECRET_KEY="+secret, "GRAPH_API_URL="+simSrv.URL+sim.Prefix(),
		"WHATSAPP_APP_SECRET="+appSecret, "HEALTH_REFRESH_INTERVAL=1h")
	srv := crashStart(t, bin, env)

	// Each webhook names its own number, so its stored event can be found.
	number := func(i int) string { return fmt.Sprintf("1415%07d", i) }
	body := func(i int) []byte {
		return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"time":%d,"changes":[{"field":"phone_number_quality_update","value":{"display_phone_number":%q,"event":"ONBOARDING","current_limit":"TIER_1K","quality_rating":"GREEN"}}]}]}`,
			waba, 1700000000+i, number(i))
	}
	const senders, wantAcked = 32, 400
	var (
		mu     sync.Mutex
		acked  []int
		next   int
		killed = make(chan struct{})
		wg     sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	for range senders {
		wg.Go(func() {
			for {
				select {
				case <-killed:
					return
				default:
				}
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i > 20*wantAcked {
					return // bounded
				}
				b := body(i)
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/whatsapp", bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Hub-Signature-256", graphsim.Sign([]byte(appSecret), b))
				resp, err := client.Do(req)
				if err != nil {
					continue // the server is gone, or going
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, i)
					mu.Unlock()
				}
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= wantAcked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d webhooks acknowledged within 60 s\n%s", n, srv.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.stop(syscall.SIGKILL) // mid-burst: the senders are still sending
	close(killed)
	wg.Wait()

	conn, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT payload FROM webhook_events`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var payload string
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		var change struct {
			Value struct {
				DisplayPhoneNumber string `json:"display_phone_number"`
			} `json:"value"`
		}
		if err := json.Unmarshal([]byte(payload), &change); err != nil {
			t.Fatalf("stored payload %q: %v", payload, err)
		}
		stored[change.Value.DisplayPhoneNumber] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	lost := 0
	for _, i := range acked {
		if !stored[number(i)] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("kill -9 during a burst: %d of the %d webhooks answered 200 are not in the database", lost, len(acked))
	}
	t.Logf("kill -9 after %d acknowledged webhooks (%d sent): all stored, %d events in the database", len(acked), next, len(stored))

	// The database opens cleanly after the kill.
	store := crashOffline(t, dbPath, secret)
	defer store.Close()
	if v, err := store.IntegrityCheck(context.Background()); err != nil || v != "ok" {
		t.Fatalf("after kill -9: want integrity_check ok, got %q (%v)", v, err)
	}
}
