package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Meta-side fixtures beside the "connected" scenario (WABA 209876543210003, token
// padariaToken): a second business account the same system-user token sees, one it
// does not see, one whose token lacks a permission, and numbers not connected yet.
const (
	padariaWABA        = "209876543210003"
	padariaToken       = "EAAsim-demo-token-padaria"
	padariaNorthWABA   = "209876543219001" // same token
	otherWABA          = "209876543219002" // another token
	noPermissionWABA   = "209876543219003"
	noPermissionToken  = "EAAsim-no-permission-token-0123"
	newPadariaNumberID = "109876543210023" // in padariaWABA, not connected
	newPadariaPhone    = "+12125550197"
	northNumberID      = "109876543219001" // in padariaNorthWABA
	northPhone         = "+12125550190"
)

func addMetaFixtures(t *testing.T, sim *graphsim.Server) {
	t.Helper()
	for _, b := range []graphsim.Business{
		{WABAID: padariaNorthWABA, Name: "Padaria Norte", AccessToken: padariaToken},
		{WABAID: otherWABA, Name: "Other Co", AccessToken: "EAAsim-other-company-token-0123"},
		{WABAID: noPermissionWABA, Name: "No permission", AccessToken: noPermissionToken, TokenLacksPermission: "whatsapp_business_management"},
	} {
		if err := sim.AddBusiness(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []graphsim.Number{
		{PhoneNumber: newPadariaPhone, PhoneNumberID: newPadariaNumberID, WABAID: padariaWABA, DisplayPhoneNumber: "+1 212-555-0197", VerifiedName: "Padaria Catering"},
		{PhoneNumber: "+12125550196", PhoneNumberID: "109876543210033", WABAID: padariaWABA, DisplayPhoneNumber: "+1 212-555-0196"},
		{PhoneNumber: northPhone, PhoneNumberID: northNumberID, WABAID: padariaNorthWABA},
		{PhoneNumber: "+12125550191", PhoneNumberID: "109876543219003", WABAID: noPermissionWABA},
	} {
		if err := sim.AddNumber(n); err != nil {
			t.Fatal(err)
		}
	}
}

// apiDo calls the JSON API with a token and an optional JSON body.
func (e *regEnv) apiDo(method, token, path, body string) (int, map[string]any, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set(headerAPIAccessToken, token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, string(raw)
}

func (e *regEnv) inboxCount() int {
	e.t.Helper()
	all, err := e.store.AllInboxes(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(all)
}

func (e *regEnv) changeLog(inboxID int64) []db.InboxChange {
	e.t.Helper()
	changes, err := e.store.InboxChanges(context.Background(), inboxID, 50)
	if err != nil {
		e.t.Fatal(err)
	}
	return changes
}

func (e *regEnv) inboxByPhoneNumberID(id string) db.Inbox {
	e.t.Helper()
	found, err := e.store.InboxesByPhoneNumberID(context.Background(), []string{id})
	if err != nil {
		e.t.Fatal(err)
	}
	in, ok := found[id]
	if !ok {
		e.t.Fatalf("no inbox for phone-number id %s", id)
	}
	return in
}

func fieldErrors(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	errObj, _ := v["error"].(map[string]any)
	fields, _ := errObj["fields"].(map[string]any)
	return fields
}

// assertInlineError checks that exactly one field of the form has a problem, shown
// next to it and tied to the input for screen readers.
func assertInlineError(t *testing.T, doc *goquery.Document, idPrefix, field, what string) {
	t.Helper()
	if n := doc.Find(`.field-error`).Length(); n != 1 {
		t.Errorf("%s: want exactly one field problem, got %d: %s", what, n, doc.Find(`.field-error`).Text())
	}
	input := doc.Find(`#` + idPrefix + field)
	if v, _ := input.Attr("aria-invalid"); v != "true" {
		t.Errorf("%s: want #%s%s aria-invalid, got %q", what, idPrefix, field, v)
	}
	describedBy, _ := input.Attr("aria-describedby")
	if describedBy == "" || doc.Find(`#`+describedBy).Length() != 1 || strings.TrimSpace(doc.Find(`#`+describedBy).Text()) == "" {
		t.Errorf("%s: want #%s%s described by its problem, got aria-describedby %q", what, idPrefix, field, describedBy)
	}
}

func TestAddInboxIsCheckedWithMetaBeforeSaving(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "connected")
	addMetaFixtures(t, e.sim)
	good := func() url.Values {
		return url.Values{"name": {"Padaria — Catering"}, "phone_number": {"+1 212 555 0197"}, "phone_number_id": {newPadariaNumberID},
			"waba_id": {padariaWABA}, "business_id": {"309876543210003"}, "access_token": {padariaToken}}
	}
	cases := []struct {
		name, field string
		change      url.Values
	}{
		{"a token Meta never issued", "access_token", url.Values{"access_token": {"EAAnever-issued-by-meta-0123"}}},
		{"a token without a permission", "access_token", url.Values{"access_token": {noPermissionToken}, "waba_id": {noPermissionWABA},
			"phone_number_id": {"109876543219003"}, "phone_number": {"+12125550191"}}},
		{"a number of another business account", "phone_number_id", url.Values{"phone_number_id": {northNumberID}, "phone_number": {northPhone}}},
		{"a phone-number id Meta does not know", "phone_number_id", url.Values{"phone_number_id": {"109999999999999"}}},
		{"a business account the token cannot see", "waba_id", url.Values{"waba_id": {otherWABA}}},
		{"a phone number Meta does not have for the id", "phone_number", url.Values{"phone_number": {"+1 212 555 0100"}}},
		{"a portfolio that does not own the business account", "business_id", url.Values{"business_id": {"309999999999999"}}},
	}
	admin := e.login("admin@reg.test")
	newPath := "/accounts/" + itoa(e.admin.AccountID) + "/inboxes"
	csrf := admin.csrf(newPath + "/new")
	before := e.inboxCount()
	for _, c := range cases {
		form := good()
		for k, v := range c.change {
			form[k] = v
		}
		form.Set("_csrf", csrf)
		resp, body := admin.post(newPath, form, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("form, %s: want 422, got %d", c.name, resp.StatusCode)
			continue
		}
		doc := admin.parse(body)
		if doc.Find(`[data-testid="error-`+c.field+`"]`).Length() != 1 {
			t.Errorf("form, %s: want the problem next to %s, got %q", c.name, c.field, doc.Find(`.field-error`).Text())
		}
		assertInlineError(t, doc, "f-", c.field, "form, "+c.name)
		if strings.Contains(body, form.Get("access_token")) {
			t.Errorf("form, %s: the token must never be rendered", c.name)
		}

		body2, _ := json.Marshal(map[string]string{"name": form.Get("name"), "phone_number": form.Get("phone_number"),
			"phone_number_id": form.Get("phone_number_id"), "waba_id": form.Get("waba_id"), "business_id": form.Get("business_id"),
			"access_token": form.Get("access_token")})
		code, out, raw := e.apiDo(http.MethodPost, e.admin.APIAccessToken, "/api/v1/accounts/"+itoa(e.admin.AccountID)+"/inboxes", string(body2))
		fields := fieldErrors(t, out)
		if code != http.StatusUnprocessableEntity || out["error"].(map[string]any)["type"] != "refused_by_meta" || len(fields) != 1 || fields[c.field] == nil {
			t.Errorf("API, %s: want 422 refused_by_meta naming only %s, got %d %s", c.name, c.field, code, raw)
		}
	}
	if n := e.inboxCount(); n != before {
		t.Fatalf("refused inboxes must not be stored: %d inboxes before, %d after", before, n)
	}

	form := good()
	form.Set("_csrf", csrf)
	resp, _ := admin.post(newPath, form, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "/health") {
		t.Fatalf("a connection Meta accepts: want 303 to the new inbox, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	in := e.inboxByPhoneNumberID(newPadariaNumberID)
	if in.MetaCheck != db.MetaCheckPassed || in.PhoneNumber != newPadariaPhone {
		t.Errorf("created: want checked with Meta and the number normalised, got %q %q", in.MetaCheck, in.PhoneNumber)
	}
	if snap, err := e.store.LatestSnapshot(context.Background(), in.ID); err != nil || snap.Phone == nil || snap.Phone.ID != newPadariaNumberID {
		t.Errorf("created: want the health Meta answered to the check stored at once, got %+v (%v)", snap, err)
	}
	log := e.changeLog(in.ID)
	if len(log) != 1 || log[0].Action != db.ChangeCreated || log[0].Actor.Name != "admin@reg.test" || log[0].Actor.UserID == nil {
		t.Fatalf("created: want one change-log entry by the administrator, got %+v", log)
	}
	_, doc, body := admin.getDoc(regPath(in, ""))
	if row := doc.Find(`[data-testid="change-row"]`); row.Length() != 1 || !strings.Contains(row.Text(), "admin@reg.test") ||
		!strings.Contains(row.Text(), "Access token: set (not shown)") {
		t.Errorf("Settings tab: want the creation logged with who and which fields, got %q", row.Text())
	}
	if strings.Contains(body, padariaToken) {
		t.Error("the token must never be rendered")
	}
	e.reg.Wait()
}

func TestAddInboxWhileMetaIsUnreachableIsCheckedByTheNextSweep(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "connected")
	addMetaFixtures(t, e.sim)
	create := func(phone, id string) map[string]any {
		body, _ := json.Marshal(map[string]string{"name": "Line " + id, "phone_number": phone, "phone_number_id": id,
			"waba_id": padariaWABA, "access_token": padariaToken})
		code, out, raw := e.apiDo(http.MethodPost, e.admin.APIAccessToken, "/api/v1/accounts/"+itoa(e.admin.AccountID)+"/inboxes", string(body))
		if code != http.StatusCreated {
			t.Fatalf("create while Meta is down: want 201 (Meta's outage must not block people), got %d %s", code, raw)
		}
		return out
	}
	e.sim.SetFaults(graphsim.Faults{ServerErrorRate: 1})
	good := create(newPadariaPhone, newPadariaNumberID)
	wrong := create(northPhone, northNumberID) // a number of another business account: found out later
	e.reg.Wait()
	e.sim.ClearFaults()
	if good["meta_check"] != "not_checked_yet" || wrong["meta_check"] != "not_checked_yet" {
		t.Fatalf("want both marked not_checked_yet, got %v and %v", good["meta_check"], wrong["meta_check"])
	}
	admin := e.login("admin@reg.test")
	in := e.inboxByPhoneNumberID(newPadariaNumberID)
	for _, tab := range []string{"", "/health"} {
		_, doc, _ := admin.getDoc(regPath(in, tab))
		if notice := doc.Find(`[data-testid="meta-check-notice"]`); !strings.Contains(notice.Text(), "Not checked yet") {
			t.Errorf("page %q: want the inbox marked not checked yet, got %q", tab, notice.Text())
		}
	}

	monitor := health.NewMonitor(e.svc, e.store, e.client, health.MonitorOptions{Logger: discardLogger()})
	if _, err := monitor.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in := e.inboxByPhoneNumberID(newPadariaNumberID); in.MetaCheck != db.MetaCheckPassed || in.MetaCheckedAt == nil {
		t.Errorf("after the sweep: want the good inbox checked, got %q", in.MetaCheck)
	}
	bad := e.inboxByPhoneNumberID(northNumberID)
	if bad.MetaCheck != db.MetaCheckFailed || !strings.Contains(bad.MetaCheckProblem, "not a phone number of WhatsApp Business Account "+padariaWABA) {
		t.Errorf("after the sweep: want the wrong number's check failed with why, got %q %q", bad.MetaCheck, bad.MetaCheckProblem)
	}
	code, out, _ := e.apiDo(http.MethodGet, e.admin.APIAccessToken, "/api/v1/accounts/"+itoa(e.admin.AccountID)+"/inboxes", "")
	seen := map[string]string{}
	for _, item := range out["payload"].([]any) {
		m := item.(map[string]any)
		seen[m["phone_number_id"].(string)] = m["meta_check"].(string)
	}
	if code != http.StatusOK || seen[newPadariaNumberID] != "passed" || seen[northNumberID] != "failed" {
		t.Errorf("API list: want passed and failed, got %d %v", code, seen)
	}
	_, doc, _ := admin.getDoc(regPath(bad, ""))
	if got, _ := doc.Find(`[data-testid="meta-check"]`).Attr("data-meta-check"); got != db.MetaCheckFailed {
		t.Errorf("Settings tab: want the failed check shown, got %q", got)
	}
}

func TestEditInboxFromTheSettingsTab(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "connected")
	addMetaFixtures(t, e.sim)
	ctx := context.Background()
	in := e.inbox(regConnectedInbox)
	orders := e.inbox("Padaria Central — Orders")
	e.refresh(in)
	if err := e.store.SetPIN(ctx, in.ID, "424242", db.PINStateConfirmed); err != nil {
		t.Fatal(err)
	}
	oldAttempt, err := e.store.StartAttempt(ctx, in.ID, db.TriggerBanner, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	admin := e.login("admin@reg.test")
	page := regPath(in, "")
	_, doc, _ := admin.getDoc(page)
	if v, _ := doc.Find(`form[data-testid="edit-form"] input[name="phone_number_id"]`).Attr("value"); v != in.PhoneNumberID {
		t.Fatalf("the edit form must show the inbox's values, got phone number ID %q", v)
	}
	csrf := admin.csrf(page)
	edit := func(change url.Values) (*http.Response, string) {
		form := url.Values{"_csrf": {csrf}, "name": {in.Name}, "phone_number": {in.PhoneNumber}, "phone_number_id": {in.PhoneNumberID},
			"waba_id": {in.WABAID}, "business_id": {in.BusinessID}}
		for k, v := range change {
			form[k] = v
		}
		return admin.post(regPath(in, "/edit"), form, nil)
	}

	// A new name needs no call to Meta and keeps the health.
	calls := len(e.sim.Requests())
	resp, _ := edit(url.Values{"name": {"Padaria — Front desk"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page {
		t.Fatalf("rename: want 303 back to the Settings tab, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(e.sim.Requests()) - calls; n != 0 {
		t.Errorf("rename: want no call to Meta, got %d", n)
	}
	if _, err := e.store.LatestSnapshot(ctx, in.ID); err != nil {
		t.Errorf("rename: the health must stay: %v", err)
	}
	_, doc, _ = admin.getDoc(page)
	if row := doc.Find(`[data-testid="change-row"]`).First(); !strings.Contains(row.Text(), "Name: Padaria Central — Support → Padaria — Front desk") ||
		row.Find(`[data-testid="change-who"]`).Text() != "admin@reg.test" {
		t.Errorf("rename: want the change logged first with who and what, got %q", row.Text())
	}
	in.Name = "Padaria — Front desk"

	// Bad input: the problem next to the field, nothing changed.
	for _, c := range []struct {
		name, field string
		status      int
		change      url.Values
	}{
		{"an id in the wrong format", "waba_id", http.StatusUnprocessableEntity, url.Values{"waba_id": {"20987-abc"}}},
		{"a number of another business account", "phone_number_id", http.StatusUnprocessableEntity,
			url.Values{"phone_number_id": {northNumberID}, "phone_number": {northPhone}}},
		{"a business account the token cannot see", "waba_id", http.StatusUnprocessableEntity, url.Values{"waba_id": {otherWABA}}},
		{"the number of another inbox", "phone_number_id", http.StatusConflict,
			url.Values{"phone_number_id": {orders.PhoneNumberID}, "phone_number": {orders.PhoneNumber}, "name": {"Renamed too"}}},
	} {
		resp, body := edit(c.change)
		doc := admin.parse(body)
		if resp.StatusCode != c.status || doc.Find(`form[data-testid="edit-form"] [data-testid="error-`+c.field+`"]`).Length() != 1 {
			t.Errorf("%s: want %d with the problem next to %s, got %d %q", c.name, c.status, c.field, resp.StatusCode, doc.Find(`.field-error`).Text())
			continue
		}
		assertInlineError(t, doc, "edit-", c.field, c.name)
		if got, _ := e.store.InboxByID(ctx, in.ID); got.Name != in.Name || got.PhoneNumberID != in.PhoneNumberID || got.WABAID != in.WABAID {
			t.Errorf("%s: nothing may change, got %+v", c.name, got)
		}
	}

	// Another number of the business account: checked with Meta, then a fresh start. The
	// old number first gets a history of its own (its quality drops), which must not
	// follow the inbox to the new number; the new number's own changes (its setup
	// registers it in the background) may show, but only from the edit on.
	if err := e.sim.UpdateNumber(in.PhoneNumberID, func(n *graphsim.Number) { n.QualityRating = "YELLOW" }); err != nil {
		t.Fatal(err)
	}
	e.refresh(in)
	if changes, _ := e.store.HealthChanges(ctx, in.ID, 10); len(changes) == 0 {
		t.Fatal("new number: the old number needs a history before the edit for this check to mean anything")
	}
	const newID, newPhone = "109876543210033", "+12125550196"
	editedAt := time.Now()
	resp, _ = edit(url.Values{"phone_number_id": {newID}, "phone_number": {"+1 212 555 0196"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("new number: want 303, got %d", resp.StatusCode)
	}
	got, _ := e.store.InboxByID(ctx, in.ID)
	if got.PhoneNumberID != newID || got.PhoneNumber != newPhone || got.MetaCheck != db.MetaCheckPassed {
		t.Fatalf("new number: want it saved and checked, got %+v", got)
	}
	snap, err := e.store.LatestSnapshot(ctx, in.ID)
	if err != nil || snap.Phone == nil || snap.Phone.ID != newID {
		t.Errorf("new number: want the new number's health as the inbox's first, got %+v (%v)", snap.Phone, err)
	}
	changes, _ := e.store.HealthChanges(ctx, in.ID, 10)
	for _, c := range changes {
		if c.At.Before(editedAt) || c.Field == "quality_rating" {
			t.Errorf("new number: the old number's history must not show as this one's, got %+v", changes)
			break
		}
	}
	attempts, _ := e.store.Attempts(ctx, in.ID, 20)
	for _, a := range attempts {
		if a.Trigger == oldAttempt.Trigger { // the new number's own are its setup's
			t.Errorf("new number: the old number's registration attempts must go, got %+v", attempts)
		}
	}
	if s, _ := e.store.Secrets(ctx, in.ID); s.PIN == "424242" {
		t.Error("new number: the old number's PIN must be erased")
	}
	health := decodeObject(t, e.apiGetHealth(got))
	if health["display_phone_number"] != "+1 212-555-0196" {
		t.Errorf("new number: the health API must show the new number, got %v", health["display_phone_number"])
	}
	if log := e.changeLog(in.ID); len(log) == 0 || !strings.Contains(strings.Join(describe(log[0]), "|"), "Phone number ID: "+in.PhoneNumberID+" → "+newID) {
		t.Errorf("new number: want the id change logged from and to, got %+v", log)
	}
	e.reg.Wait()
}

func describe(c db.InboxChange) []string {
	_, details := health.DescribeChange(c)
	return details
}

func TestEditInboxAPI(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "connected")
	addMetaFixtures(t, e.sim)
	in := e.inbox(regConnectedInbox)
	path := "/api/v1/accounts/" + itoa(e.admin.AccountID) + "/inboxes/" + itoa(in.ID)
	patch := func(token, body string) (int, map[string]any, string) {
		return e.apiDo(http.MethodPatch, token, path, body)
	}
	code, out, raw := patch(e.admin.APIAccessToken, `{"name":"Padaria via API","business_id":""}`)
	if code != http.StatusOK || out["name"] != "Padaria via API" || out["business_id"] != "" || out["meta_check"] != "passed" {
		t.Fatalf("any subset of the create fields: want 200 with the inbox, got %d %s", code, raw)
	}
	if log := e.changeLog(in.ID); len(log) != 1 || log[0].Actor.Name != "API token of admin@reg.test" {
		t.Errorf("want the change logged as made with the administrator's API token, got %+v", log)
	}
	for _, c := range []struct {
		name, body, typ, field string
		status                 int
	}{
		{"nothing to change", `{}`, "invalid", "", http.StatusUnprocessableEntity},
		{"an unknown field", `{"nmae":"x"}`, "bad_request", "", http.StatusBadRequest},
		{"a malformed phone number", `{"phone_number":"12"}`, "invalid", "phone_number", http.StatusUnprocessableEntity},
		{"a malformed token with a name", `{"name":"x","access_token":"short"}`, "invalid", "access_token", http.StatusUnprocessableEntity},
		{"a business account the token cannot see", `{"waba_id":"` + otherWABA + `"}`, "refused_by_meta", "waba_id", http.StatusUnprocessableEntity},
		{"a number of another business account", `{"phone_number_id":"` + northNumberID + `","phone_number":"` + northPhone + `"}`, "refused_by_meta", "phone_number_id", http.StatusUnprocessableEntity},
	} {
		code, out, raw := patch(e.admin.APIAccessToken, c.body)
		errObj, _ := out["error"].(map[string]any)
		if code != c.status || errObj["type"] != c.typ || (c.field != "" && fieldErrors(t, out)[c.field] == nil) {
			t.Errorf("%s: want %d %s on %q, got %d %s", c.name, c.status, c.typ, c.field, code, raw)
		}
	}
	if got, _ := e.store.InboxByID(context.Background(), in.ID); got.Name != "Padaria via API" || got.WABAID != in.WABAID || got.PhoneNumberID != in.PhoneNumberID {
		t.Errorf("refused edits must change nothing, got %+v", got)
	}
	if code, _, _ := patch(e.agent.APIAccessToken, `{"name":"agent"}`); code != http.StatusForbidden {
		t.Errorf("agent: want 403, got %d", code)
	}
	otherPath := "/api/v1/accounts/" + itoa(e.other.AccountID) + "/inboxes/" + itoa(in.ID)
	if code, _, _ := e.apiDo(http.MethodPatch, e.other.APIAccessToken, otherPath, `{"name":"theirs"}`); code != http.StatusNotFound {
		t.Errorf("another account's inbox: want 404, got %d", code)
	}
	// A new number while a registration of the inbox is in flight: refused, nothing changed.
	if err := e.store.AcquireLease(context.Background(), in.ID, "test-holder", time.Minute); err != nil {
		t.Fatal(err)
	}
	code, out, raw = patch(e.admin.APIAccessToken, `{"phone_number_id":"109876543210033","phone_number":"+12125550196"}`)
	if errObj, _ := out["error"].(map[string]any); code != http.StatusConflict || errObj["type"] != "in_progress" {
		t.Errorf("registration in flight: want 409 in_progress, got %d %s", code, raw)
	}
	if got, _ := e.store.InboxByID(context.Background(), in.ID); got.PhoneNumberID != in.PhoneNumberID {
		t.Error("registration in flight: the number must not change")
	}
}

func TestInboxChangeControlsAreForAdministratorsOnly(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "connected")
	in := e.inbox(regConnectedInbox)
	agent := e.login("agent@reg.test")
	_, doc, _ := agent.getDoc(regPath(in, ""))
	if doc.Find(`[data-testid="edit-form"], [data-testid="reconnect-form"], [data-testid="remove-form"]`).Length() != 0 {
		t.Error("agents must see no edit, reconnect or remove form")
	}
	if doc.Find(`[data-testid="change-log"]`).Length() != 1 {
		t.Error("agents see the change log (it changes nothing)")
	}
	_, list, _ := agent.getDoc("/accounts/" + itoa(e.admin.AccountID) + "/inboxes")
	if list.Find(`[data-testid="import-inboxes"], [data-testid="add-inbox"]`).Length() != 0 {
		t.Error("agents must see no import or add link")
	}
	csrf := agent.csrf(regPath(in, ""))
	acct := "/accounts/" + itoa(e.admin.AccountID)
	for _, path := range []string{regPath(in, "/edit"), acct + "/inboxes/import/numbers", acct + "/inboxes/import"} {
		if resp, _ := agent.post(path, url.Values{"_csrf": {csrf}, "name": {"agent"}}, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("agent POST %s: want 403, got %d", path, resp.StatusCode)
		}
	}
	if resp, _ := agent.do(http.MethodGet, acct+"/inboxes/import", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent GET the import form: want 403, got %d", resp.StatusCode)
	}

	// Another account's inbox is 404 on every new route, never 403.
	other := e.login("admin@other.test")
	otherCSRF := other.csrf("/accounts/" + itoa(e.other.AccountID) + "/inboxes")
	theirs := "/accounts/" + itoa(e.other.AccountID) + "/inboxes/" + itoa(in.ID)
	if resp, _ := other.post(theirs+"/edit", url.Values{"_csrf": {otherCSRF}, "name": {"x"}}, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("edit another account's inbox: want 404, got %d", resp.StatusCode)
	}
	if resp, _ := other.post(regPath(in, "/edit"), url.Values{"_csrf": {otherCSRF}, "name": {"x"}}, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("edit through another account's path: want 404, got %d", resp.StatusCode)
	}

	// CSRF on the new forms.
	admin := e.login("admin@reg.test")
	for _, path := range []string{regPath(in, "/edit"), acct + "/inboxes/import/numbers", acct + "/inboxes/import"} {
		if resp, _ := admin.post(path, url.Values{"name": {"x"}}, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without the CSRF token: want 403, got %d", path, resp.StatusCode)
		}
		if resp, _ := admin.post(path, url.Values{"name": {"x"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: want 403, got %d", path, resp.StatusCode)
		}
	}
	if got, _ := e.store.InboxByID(context.Background(), in.ID); got.Name != in.Name {
		t.Error("refused posts must change nothing")
	}
}

func TestReconnectAndPINChangesAreLogged(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "token_expired", "pin_already_set")
	expired := e.inbox(inboxTokenGone)
	const newToken = "EAAnew-system-user-token-0123456789"
	issueNewToken(t, e.sim, expired.WABAID, newToken)
	admin := e.login("admin@reg.test")
	csrf := admin.csrf(regPath(expired, ""))
	if resp, _ := admin.post(regPath(expired, "/reconnect"), url.Values{"_csrf": {csrf}, "access_token": {newToken}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reconnect: want 303, got %d", resp.StatusCode)
	}
	if got, _ := e.store.InboxByID(context.Background(), expired.ID); got.MetaCheck != db.MetaCheckPassed {
		t.Errorf("reconnect of an inbox not checked yet: want it checked with the new token, got %q", got.MetaCheck)
	}
	pinInbox := e.inbox(regPINSetInbox)
	if code, _, raw := e.apiDo(http.MethodPost, e.admin.APIAccessToken, "/api/v1/accounts/"+itoa(e.admin.AccountID)+"/inboxes/"+itoa(pinInbox.ID)+"/pin",
		`{"pin":"246810"}`); code != http.StatusOK {
		t.Fatalf("give the PIN: want 200, got %d %s", code, raw)
	}
	for _, c := range []struct {
		in           db.Inbox
		action, want string
	}{
		{expired, db.ChangeReconnected, "admin@reg.test"},
		{pinInbox, db.ChangePINProvided, "API token of admin@reg.test"},
	} {
		log := e.changeLog(c.in.ID)
		if len(log) != 1 || log[0].Action != c.action || log[0].Actor.Name != c.want {
			t.Errorf("%s: want one %s entry by %q, got %+v", c.in.Name, c.action, c.want, log)
		}
		_, doc, body := admin.getDoc(regPath(c.in, ""))
		if row := doc.Find(`[data-testid="change-row"]`).Text(); !strings.Contains(row, "(not shown)") || strings.Contains(body, newToken) || strings.Contains(body, "246810") {
			t.Errorf("%s: want the change shown with its secret named and never its value, got %q", c.in.Name, row)
		}
	}
	e.reg.Wait()
}
