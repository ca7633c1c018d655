package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/pgtest"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// TestTwoInstancesShareOnePostgresDatabase runs two `web serve` processes of the real
// binary on one PostgreSQL database, as behind a load balancer, and checks what must
// hold across them: 50 banner clicks split across both make one register call;
// webhooks delivered to either are acted on once; one instance sweeps, and when it is
// killed the other takes the sweeps over within one interval.
func TestTwoInstancesShareOnePostgresDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary twice")
	}
	databaseURL := pgtest.URL(t)
	bin := webBinary(t)
	const (
		secret    = "instances-test-secret-key-32-bytes-long"
		appSecret = "instances-app-secret"
		waba      = "205000000000001"
		business  = "305000000000001"
		numberID  = "105000000000001"
		phone     = "+14155550177"
		token     = "instances-access-token-0123456789"
		interval  = 10 * time.Second // HEALTH_REFRESH_INTERVAL's least value
	)
	sim := graphsim.New(graphsim.Config{AppSecret: appSecret})
	t.Cleanup(sim.Close)
	if err := sim.AddBusiness(graphsim.Business{WABAID: waba, BusinessID: business, Name: "Twin Co", AccessToken: token}); err != nil {
		t.Fatal(err)
	}
	// Verified, name approved, not registered yet: registration is due.
	if err := sim.AddNumber(graphsim.Number{PhoneNumber: phone, PhoneNumberID: numberID, WABAID: waba}); err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	env := append(os.Environ(), "DATABASE_URL="+databaseURL, "SECRET_KEY="+secret, "GRAPH_API_URL="+simSrv.URL+sim.Prefix(),
		"WHATSAPP_APP_SECRET="+appSecret, "HEALTH_REFRESH_INTERVAL="+interval.String(), "DATABASE_PATH=/nonexistent/unused.db")

	user := cliAddAdministrator(t, bin, env, "owner@twin.test", "Twin Co", "twin password 1")

	// (Instances starting together migrate once: db.TestInstancesStartingTogetherMigrateOnce.)
	servers := []*crashServer{crashStart(t, bin, env), crashStart(t, bin, env)}
	a, b := servers[0], servers[1]

	// Adding the inbox on A registers it (its setup), and Meta holds that register call
	// open; meanwhile 50 "Complete registration" clicks arrive, half on each instance.
	registerPath := "/" + numberID + "/register"
	release := sim.HoldRegister(numberID)
	defer release()
	api := fmt.Sprintf("%s/api/v1/accounts/%d/inboxes", a.URL, user.AccountID)
	status, created := crashRequest(t, http.MethodPost, api, user.APIAccessToken, map[string]string{
		"name": "Twin line", "phone_number": phone, "phone_number_id": numberID, "waba_id": waba,
		"business_id": business, "access_token": token})
	if status != http.StatusCreated {
		t.Fatalf("create inbox: want 201, got %d %v", status, created)
	}
	inboxID := int64(created["id"].(float64))
	for deadline := time.Now().Add(30 * time.Second); sim.ReceivedPIN(numberID) == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the new inbox's setup sent no register call within 30 s\n%s", a.log)
		}
	}
	cookies := []string{faultsLogin(t, a.URL, "owner@twin.test", "twin password 1"), faultsLogin(t, b.URL, "owner@twin.test", "twin password 1")}
	const clicks = 50
	answers := make(chan int, clicks)
	for i := range clicks {
		srv, cookie := servers[i%2], cookies[i%2]
		go func() {
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/accounts/%d/inboxes/%d/registration", srv.URL, user.AccountID, inboxID), nil)
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("HX-Request", "true")
			resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
			if err != nil {
				answers <- 0
				return
			}
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
	}
	statuses := map[int]int{}
	for range clicks { // each is told a registration is in progress, without waiting for it
		select {
		case s := <-answers:
			statuses[s]++
		case <-time.After(45 * time.Second):
			t.Fatalf("banner clicks: only %v answered within 45 s\nA:\n%s\nB:\n%s", statuses, a.log, b.log)
		}
	}
	release()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, ok := sim.Number(numberID); ok && st.PlatformType == "CLOUD_API" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("at Meta: the number was not registered within 30 s of the release\n%s", a.log)
		}
	}
	if statuses[0] > 0 || statuses[http.StatusInternalServerError] > 0 {
		t.Fatalf("banner clicks: want every click answered without a server error, got %v", statuses)
	}
	if n := sim.CountRequests(http.MethodPost, registerPath); n != 1 {
		t.Fatalf("a setup and 50 banner clicks split across two instances: want exactly 1 register call, got %d (answers %v)", n, statuses)
	}

	// The same signed webhook, delivered five times to each instance at once (Meta
	// retries; a load balancer spreads the retries): stored ten times, acted on once.
	body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"time":%d,"changes":[{"field":"phone_number_quality_update","value":{"display_phone_number":%q,"event":"FLAGGED","current_limit":"TIER_1K"}}]}]}`,
		waba, time.Now().Unix(), strings.TrimPrefix(phone, "+"))
	var hooks sync.WaitGroup
	for i := range 10 {
		srv := servers[i%2]
		hooks.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/whatsapp", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Hub-Signature-256", graphsim.Sign([]byte(appSecret), body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("webhook: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("webhook: want 200, got %d", resp.StatusCode)
			}
		})
	}
	hooks.Wait()
	pg, err := sql.Open("pgx", databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var stored, first int
	if err := pg.QueryRow(`SELECT count(*), count(*) FILTER (WHERE duplicate = 0) FROM webhook_events
		WHERE field = 'phone_number_quality_update'`).Scan(&stored, &first); err != nil {
		t.Fatal(err)
	}
	if stored != 10 || first != 1 {
		t.Fatalf("one webhook delivered 10 times to two instances: want 10 stored and 1 acted on, got %d stored, %d not marked duplicate", stored, first)
	}

	// One instance leads the sweeps; killed, the other takes them over within one
	// interval.
	leads := regexp.MustCompile(`msg="health monitor: this instance leads the sweeps"`)
	swept := regexp.MustCompile(`msg="health sweep" `)
	var leader, follower *crashServer
	deadline := time.Now().Add(interval)
	for leader == nil {
		switch la, lb := leads.MatchString(a.log.String()), leads.MatchString(b.log.String()); {
		case la && lb:
			t.Fatalf("both instances lead the sweeps\nA:\n%s\nB:\n%s", a.log, b.log)
		case la:
			leader, follower = a, b
		case lb:
			leader, follower = b, a
		}
		if leader == nil && time.Now().After(deadline) {
			t.Fatalf("no instance leads the sweeps after %v\nA:\n%s\nB:\n%s", interval, a.log, b.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(swept.FindAllString(follower.log.String(), -1)); n != 0 {
		t.Fatalf("the follower swept %d times while the other instance led\n%s", n, follower.log)
	}
	sweepPath := "/" + waba + "/phone_numbers"
	before := sim.CountRequests(http.MethodGet, sweepPath)
	leader.stop(syscall.SIGKILL)
	killedAt := time.Now()
	for !swept.MatchString(follower.log.String()) {
		if time.Since(killedAt) > interval+2*time.Second {
			t.Fatalf("the follower did not sweep within one interval (%v) of the leader's death\n%s", interval, follower.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(killedAt)
	if !leads.MatchString(follower.log.String()) {
		t.Fatalf("the follower swept without saying it leads\n%s", follower.log)
	}
	if after := sim.CountRequests(http.MethodGet, sweepPath); after <= before {
		t.Errorf("the new leader's sweep: want a new %s call at Meta, got %d before and %d after", sweepPath, before, after)
	}
	t.Logf("the follower took the sweeps over %v after the leader was killed (interval %v)", took.Round(time.Millisecond), interval)
	follower.stop(syscall.SIGTERM)
}

// TestMigrateSQLiteToPostgres copies an SQLite deployment (its key in the data folder)
// into an empty PostgreSQL database with `web migrate --to`, then serves from the copy
// with DATABASE_URL and the key as SECRET_KEY: the same person logs in, the same inbox
// is listed under its id with its token still working, and `web backup` points to pg_dump.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	databaseURL := pgtest.URL(t)
	bin := webBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	sqliteEnv := append(os.Environ(), "DATABASE_PATH="+path)
	user := cliAddAdministrator(t, bin, sqliteEnv, "owner@move.test", "Move Co", "move password 1")
	key, err := os.ReadFile(filepath.Join(dir, db.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	store := crashOffline(t, path, strings.TrimSpace(string(key)))
	in, err := store.CreateInbox(context.Background(), db.NewInbox{AccountID: user.AccountID, Name: "Moved line", PhoneNumber: "+14155550166",
		PhoneNumberID: "106000000000001", WABAID: "206000000000001", AccessToken: "moved-access-token-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	store.Close()

	// The source sees no server: the copy is of a stopped deployment.
	migrate := exec.Command(bin, "migrate", "--to", databaseURL)
	migrate.Env = sqliteEnv
	var stdout, stderr bytes.Buffer
	migrate.Stdout, migrate.Stderr = &stdout, &stderr
	if err := migrate.Run(); err != nil {
		t.Fatalf("web migrate --to: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "copied") || !strings.Contains(stdout.String(), "SECRET_KEY") || strings.Contains(stdout.String(), string(key)) {
		t.Fatalf("web migrate --to: want a summary that names SECRET_KEY (never the key), got %q", stdout.String())
	}
	again := exec.Command(bin, "migrate", "--to", databaseURL)
	again.Env = sqliteEnv
	if out, err := again.CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
		t.Fatalf("a second copy into the same database: want it refused as not empty, got %v %q", err, out)
	}

	sim := graphsim.New(graphsim.Config{}) // Meta as far as the monitor's first sweep goes
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	pgEnv := append(os.Environ(), "DATABASE_URL="+databaseURL, "SECRET_KEY="+strings.TrimSpace(string(key)),
		"DATABASE_PATH="+filepath.Join(dir, "unused", "app.db"), "GRAPH_API_URL="+simSrv.URL+sim.Prefix(), "HEALTH_REFRESH_INTERVAL=1h")
	srv := crashStart(t, bin, pgEnv)
	status, body := crashRequest(t, http.MethodGet, fmt.Sprintf("%s/api/v1/accounts/%d/inboxes", srv.URL, user.AccountID), user.APIAccessToken, nil)
	listed := false
	if list, ok := body["payload"].([]any); ok && len(list) == 1 {
		row, _ := list[0].(map[string]any)
		listed = row["id"] == float64(in.ID) && row["phone_number"] == "+14155550166"
	}
	if status != http.StatusOK || !listed {
		t.Fatalf("the moved inbox under its id, with the moved API token: want 200 listing it, got %d %v", status, body)
	}
	faultsLogin(t, srv.URL, "owner@move.test", "move password 1")
	srv.stop(syscall.SIGTERM)

	pg := crashOffline(t, databaseURL, strings.TrimSpace(string(key)))
	defer pg.Close()
	if sec, err := pg.Secrets(context.Background(), in.ID); err != nil || sec.AccessToken != "moved-access-token-0123456789" {
		t.Fatalf("the moved token: want it readable with the same key, got %v", err)
	}

	backup := exec.Command(bin, "backup", "--to", filepath.Join(dir, "b.db"))
	backup.Env = pgEnv
	if out, err := backup.CombinedOutput(); err == nil || !strings.Contains(string(out), "pg_dump") {
		t.Fatalf("web backup on PostgreSQL: want it to point to pg_dump, got %v %q", err, out)
	}
}
