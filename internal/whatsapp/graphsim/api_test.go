package graphsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newHTTPTest(t *testing.T, sim *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return ts
}

func TestTokens(t *testing.T) {
	sim, ts, _ := newSim(t, "demo")
	cases := []struct {
		name, path, token string
		status            int
		code, subcode     float64
	}{
		{"missing token", "/v24.0/" + pendingID, "", 401, 190, 0},
		{"unknown token", "/v24.0/" + pendingID, "not-a-token", 401, 190, 0},
		{"expired token", "/v24.0/109876543210006", "EAAsim-demo-token-lumen", 401, 190, 463},
		{"expired token on its WABA", "/v24.0/209876543210006/phone_numbers", "EAAsim-demo-token-lumen", 401, 190, 463},
		{"token of another WABA", "/v24.0/" + pendingID, "EAAsim-demo-token-padaria", 400, 100, 33},
		{"token of another WABA, WABA node", "/v24.0/209876543210001", "EAAsim-demo-token-padaria", 400, 100, 33},
		{"unknown id", "/v24.0/999", acmeToken, 400, 100, 33},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, ts, http.MethodGet, c.path, c.token, "")
			e := wantError(t, a, c.status, c.code, c.subcode)
			if c.status == 401 && a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("want a WWW-Authenticate header on 401, got none")
			}
			if c.subcode == 463 && !strings.HasPrefix(str(e["message"]), "Error validating access token") {
				t.Errorf("want message starting %q, got %q", "Error validating access token", e["message"])
			}
			if c.subcode == 33 && !strings.Contains(str(e["message"]), "does not exist") {
				t.Errorf("want an 'Object with ID ... does not exist' message, got %q", e["message"])
			}
		})
	}
	// A token in the query string is not accepted: the product must never send one there.
	a := call(t, ts, http.MethodGet, "/v24.0/"+pendingID+"?access_token="+acmeToken, "", "")
	wantError(t, a, 401, 190, 0)

	for _, r := range sim.Requests() {
		if strings.Contains(fmt.Sprintf("%+v", r), "sim-token") {
			t.Errorf("want no token in the request log, got %+v", r)
		}
	}
}

func TestUnknownRoutesAnswerCode100(t *testing.T) {
	_, ts, _ := newSim(t, "demo")
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v24.0/" + pendingID + "/nonsense"},
		{http.MethodGet, "/v24.0/209876543210001/nonsense"},
		{http.MethodGet, "/v24.0/" + pendingID + "/register"},
		{http.MethodPost, "/v24.0/" + pendingID},
		{http.MethodGet, "/v24.0/a/b/c"},
		{http.MethodGet, "/v24.0/"},
		{http.MethodGet, "/v23.0/" + pendingID},
		{http.MethodGet, "/nothing"},
	} {
		a := call(t, ts, c.method, c.path, acmeToken, "")
		if e, isErr := a.body["error"].(map[string]any); !isErr || a.status != 400 || e["code"] != float64(100) {
			t.Errorf("%s %s: want HTTP 400 code 100, got %d %s", c.method, c.path, a.status, a.raw)
		}
	}
}

func TestSubscribedApps(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	const path = "/v24.0/209876543210001/subscribed_apps"
	a := call(t, ts, http.MethodGet, path, acmeToken, "")
	wantOK(t, a)
	if data, _ := a.body["data"].([]any); len(data) != 0 {
		t.Fatalf("want no subscription yet, got %s", a.raw)
	}

	a = call(t, ts, http.MethodPost, path, acmeToken, "")
	wantOK(t, a)
	if a.body["success"] != true {
		t.Fatalf(`want {"success":true}, got %s`, a.raw)
	}
	a = call(t, ts, http.MethodGet, path, acmeToken, "")
	wantOK(t, a)
	data, _ := a.body["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("want 1 subscribed app, got %s", a.raw)
	}
	app := data[0].(map[string]any)
	api, _ := app["whatsapp_business_api_data"].(map[string]any)
	if str(api["id"]) != AppID || str(api["name"]) != "Inbox Health" || str(api["link"]) == "" {
		t.Errorf("want the app, got %s", a.raw)
	}
	if _, has := app["override_callback_uri"]; has {
		t.Errorf("a subscription without override must not show override_callback_uri, got %s", a.raw)
	}
	b, _ := sim.Business("209876543210001")
	if b.Subscription == nil || b.Subscription.OverrideCallbackURI != "" {
		t.Errorf("want a subscription without override, got %+v", b.Subscription)
	}

	wantOK(t, call(t, ts, http.MethodDelete, path, acmeToken, ""))
	if b, _ := sim.Business("209876543210001"); b.Subscription != nil {
		t.Errorf("want no subscription after DELETE, got %+v", b.Subscription)
	}
}

func TestPagingFollowsNextLinks(t *testing.T) {
	sim := New(Config{})
	defer sim.Close()
	if err := sim.AddBusiness(Business{WABAID: "201", BusinessID: "301", Name: "Many", AccessToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	const total = 57
	var want []string
	for i := range total {
		id := fmt.Sprintf("1%05d", i)
		want = append(want, id)
		if err := sim.AddNumber(Number{PhoneNumber: fmt.Sprintf("+1555010%04d", i), PhoneNumberID: id, WABAID: "201"}); err != nil {
			t.Fatal(err)
		}
	}
	ts := newHTTPTest(t, sim)

	var got []string
	url := ts.URL + "/v24.0/201/phone_numbers?fields=id,status,health_status&limit=20"
	pages := 0
	for url != "" {
		a := callURL(t, http.MethodGet, url, "tok", "")
		wantOK(t, a)
		pages++
		for _, d := range a.body["data"].([]any) {
			n := d.(map[string]any)
			got = append(got, str(n["id"]))
			if n["health_status"] == nil || str(n["status"]) != "PENDING" {
				t.Fatalf("want requested fields on every item, got %v", n)
			}
		}
		paging, _ := a.body["paging"].(map[string]any)
		cursors, _ := paging["cursors"].(map[string]any)
		if str(cursors["before"]) == "" || str(cursors["after"]) == "" {
			t.Fatalf("want before and after cursors, got %s", a.raw)
		}
		url = str(paging["next"])
		if url != "" && !strings.HasPrefix(url, ts.URL+"/v24.0/201/phone_numbers?") {
			t.Fatalf("want an absolute next link on %s, got %q", ts.URL, url)
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("want %d ids in 3 pages in insertion order, got %d ids in %d pages: %v", total, len(got), pages, got)
	}

	a := call(t, ts, http.MethodGet, "/v24.0/201/phone_numbers", "tok", "")
	if n := len(a.body["data"].([]any)); n != DefaultPageSize {
		t.Errorf("want default page of %d, got %d", DefaultPageSize, n)
	}
	second := callURL(t, http.MethodGet, str(a.body["paging"].(map[string]any)["next"]), "tok", "")
	prev := str(second.body["paging"].(map[string]any)["previous"])
	back := callURL(t, http.MethodGet, prev, "tok", "")
	if first := back.body["data"].([]any); len(first) != DefaultPageSize || str(first[0].(map[string]any)["id"]) != want[0] {
		t.Errorf("want the previous link to lead back to the first page, got %s", back.raw)
	}
	sim.AddBusiness(Business{WABAID: "202", Name: "Huge", AccessToken: "tok2"})
	for i := range 150 {
		sim.AddNumber(Number{PhoneNumber: fmt.Sprintf("+1555020%04d", i), PhoneNumberID: fmt.Sprintf("2%05d", i), WABAID: "202"})
	}
	a = call(t, ts, http.MethodGet, "/v24.0/202/phone_numbers?limit=500", "tok2", "")
	if n := len(a.body["data"].([]any)); n != MaxPageSize {
		t.Errorf("want limit clamped to %d, got %d", MaxPageSize, n)
	}
	wantError(t, call(t, ts, http.MethodGet, "/v24.0/202/phone_numbers?limit=abc", "tok2", ""), 400, 100, 0)
	wantError(t, call(t, ts, http.MethodGet, "/v24.0/202/phone_numbers?after=garbage", "tok2", ""), 400, 100, 0)

	a = call(t, ts, http.MethodGet, "/v24.0/202/phone_numbers?limit=50&after="+encodeCursor(149), "tok2", "")
	wantOK(t, a)
	if data := a.body["data"].([]any); len(data) != 0 || a.body["paging"] != nil {
		t.Errorf("want an empty last page without paging, got %s", a.raw)
	}
}

func TestLastPageHasNoNext(t *testing.T) {
	_, ts, _ := newSim(t, "demo")
	a := call(t, ts, http.MethodGet, "/v24.0/209876543210001/phone_numbers?fields=id", acmeToken, "")
	wantOK(t, a)
	data := a.body["data"].([]any)
	if len(data) != 4 {
		t.Fatalf("want Acme's 4 numbers, got %s", a.raw)
	}
	if paging := a.body["paging"].(map[string]any); paging["next"] != nil {
		t.Errorf("want no next on the last page, got %v", paging["next"])
	}
}

func TestRequestLogCountsAndResets(t *testing.T) {
	sim, ts, clock := newSim(t, "pending_provisioning")
	call(t, ts, http.MethodGet, "/v24.0/"+pendingID+"?fields=status", acmeToken, "")
	call(t, ts, http.MethodGet, "/v24.0/"+pendingID, "bad-token", "")
	clock.Advance(time.Minute)
	register(t, ts, pendingID, acmeToken, "123456")
	if n := sim.CountRequests(http.MethodGet, "/"+pendingID); n != 2 {
		t.Errorf("want 2 GETs of the number, got %d", n)
	}
	if n := sim.CountRequests(http.MethodPost, "/"+pendingID+"/register"); n != 1 {
		t.Errorf("want 1 register, got %d", n)
	}
	if n := sim.CountRequests("", "/"+pendingID+"/register"); n != 1 {
		t.Errorf("want 1 request of any method on register, got %d", n)
	}
	reqs := sim.Requests()
	if len(reqs) != 3 {
		t.Fatalf("want 3 logged requests, got %d", len(reqs))
	}
	want := []Request{
		{Method: "GET", Path: "/" + pendingID, ObjectID: pendingID, WABAID: "209876543210001", Time: t0, Status: 200, ValidToken: true},
		{Method: "GET", Path: "/" + pendingID, ObjectID: pendingID, Time: t0, Status: 401, ErrorCode: 190},
		{Method: "POST", Path: "/" + pendingID + "/register", ObjectID: pendingID, WABAID: "209876543210001", Time: t0.Add(time.Minute), Status: 200, ValidToken: true},
	}
	for i := range want {
		if reqs[i] != want[i] {
			t.Errorf("request %d: want %+v, got %+v", i, want[i], reqs[i])
		}
		if strings.Contains(fmt.Sprintf("%+v", reqs[i]), "123456") {
			t.Errorf("want no PIN in the log, got %+v", reqs[i])
		}
	}
	sim.ResetRequests()
	if n := len(sim.Requests()); n != 0 {
		t.Errorf("want an empty log after reset, got %d", n)
	}
}

func TestFailNextInjectsOneError(t *testing.T) {
	sim, ts, _ := newSim(t, "pending_provisioning")
	sim.FailNext(http.MethodPost, "/"+pendingID+"/register", 400, GraphError{
		Message: "(#133015) The phone number you are attempting to register was recently deleted", Code: 133015})
	wantError(t, register(t, ts, pendingID, acmeToken, "123456"), 400, 133015, 0)
	if st := mustNumber(t, sim, pendingID); st.RegisterCalls != 0 {
		t.Errorf("want an injected error to leave state alone, got %d calls", st.RegisterCalls)
	}
	wantOK(t, register(t, ts, pendingID, acmeToken, "123456"))
}

func TestUpdateNumberAndBusiness(t *testing.T) {
	sim, ts, _ := newSim(t, "connected")
	if err := sim.UpdateNumber("109876543210003", func(n *Number) { n.QualityRating = "RED" }); err != nil {
		t.Fatal(err)
	}
	a := call(t, ts, http.MethodGet, "/v24.0/109876543210003?fields=quality_rating", "EAAsim-demo-token-padaria", "")
	if str(a.body["quality_rating"]) != "RED" {
		t.Errorf("want RED after UpdateNumber, got %s", a.raw)
	}
	if err := sim.UpdateBusiness("209876543210003", func(b *Business) { b.TokenExpired = true }); err != nil {
		t.Fatal(err)
	}
	wantError(t, call(t, ts, http.MethodGet, "/v24.0/109876543210003", "EAAsim-demo-token-padaria", ""), 401, 190, 463)
	if err := sim.UpdateNumber("109876543210003", func(n *Number) { n.WABAID = "1" }); err == nil {
		t.Error("want an error when UpdateNumber changes the WABA, got none")
	}
}
