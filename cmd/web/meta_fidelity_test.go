package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// End-to-end tests of the "Meta fidelity" work: webhooks at the app-level callback,
// no override_callback_uri ever, name changes, the 133005 → new PIN flow,
// coexistence, duplicate deliveries, retired fields and the legacy per-number
// callback. Every action goes through a door a user or Meta uses: the JSON API with
// api_access_token, browser forms with CSRF, and webhooks the simulator posts itself.

// More demo inboxes (graphsim/scenarios/demo.json and its includes).
const (
	demoPINSetInbox      = "Harbor Pharmacy"
	demoCoexistenceInbox = "Corner Bakery (Business app)"
	demoNameChangeInbox  = "Northwind Outfitters (name change)"
	demoConnectedInbox   = "Padaria Central — Support"

	demoNameChangePIN  = "271828" // the PIN Meta holds for the name-change number
	demoMetaHarborPIN  = "246810" // the PIN Meta holds for Harbor Pharmacy
	demoNewName        = "Northwind Outfitters & Co"
	fidelityTimeout    = 20 * time.Second
	fidelityAdminEmail = "fidelity@demo.test"
)

// fidelityAPI is an API client with an administrator's token of the demo account. It
// keeps every answer body so tests can check what was never said.
type fidelityAPI struct {
	t         *testing.T
	base      string
	token     string
	accountID int64
	client    *http.Client
	bodies    []string
}

func newFidelityAPI(t *testing.T, app *testApp) *fidelityAPI {
	t.Helper()
	u, err := app.Store.CreateUser(context.Background(), fidelityAdminEmail, "fidelity password 1", demoAccountName, db.RoleAdministrator)
	if err != nil {
		t.Fatal(err)
	}
	return &fidelityAPI{t: t, base: app.URL, token: u.APIAccessToken, accountID: u.AccountID,
		client: &http.Client{Timeout: fidelityTimeout}}
}

// do sends a JSON request to /api/v1/accounts/:account_id + path and decodes the answer
// into out (when not nil).
func (a *fidelityAPI) do(method, path string, body, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("%s/api/v1/accounts/%d%s", a.base, a.accountID, path), rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("api_access_token", a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a.bodies = append(a.bodies, string(raw))
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: answer %d is not JSON: %v: %s", method, path, resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode
}

// fidelityRegistration is the part of the registration API's answer these tests read.
type fidelityRegistration struct {
	Outcome  string `json:"outcome"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	NeedsPIN bool   `json:"needs_pin"`
	Error    *struct {
		Type    string `json:"type"`
		Code    int64  `json:"code"`
		Subcode int64  `json:"subcode"`
	} `json:"error"`
	Health *struct {
		RegistrationState string `json:"registration_state"`
		PlatformType      string `json:"platform_type"`
	} `json:"health"`
}

func (a *fidelityAPI) register(in db.Inbox, body any) fidelityRegistration {
	a.t.Helper()
	var out fidelityRegistration
	if code := a.do(http.MethodPost, fmt.Sprintf("/inboxes/%d/registration", in.ID), body, &out); code != http.StatusOK {
		a.t.Fatalf("POST registration of %q: want 200, got %d: %s", in.Name, code, a.last())
	}
	return out
}

func (a *fidelityAPI) pin(in db.Inbox, body any) fidelityRegistration {
	a.t.Helper()
	var out fidelityRegistration
	if code := a.do(http.MethodPost, fmt.Sprintf("/inboxes/%d/pin", in.ID), body, &out); code != http.StatusOK {
		a.t.Fatalf("POST pin of %q: want 200, got %d: %s", in.Name, code, a.last())
	}
	return out
}

// fidelityHealth is the part of the health API these tests read.
type fidelityHealth struct {
	DisplayPhoneNumber *string `json:"display_phone_number"`
	VerifiedName       *string `json:"verified_name"`
	NewNameStatus      *string `json:"new_name_status"`
	PlatformType       *string `json:"platform_type"`
	Status             *string `json:"status"`
	QualityRating      *string `json:"quality_rating"`
	MessagingLimitTier *string `json:"messaging_limit_tier"`
	CheckedAt          *string `json:"checked_at"`
	Stale              bool    `json:"stale"`
	Error              *struct {
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
	} `json:"error"`
	Registration struct {
		State       string `json:"state"`
		LastAttempt *struct {
			Trigger string `json:"trigger"`
			Outcome string `json:"outcome"`
		} `json:"last_attempt"`
	} `json:"registration"`
}

func (a *fidelityAPI) health(in db.Inbox) fidelityHealth {
	a.t.Helper()
	var out fidelityHealth
	if code := a.do(http.MethodGet, fmt.Sprintf("/inboxes/%d/health", in.ID), nil, &out); code != http.StatusOK {
		a.t.Fatalf("GET health of %q: want 200, got %d: %s", in.Name, code, a.last())
	}
	return out
}

func (a *fidelityAPI) last() string {
	if len(a.bodies) == 0 {
		return ""
	}
	return a.bodies[len(a.bodies)-1]
}

func orNull(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// fidelityBrowser is a browser over plain HTTP: cookies kept, redirects not followed,
// forms posted with the page's CSRF token (no Sec-Fetch-Site shortcut).
type fidelityBrowser struct {
	t      *testing.T
	base   string
	client *http.Client
}

var fidelityCSRFField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func newFidelityBrowser(t *testing.T, app *testApp, email, password string) *fidelityBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &fidelityBrowser{t: t, base: app.URL, client: &http.Client{Jar: jar, Timeout: fidelityTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	code, _ := b.post("/login", "/login", url.Values{"email": {email}, "password": {password}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("log in as %s: want 303, got %d", email, code)
	}
	return b
}

func (b *fidelityBrowser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.client.Get(b.base + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// post submits a form the way the page at formPage does: with its CSRF token.
func (b *fidelityBrowser) post(formPage, path string, form url.Values, header map[string]string) (int, string) {
	b.t.Helper()
	code, page := b.get(formPage)
	m := fidelityCSRFField.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: want 200 with a CSRF field, got %d", formPage, code)
	}
	form.Set("_csrf", m[1])
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// waitFirstSweep waits until the monitor's sweep at start has finished: its last step
// reads the app's webhook subscriptions. Connecting the demo app reads them once too, in
// either order, so both reads must have happened. Later sweeps are an hour away.
func waitFirstSweep(t *testing.T, app *testApp) {
	t.Helper()
	path := "/" + graphsim.AppID + "/subscriptions"
	waitFor(t, fidelityTimeout, "the monitor's first sweep", func() bool { return app.Sim.CountRequests(http.MethodGet, path) >= 2 })
}

// waitDelivery waits for the first delivery at index from or later that matches.
func waitDelivery(t *testing.T, app *testApp, from int, match func(graphsim.Delivery) bool) (int, graphsim.Delivery) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fidelityTimeout)
	defer cancel()
	for n := from + 1; ; n++ {
		ds, err := app.Sim.WaitDeliveries(ctx, n)
		if err != nil {
			t.Fatalf("waiting for a webhook delivery: %v (have %d)", err, len(app.Sim.Deliveries()))
		}
		for i := n - 1; i < len(ds); i++ {
			if match(ds[i]) {
				return i, ds[i]
			}
		}
		n = len(ds)
	}
}

func nameUpdateFor(phone string) func(graphsim.Delivery) bool {
	return func(d graphsim.Delivery) bool {
		return d.Field == "phone_number_name_update" && bytes.Contains(d.Body, []byte(`"`+strings.TrimPrefix(phone, "+")+`"`))
	}
}

// fidelityWebhookAnswer is the app's answer to a webhook POST.
type fidelityWebhookAnswer struct {
	Received   int `json:"received"`
	Applied    int `json:"applied"`
	Duplicates int `json:"duplicates"`
}

// replayDelivery posts a recorded delivery again, byte for byte with its signature, as
// Meta's retries do, and returns the app's answer.
func replayDelivery(t *testing.T, d graphsim.Delivery) (int, fidelityWebhookAnswer) {
	t.Helper()
	return postSignedWebhook(t, d.URL, d.Body, d.Signature)
}

func postSignedWebhook(t *testing.T, target string, body []byte, signature string) (int, fidelityWebhookAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := (&http.Client{Timeout: fidelityTimeout}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out fidelityWebhookAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("webhook answer is not JSON: %v: %s", err, raw)
		}
	}
	return resp.StatusCode, out
}

func registerCallsOf(app *testApp, in db.Inbox) int {
	return app.Sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID+"/register")
}

func appCallbackURL(app *testApp) string { return app.URL + "/webhooks/whatsapp" }

// 1. Meta approves the stuck number's name and sends the webhook to the app's own
// callback, /webhooks/whatsapp; the app registers the number with exactly one call, and
// a second delivery of the same approval changes nothing.
func TestFidelityNameApprovalAtAppCallbackRegistersOnce(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoInReviewInbox)

	if h := api.health(in); h.Registration.State != "waiting_for_display_name" {
		t.Fatalf("before approval: want registration state waiting_for_display_name, got %q", h.Registration.State)
	}
	res := api.register(in, nil)
	if res.Outcome != "deferred" || registerCallsOf(app, in) != 0 {
		t.Fatalf("a click while the name is in review: want deferred without a register call, got %q and %d calls", res.Outcome, registerCallsOf(app, in))
	}

	before := len(app.Sim.Deliveries())
	if err := app.Sim.ApproveName(in.PhoneNumberID); err != nil {
		t.Fatal(err)
	}
	idx, d := waitDelivery(t, app, before, nameUpdateFor(in.PhoneNumber))
	if d.URL != appCallbackURL(app) {
		t.Errorf("Meta sends the name approval to the app's callback: want %s, got %s", appCallbackURL(app), d.URL)
	}
	if d.Status != http.StatusOK {
		t.Fatalf("the app must accept Meta's signed webhook: got %d %s", d.Status, d.Err)
	}
	app.App.Registrar.Wait()
	if n := registerCallsOf(app, in); n != 1 {
		t.Fatalf("after the APPROVED webhook: want exactly 1 register call, got %d", n)
	}
	if st, _ := app.Sim.Number(in.PhoneNumberID); st.PlatformType != "CLOUD_API" || st.Registrations != 1 {
		t.Errorf("Meta's side: want the number registered once on CLOUD_API, got %s after %d registrations", st.PlatformType, st.Registrations)
	}
	h := api.health(in)
	if h.Registration.State != "registered" || orNull(h.PlatformType) != "CLOUD_API" {
		t.Errorf("health API after approval: want registered on CLOUD_API, got %q / %s", h.Registration.State, orNull(h.PlatformType))
	}
	if a := h.Registration.LastAttempt; a == nil || a.Trigger != db.TriggerWebhook || a.Outcome != db.OutcomeRegistered {
		t.Errorf("health API: want the last attempt registered by the webhook, got %+v", a)
	}

	// Meta delivers the same approval again.
	if err := app.Sim.Redeliver(idx); err != nil {
		t.Fatalf("redelivery: the app must answer 200: %v", err)
	}
	code, ans := replayDelivery(t, d)
	if code != http.StatusOK || ans.Duplicates != 1 || ans.Applied != 0 {
		t.Errorf("a repeated approval: want 200 with duplicates 1 and applied 0, got %d %+v", code, ans)
	}
	app.App.Registrar.Wait()
	if n := registerCallsOf(app, in); n != 1 {
		t.Errorf("after the repeated approval: want still 1 register call, got %d", n)
	}
}

// fidelityClone is a copy of a demo number under a new id and phone number, in the same
// business account, for an inbox created through the API.
func fidelityClone(n graphsim.Number, i int) graphsim.Number {
	c := n
	c.PhoneNumberID = fmt.Sprintf("1198765432%05d", i)
	c.PhoneNumber = fmt.Sprintf("+4420795%05d", i)
	c.DisplayPhoneNumber = c.PhoneNumber
	c.InboxName = n.InboxName + " (API)"
	c.NameReviewDelay, c.NameReviewOutcome = "", "" // reviews end only when a test says so
	if n.HealthStatus != nil {
		hs := *n.HealthStatus
		hs.Entities = nil
		for _, e := range n.HealthStatus.Entities {
			if e.ID == n.PhoneNumberID {
				e.ID = c.PhoneNumberID
			}
			hs.Entities = append(hs.Entities, e)
		}
		c.HealthStatus = &hs
	}
	return c
}

// fidelityTwin adds a copy of a demo business under a new id, with a token long enough
// for the API's check (the demo's own tokens are shorter than any Meta token).
func fidelityTwin(t *testing.T, app *testApp, b graphsim.Business) graphsim.Business {
	t.Helper()
	twin := b
	twin.WABAID, twin.AccessToken = "21"+b.WABAID[2:], b.AccessToken+"-e2e-0123456789"
	if b.BusinessID != "" {
		twin.BusinessID = "31" + b.BusinessID[2:]
	}
	twin.Name = b.Name + " (twin)"
	if err := app.Sim.AddBusiness(twin); err != nil {
		t.Fatal(err)
	}
	return twin
}

// fidelityCreateInbox creates an inbox through the API for a simulator number and
// waits for its setup to finish.
func fidelityCreateInbox(t *testing.T, app *testApp, api *fidelityAPI, n graphsim.Number, token string) db.Inbox {
	t.Helper()
	var created struct {
		ID int64 `json:"id"`
	}
	code := api.do(http.MethodPost, "/inboxes", map[string]string{"name": n.InboxName, "phone_number": n.PhoneNumber,
		"phone_number_id": n.PhoneNumberID, "waba_id": n.WABAID, "access_token": token}, &created)
	if code != http.StatusCreated || created.ID == 0 {
		t.Fatalf("create inbox %q: want 201 with an id, got %d: %s", n.InboxName, code, api.last())
	}
	if strings.Contains(api.last(), token) {
		t.Errorf("create inbox %q: the answer must never carry the access token", n.InboxName)
	}
	app.App.Registrar.Wait()
	in, err := app.Store.InboxByID(context.Background(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// fidelityDemoNumber is the demo scenario's entry for a phone-number id.
func fidelityDemoNumber(t *testing.T, id string) (graphsim.Number, int, graphsim.Business) {
	t.Helper()
	sc, err := graphsim.LoadScenario(demoScenario)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range sc.Numbers {
		if n.PhoneNumberID != id {
			continue
		}
		for _, b := range sc.Businesses {
			if b.WABAID == n.WABAID {
				return n, i, b
			}
		}
	}
	t.Fatalf("no demo number %s", id)
	return graphsim.Number{}, 0, graphsim.Business{}
}

// 2. The app never asks Meta for an override_callback_uri: not when inboxes are
// created through the API (setup), not when people press Complete registration (API
// and banner), not in sweeps, not when a new PIN is set.
func TestFidelityNoRequestCarriesOverrideCallbackURI(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	sc, err := graphsim.LoadScenario(demoScenario)
	if err != nil {
		t.Fatal(err)
	}
	// Each demo business gets a twin with a token long enough for the API's check (the
	// demo's own tokens are shorter than any Meta token), holding the copies.
	twins := map[string]graphsim.Business{}
	for _, b := range sc.Businesses {
		twins[b.WABAID] = fidelityTwin(t, app, b)
	}
	tokens := map[string]string{}
	for _, b := range twins {
		tokens[b.WABAID] = b.AccessToken
	}

	// An inbox through the API for a copy of every demo number: each runs setup. A
	// number whose token Meta no longer accepts is refused before anything is stored.
	for i, n := range sc.Numbers {
		c := fidelityClone(n, i)
		c.WABAID = twins[n.WABAID].WABAID
		if err := app.Sim.AddNumber(c); err != nil {
			t.Fatalf("add %s to the simulator: %v", c.InboxName, err)
		}
		if twins[n.WABAID].TokenExpired {
			code := api.do(http.MethodPost, "/inboxes", map[string]string{"name": c.InboxName, "phone_number": c.PhoneNumber,
				"phone_number_id": c.PhoneNumberID, "waba_id": c.WABAID, "access_token": tokens[c.WABAID]}, nil)
			if code != http.StatusUnprocessableEntity {
				t.Errorf("create inbox %q with an expired token: want 422 (checked with Meta first), got %d: %s", c.InboxName, code, api.last())
			}
			continue
		}
		fidelityCreateInbox(t, app, api, c, tokens[c.WABAID])
	}

	// Every inbox, seeded or created: a person presses Complete registration (API,
	// confirmed so numbers in review are tried too), and Harbor Pharmacy gets a new PIN.
	inboxes, err := app.Store.AllInboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inboxes {
		api.register(in, map[string]bool{"confirm": true})
	}
	api.pin(demoInbox(t, app, demoPINSetInbox), map[string]any{"pin": "864201", "set_at_meta": true})
	// The banner, as a browser posts it.
	browser := newFidelityBrowser(t, app, demoAdminEmail, demoAdminPassword)
	acme := demoInbox(t, app, demoPendingInbox)
	if code, _ := browser.post(views.InboxHealthURL(acme.AccountID, acme.ID), views.InboxURL(acme.AccountID, acme.ID)+"/registration",
		url.Values{"from": {views.BannerOnHealth}}, nil); code != http.StatusSeeOther {
		t.Fatalf("banner post: want 303, got %d", code)
	}
	if _, err := app.App.Monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	app.App.Registrar.Wait()

	subscribes := map[string]int{}
	for _, r := range app.Sim.Requests() {
		if r.OverrideCallbackURI != "" {
			t.Errorf("%s %s asked Meta for override_callback_uri %q: the app must never set one", r.Method, r.Path, r.OverrideCallbackURI)
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/subscribed_apps") {
			subscribes[r.ObjectID]++
		}
	}
	businesses := slices.Clone(sc.Businesses)
	for _, b := range twins {
		businesses = append(businesses, b)
	}
	for _, b := range businesses {
		if b.TokenExpired || b.Locked {
			continue
		}
		if subscribes[b.WABAID] == 0 {
			t.Errorf("business %s (%s): want the app subscribed (POST subscribed_apps) at least once, got none", b.WABAID, b.Name)
		}
		if st, _ := app.Sim.Business(b.WABAID); st.Subscription == nil || st.Subscription.OverrideCallbackURI != "" {
			t.Errorf("business %s (%s): want a subscription without override, got %+v", b.WABAID, b.Name, st.Subscription)
		}
	}
	for _, st := range app.Sim.Numbers() {
		if st.OverrideCallbackURI != "" {
			t.Errorf("number %s has an override %q", st.PhoneNumberID, st.OverrideCallbackURI)
		}
	}
}

// 3. A registered number's name change approved by Meta: with the PIN entered ahead, the
// approval webhook makes exactly one register call, Meta then reports the new name, a
// second delivery makes no call, and the health API shows the new name.
func TestFidelityApprovedNameChangeRegistersOnce(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoNameChangeInbox)

	h := api.health(in)
	if h.Registration.State != "registered" || orNull(h.NewNameStatus) != "PENDING_REVIEW" || orNull(h.VerifiedName) != "Northwind Outfitters" {
		t.Fatalf("before approval: want registered, old name, change in review; got %q %s %s", h.Registration.State, orNull(h.VerifiedName), orNull(h.NewNameStatus))
	}
	// The administrator enters the PIN Meta holds, ahead of the approval.
	if res := api.pin(in, map[string]string{"pin": demoNameChangePIN}); res.Outcome != "skipped" {
		t.Errorf("entering the PIN of a registered number: want skipped (nothing to do yet), got %q: %s", res.Outcome, res.Reason)
	}
	if n := registerCallsOf(app, in); n != 0 {
		t.Fatalf("before approval: want no register call, got %d", n)
	}

	before := len(app.Sim.Deliveries())
	if err := app.Sim.ApproveName(in.PhoneNumberID); err != nil {
		t.Fatal(err)
	}
	idx, d := waitDelivery(t, app, before, nameUpdateFor(in.PhoneNumber))
	if d.URL != appCallbackURL(app) || d.Status != http.StatusOK {
		t.Fatalf("the approval must reach %s and be accepted: got %s %d %s", appCallbackURL(app), d.URL, d.Status, d.Err)
	}
	app.App.Registrar.Wait()
	if n := registerCallsOf(app, in); n != 1 {
		t.Fatalf("after the approved name change: want exactly 1 register call, got %d", n)
	}
	st, _ := app.Sim.Number(in.PhoneNumberID)
	if st.VerifiedName != demoNewName || st.NameChangeAwaitingRegister {
		t.Errorf("Meta's side: want verified name %q in effect, got %q (awaiting register: %v)", demoNewName, st.VerifiedName, st.NameChangeAwaitingRegister)
	}

	if err := app.Sim.Redeliver(idx); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if code, ans := replayDelivery(t, d); code != http.StatusOK || ans.Duplicates != 1 {
		t.Errorf("a repeated approval: want 200 with duplicates 1, got %d %+v", code, ans)
	}
	if _, err := app.App.Monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	app.App.Registrar.Wait()
	if n := registerCallsOf(app, in); n != 1 {
		t.Errorf("after a repeated approval and a sweep: want still 1 register call, got %d", n)
	}
	h = api.health(in)
	if orNull(h.VerifiedName) != demoNewName || h.Registration.State != "registered" {
		t.Errorf("health API: want verified name %q and registered, got %s and %q", demoNewName, orNull(h.VerifiedName), h.Registration.State)
	}
	if a := h.Registration.LastAttempt; a == nil || a.Trigger != db.TriggerNameChange || a.Outcome != db.OutcomeRegistered {
		t.Errorf("health API: want the last attempt a registered name-change call, got %+v", a)
	}
	if strings.Contains(strings.Join(api.bodies, "\n"), demoNameChangePIN) {
		t.Error("an API answer carried the PIN")
	}
}

// 3b. The same approval when the app does not know the PIN: no register call (one made
// up would mismatch), the administrator is asked for it, and entering it makes the one
// call; a second delivery makes none.
func TestFidelityApprovedNameChangeWaitsForPIN(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoNameChangeInbox)
	// The demo seeds this number as registered by the app earlier, PIN known; here the
	// number was registered elsewhere, so the app knows no PIN.
	if err := app.Store.SetPIN(context.Background(), in.ID, "", db.PINStateNone); err != nil {
		t.Fatal(err)
	}
	api.health(in)

	before := len(app.Sim.Deliveries())
	if err := app.Sim.ApproveName(in.PhoneNumberID); err != nil {
		t.Fatal(err)
	}
	idx, d := waitDelivery(t, app, before, nameUpdateFor(in.PhoneNumber))
	if d.Status != http.StatusOK {
		t.Fatalf("the approval must be accepted: got %d %s", d.Status, d.Err)
	}
	app.App.Registrar.Wait()
	if n := registerCallsOf(app, in); n != 0 {
		t.Fatalf("without the PIN: want no register call, got %d", n)
	}
	if h := api.health(in); h.Registration.State != "name_change_needs_register" {
		t.Errorf("health API: want registration state name_change_needs_register, got %q", h.Registration.State)
	}
	if res := api.register(in, nil); !res.NeedsPIN || registerCallsOf(app, in) != 0 {
		t.Errorf("Complete registration without the PIN: want needs_pin and no call, got %+v and %d calls", res, registerCallsOf(app, in))
	}

	res := api.pin(in, map[string]string{"pin": demoNameChangePIN})
	if res.Outcome != "registered" {
		t.Fatalf("entering the PIN: want registered, got %q: %s", res.Outcome, res.Reason)
	}
	if n := registerCallsOf(app, in); n != 1 {
		t.Fatalf("after entering the PIN: want exactly 1 register call, got %d", n)
	}
	if err := app.Sim.Redeliver(idx); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	app.App.Registrar.Wait()
	if n := registerCallsOf(app, in); n != 1 {
		t.Errorf("after a repeated approval: want still 1 register call, got %d", n)
	}
	if h := api.health(in); orNull(h.VerifiedName) != demoNewName {
		t.Errorf("health API: want verified name %q, got %s", demoNewName, orNull(h.VerifiedName))
	}
}

// 4. Meta holds a PIN the app does not know: registration answers 133005 with
// needs_pin; setting a new PIN at Meta through the API registers the number; Meta holds
// the new PIN; no API answer ever carries a PIN.
func TestFidelityPINMismatchThenNewPINRegisters(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoPINSetInbox)

	res := api.register(in, nil)
	if res.Outcome != "failed" || !res.NeedsPIN || res.Error == nil || res.Error.Code != 133005 {
		t.Fatalf("register with a PIN Meta does not hold: want failed, needs_pin, code 133005; got %+v (error %+v)", res, res.Error)
	}
	generated := registrationPINOf(t, app, in)
	if st, _ := app.Sim.Number(in.PhoneNumberID); st.PIN != demoMetaHarborPIN {
		t.Fatalf("a mismatch must not change Meta's PIN, got %q", st.PIN)
	}

	const newPIN = "507319"
	res = api.pin(in, map[string]any{"pin": newPIN, "set_at_meta": true})
	if res.Outcome != "registered" || res.State != "registered" {
		t.Fatalf("set a new PIN: want registered, got %q %q: %s", res.Outcome, res.State, res.Reason)
	}
	st, _ := app.Sim.Number(in.PhoneNumberID)
	if st.PIN != newPIN || st.PlatformType != "CLOUD_API" {
		t.Errorf("Meta's side: want the new PIN held and the number on CLOUD_API, got PIN changed=%v platform %s", st.PIN == newPIN, st.PlatformType)
	}
	if n := registerCallsOf(app, in); n != 2 {
		t.Errorf("want 2 register calls (the mismatch, then the new PIN), got %d", n)
	}
	if n := app.Sim.CountRequests(http.MethodPost, "/"+in.PhoneNumberID); n != 1 {
		t.Errorf("want exactly one PIN change at Meta, got %d", n)
	}
	if h := api.health(in); h.Registration.State != "registered" {
		t.Errorf("health API: want registered, got %q", h.Registration.State)
	}
	all := strings.Join(api.bodies, "\n")
	for what, pin := range map[string]string{"the new PIN": newPIN, "the PIN the app made up": generated, "Meta's old PIN": demoMetaHarborPIN} {
		if pin != "" && strings.Contains(all, pin) {
			t.Errorf("an API answer carried %s", what)
		}
	}
}

func registrationPINOf(t *testing.T, app *testApp, in db.Inbox) string {
	t.Helper()
	s, err := app.Store.Secrets(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s.PIN
}

// 5. A coexistence number (also on the WhatsApp Business app) is never registered:
// not by setup, clicks in the API or the banner, or sweeps.
func TestFidelityCoexistenceNeverRegisters(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoCoexistenceInbox)

	// The same kind of number added through the API runs setup.
	n, i, b := fidelityDemoNumber(t, in.PhoneNumberID)
	clone := fidelityClone(n, i)
	if err := app.Sim.AddNumber(clone); err != nil {
		t.Fatal(err)
	}
	apiInbox := fidelityCreateInbox(t, app, api, clone, b.AccessToken)

	browser := newFidelityBrowser(t, app, demoAdminEmail, demoAdminPassword)
	for _, target := range []db.Inbox{in, apiInbox} {
		for _, body := range []any{nil, map[string]bool{"confirm": true}} {
			res := api.register(target, body)
			if res.Outcome != "skipped" || res.State != "coexistence" {
				t.Errorf("%s: API registration: want skipped with state coexistence, got %q %q", target.Name, res.Outcome, res.State)
			}
		}
		page := views.InboxHealthURL(target.AccountID, target.ID)
		if code, _ := browser.post(page, views.InboxURL(target.AccountID, target.ID)+"/registration",
			url.Values{"from": {views.BannerOnHealth}, "confirm": {"1"}}, map[string]string{"HX-Request": "true"}); code != http.StatusOK {
			t.Errorf("%s: banner post: want 200, got %d", target.Name, code)
		}
	}
	if _, err := app.App.Monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	app.App.Registrar.Wait()
	for _, target := range []db.Inbox{in, apiInbox} {
		if h := api.health(target); h.Registration.State != "coexistence" {
			t.Errorf("%s: health API registration.state: want coexistence, got %q", target.Name, h.Registration.State)
		}
		if n := registerCallsOf(app, target); n != 0 {
			t.Errorf("%s: want no register call ever, got %d", target.Name, n)
		}
		if st, _ := app.Sim.Number(target.PhoneNumberID); st.RegisterCalls != 0 || !st.IsOnBizApp {
			t.Errorf("%s: Meta's side: want no register call and still on the Business app, got %d calls, on app %v", target.Name, st.RegisterCalls, st.IsOnBizApp)
		}
	}
}

// 6. A webhook Meta delivers twice acts once: a quality update changes health once,
// the repeat is answered 200 with duplicates 1, and no register call follows.
func TestFidelityDuplicateQualityWebhookActsOnce(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoConnectedInbox)
	if h := api.health(in); orNull(h.Status) != "CONNECTED" {
		t.Fatalf("before: want CONNECTED, got %s", orNull(h.Status))
	}
	calls := registerCallsOf(app, in)

	before := len(app.Sim.Deliveries())
	if err := app.Sim.QualityEvent(in.PhoneNumberID, "FLAGGED", "TIER_250"); err != nil {
		t.Fatalf("quality webhook: %v", err)
	}
	idx, d := waitDelivery(t, app, before, func(d graphsim.Delivery) bool { return d.Field == "phone_number_quality_update" })
	if d.URL != appCallbackURL(app) || d.Status != http.StatusOK {
		t.Fatalf("the quality update must reach %s and be accepted: got %s %d %s", appCallbackURL(app), d.URL, d.Status, d.Err)
	}
	h := api.health(in)
	if orNull(h.Status) != "FLAGGED" || orNull(h.MessagingLimitTier) != "TIER_250" {
		t.Fatalf("after the webhook: want FLAGGED with TIER_250, got %s %s", orNull(h.Status), orNull(h.MessagingLimitTier))
	}
	changes := healthChangeCount(t, app, in)

	if err := app.Sim.Redeliver(idx); err != nil {
		t.Fatalf("redelivery: the app must answer 200: %v", err)
	}
	code, ans := replayDelivery(t, d)
	if code != http.StatusOK || ans.Received != 1 || ans.Duplicates != 1 || ans.Applied != 0 {
		t.Errorf("a repeated quality update: want 200 with received 1, duplicates 1, applied 0; got %d %+v", code, ans)
	}
	again := api.health(in)
	if orNull(again.CheckedAt) != orNull(h.CheckedAt) {
		t.Errorf("a repeated webhook must not record health again: checked_at %s became %s", orNull(h.CheckedAt), orNull(again.CheckedAt))
	}
	if n := healthChangeCount(t, app, in); n != changes {
		t.Errorf("a repeated webhook must not add health changes: %d became %d", changes, n)
	}
	app.App.Registrar.Wait()
	if n := registerCallsOf(app, in); n != calls {
		t.Errorf("webhooks about quality must not register: %d calls became %d", calls, n)
	}
}

func healthChangeCount(t *testing.T, app *testApp, in db.Inbox) int {
	t.Helper()
	changes, err := app.Store.HealthChanges(context.Background(), in.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(changes)
}

// 7. Meta retires a field the client asks for: a Refresh press (a browser form with
// CSRF) and the monitor's sweep still store good health, and the health API shows the
// number's data.
func TestFidelityRetiredFieldIsSurvived(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoConnectedInbox)
	first := api.health(in)

	if err := app.Sim.RetireField("is_official_business_account"); err != nil {
		t.Fatal(err)
	}
	browser := newFidelityBrowser(t, app, demoAdminEmail, demoAdminPassword)
	page := views.InboxHealthURL(in.AccountID, in.ID)
	waitFor(t, fidelityTimeout, "a newer second for checked_at", func() bool { return time.Now().UTC().Format(time.RFC3339) != orNull(first.CheckedAt) })
	if code, _ := browser.post(page, page+"/refresh", url.Values{}, nil); code != http.StatusSeeOther {
		t.Fatalf("Refresh (plain form): want 303, got %d", code)
	}
	h := api.health(in)
	if h.Stale || h.Error != nil || orNull(h.CheckedAt) == orNull(first.CheckedAt) {
		t.Fatalf("after Refresh with a retired field: want fresh good health, got stale=%v error=%+v checked_at %s (before %s)",
			h.Stale, h.Error, orNull(h.CheckedAt), orNull(first.CheckedAt))
	}
	if orNull(h.DisplayPhoneNumber) == "<null>" || orNull(h.Status) != "CONNECTED" || orNull(h.PlatformType) != "CLOUD_API" {
		t.Errorf("health API: want the number's data, got display %s status %s platform %s", orNull(h.DisplayPhoneNumber), orNull(h.Status), orNull(h.PlatformType))
	}
	refused := 0
	for _, r := range app.Sim.Requests() {
		if r.ErrorCode == 100 && r.Status == http.StatusBadRequest {
			refused++
		}
	}
	if refused == 0 {
		t.Error("the simulator never refused the retired field: the test did not exercise it")
	}

	// The monitor, too.
	if _, err := app.App.Monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	snap, err := app.Store.LatestSnapshot(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.OK || snap.Phone == nil {
		t.Errorf("after a sweep with a retired field: want a good snapshot, got ok=%v kind %q", snap.OK, snap.ErrorKind)
	}
	if h := api.health(in); h.Stale || h.Error != nil || orNull(h.DisplayPhoneNumber) == "<null>" {
		t.Errorf("health API after the sweep: want good health, got stale=%v error=%+v", h.Stale, h.Error)
	}
}

// 8. The per-number callback of older setups, /webhooks/whatsapp/%2B<digits>, still
// answers Meta's handshake and takes signed events.
func TestFidelityLegacyNumberCallback(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoConnectedInbox)
	api.health(in)
	digits := strings.TrimPrefix(in.PhoneNumber, "+")
	legacy := app.URL + "/webhooks/whatsapp/%2B" + digits
	client := &http.Client{Timeout: fidelityTimeout}

	handshake := func(target, token string) (int, string, string) {
		t.Helper()
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}
		resp, err := client.Get(target + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), resp.Header.Get("Content-Type")
	}
	if code, body, ct := handshake(legacy, demoVerifyToken); code != http.StatusOK || body != "1158201444" || !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("legacy handshake with WHATSAPP_VERIFY_TOKEN: want 200 text/plain with the challenge, got %d %q %q", code, body, ct)
	}
	if in.WebhookVerifyToken != "" {
		if code, body, _ := handshake(legacy, in.WebhookVerifyToken); code != http.StatusOK || body != "1158201444" {
			t.Errorf("legacy handshake with the inbox's own verify token: want 200 with the challenge, got %d %q", code, body)
		}
	}
	if code, _, _ := handshake(legacy, "wrong-token"); code != http.StatusForbidden {
		t.Errorf("legacy handshake with a wrong token: want 403, got %d", code)
	}
	if code, _, _ := handshake(app.URL+"/webhooks/whatsapp/%2B19995550000", demoVerifyToken); code != http.StatusForbidden {
		t.Errorf("legacy handshake for an unknown number: want 403, got %d", code)
	}

	body, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": in.WABAID, "time": time.Now().Unix(), "changes": []any{map[string]any{
			"field": "phone_number_quality_update",
			"value": map[string]any{"display_phone_number": digits, "event": "FLAGGED", "max_daily_conversations_per_business": "TIER_250"},
		}}}}})
	if code, _ := postSignedWebhook(t, legacy, body, ""); code != http.StatusUnauthorized {
		t.Errorf("unsigned event at the legacy callback: want 401, got %d", code)
	}
	if code, _ := postSignedWebhook(t, legacy, body, graphsim.Sign([]byte("another secret"), body)); code != http.StatusUnauthorized {
		t.Errorf("event signed with another secret: want 401, got %d", code)
	}
	signature := graphsim.Sign([]byte(demoAppSecret), body)
	code, ans := postSignedWebhook(t, legacy, body, signature)
	if code != http.StatusOK || ans.Received != 1 || ans.Applied != 1 || ans.Duplicates != 0 {
		t.Fatalf("signed event at the legacy callback: want 200 with received 1, applied 1; got %d %+v", code, ans)
	}
	if h := api.health(in); orNull(h.Status) != "FLAGGED" || orNull(h.MessagingLimitTier) != "TIER_250" {
		t.Errorf("health API after the legacy event: want FLAGGED with TIER_250, got %s %s", orNull(h.Status), orNull(h.MessagingLimitTier))
	}
	if code, ans := postSignedWebhook(t, legacy, body, signature); code != http.StatusOK || ans.Duplicates != 1 || ans.Applied != 0 {
		t.Errorf("the same event again at the legacy callback: want 200 with duplicates 1, got %d %+v", code, ans)
	}
	// Delivered once to each door, it is still one event.
	if code, ans := postSignedWebhook(t, appCallbackURL(app), body, signature); code != http.StatusOK || ans.Duplicates != 1 {
		t.Errorf("the same event at the app callback: want 200 with duplicates 1, got %d %+v", code, ans)
	}
}

// 5b. Meta retiring is_on_biz_app must not turn a coexistence number into one the app
// registers: the flag was true, and a register call would move the number off the
// WhatsApp Business app.
func TestFidelityCoexistenceSurvivesRetiredFlag(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	in := demoInbox(t, app, demoCoexistenceInbox)
	if h := api.health(in); h.Registration.State != "coexistence" {
		t.Fatalf("before: want coexistence, got %q", h.Registration.State)
	}

	if err := app.Sim.RetireField("is_on_biz_app"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.App.Monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := api.health(in); h.Registration.State != "coexistence" {
		t.Fatalf("after Meta retired is_on_biz_app: want the last known coexistence kept, got state %q", h.Registration.State)
	}
	api.register(in, map[string]bool{"confirm": true})
	app.App.Registrar.Wait()
	if n := registerCallsOf(app, in); n != 0 {
		t.Errorf("want no register call for a coexistence number, got %d", n)
	}
}

// 3c. A number added after Meta approved its display-name change (the approval
// happened before the app's first health read, so no PENDING_REVIEW → APPROVED
// transition is ever seen): with the PIN entered, the one register call that makes the
// new name show must still be made.
func TestFidelityNameChangeApprovedBeforeFirstRead(t *testing.T) {
	app := startTestApp(t)
	waitFirstSweep(t, app)
	api := newFidelityAPI(t, app)
	n, i, b := fidelityDemoNumber(t, demoInbox(t, app, demoNameChangeInbox).PhoneNumberID)
	twin := fidelityTwin(t, app, b)
	c := fidelityClone(n, i)
	c.WABAID, c.NewNameStatus = twin.WABAID, "APPROVED" // approved, waiting for its register call
	if err := app.Sim.AddNumber(c); err != nil {
		t.Fatal(err)
	}
	in := fidelityCreateInbox(t, app, api, c, twin.AccessToken)
	if n := registerCallsOf(app, in); n != 0 {
		t.Fatalf("setup without the PIN: want no register call (a made-up PIN would mismatch), got %d", n)
	}

	res := api.pin(in, map[string]string{"pin": demoNameChangePIN})
	if res.Outcome != "registered" || registerCallsOf(app, in) != 1 {
		t.Fatalf("entering the PIN: want registered with exactly 1 register call, got %q with %d", res.Outcome, registerCallsOf(app, in))
	}
	if h := api.health(in); orNull(h.VerifiedName) != demoNewName {
		t.Errorf("health API: want verified name %q, got %s", demoNewName, orNull(h.VerifiedName))
	}
}
