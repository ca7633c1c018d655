package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// The "import_waba" scenario: Seaside Clinics has three numbers at Meta; only the first
// is connected (seeded) as an inbox.
const (
	seasideWABA       = "209876543210012"
	seasideToken      = "EAAsim-demo-token-seaside-clinics"
	seasideConnected  = "109876543210016"
	seasideDental     = "109876543210017"
	seasidePharmacy   = "109876543210018"
	seasideFrontDesk  = "Seaside Clinics — Front Desk"
	seasideDentalName = "Seaside Clinics Dental"
)

func importPath(accountID int64, suffix string) string {
	return "/accounts/" + itoa(accountID) + "/inboxes/import" + suffix
}

func TestImportFromABusinessAccountForm(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "import_waba")
	if err := e.sim.AddBusiness(graphsim.Business{WABAID: otherWABA, Name: "Other Co", AccessToken: "EAAsim-other-company-token-0123"}); err != nil {
		t.Fatal(err)
	}
	admin := e.login("admin@reg.test")
	acct := e.admin.AccountID
	_, doc, _ := admin.getDoc("/accounts/" + itoa(acct) + "/inboxes")
	if href, _ := doc.Find(`[data-testid="import-inboxes"]`).Attr("href"); href != importPath(acct, "") {
		t.Fatalf("the inbox list must link to the import, got %q", href)
	}
	csrf := admin.csrf(importPath(acct, ""))

	// Step 1 refused: each problem next to its field, the token never shown back.
	for _, c := range []struct{ name, field, waba, token string }{
		{"a token Meta never issued", "access_token", seasideWABA, "EAAnever-issued-by-meta-0123"},
		{"a business account the token cannot see", "waba_id", otherWABA, seasideToken},
		{"an id in the wrong format", "waba_id", "2098-7654", seasideToken},
	} {
		resp, body := admin.post(importPath(acct, "/numbers"), url.Values{"_csrf": {csrf}, "waba_id": {c.waba}, "access_token": {c.token}}, nil)
		doc := admin.parse(body)
		if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="error-`+c.field+`"]`).Length() != 1 {
			t.Errorf("%s: want 422 with the problem next to %s, got %d %q", c.name, c.field, resp.StatusCode, doc.Find(`.field-error`).Text())
			continue
		}
		assertInlineError(t, doc, "import-", c.field, c.name)
		if strings.Contains(body, c.token) {
			t.Errorf("%s: the token must never be rendered", c.name)
		}
	}

	// Step 1: the business account's numbers, the connected one marked and not tickable.
	resp, body := admin.post(importPath(acct, "/numbers"), url.Values{"_csrf": {csrf}, "waba_id": {seasideWABA}, "access_token": {seasideToken}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list the numbers: want 200, got %d", resp.StatusCode)
	}
	if strings.Contains(body, seasideToken) {
		t.Fatal("the listing page must not carry the token in clear")
	}
	doc = admin.parse(body)
	rows := doc.Find(`[data-testid="import-row"]`)
	if rows.Length() != 3 {
		t.Fatalf("want the 3 numbers of the business account, got %d", rows.Length())
	}
	connected := doc.Find(`[data-testid="import-row"][data-phone-number-id="` + seasideConnected + `"]`)
	if _, disabled := connected.Find(`input[name="pick"]`).Attr("disabled"); !disabled || !strings.Contains(connected.Text(), seasideFrontDesk) {
		t.Errorf("the connected number: want it marked with its inbox and not tickable, got %q", connected.Text())
	}
	dental := doc.Find(`[data-testid="import-row"][data-phone-number-id="` + seasideDental + `"]`)
	if name, _ := dental.Find(`input[name="name_` + seasideDental + `"]`).Attr("value"); name != seasideDentalName {
		t.Errorf("want the inbox name prefilled from the verified name, got %q", name)
	}
	if dental.Find(`[data-testid="overall-status"]`).Length() != 1 || dental.Find(`[data-field="quality_rating"]`).Length() != 1 {
		t.Error("want each number's health badges")
	}
	sealed, _ := doc.Find(`input[name="sealed"]`).Attr("value")

	// A tampered or foreign seal is refused.
	for name, s := range map[string]string{"tampered": sealed[:len(sealed)-4] + "AAAA", "empty": ""} {
		resp, _ := admin.post(importPath(acct, ""), url.Values{"_csrf": {csrf}, "sealed": {s}, "pick": {seasideDental}}, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s seal: want 422, got %d", name, resp.StatusCode)
		}
	}
	other := e.login("admin@other.test")
	otherCSRF := other.csrf(importPath(e.other.AccountID, ""))
	if resp, _ := other.post(importPath(e.other.AccountID, ""), url.Values{"_csrf": {otherCSRF}, "sealed": {sealed}, "pick": {seasideDental}}, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("another account's administrator replaying the seal: want 422, got %d", resp.StatusCode)
	}
	// A name that would be refused sends the list back, nothing added.
	before := e.inboxCount()
	resp, body = admin.post(importPath(acct, ""), url.Values{"_csrf": {csrf}, "sealed": {sealed}, "pick": {seasideDental, seasidePharmacy},
		"name_" + seasideDental: {"\u202eDental"}, "name_" + seasidePharmacy: {"Pharmacy"}}, nil)
	doc = admin.parse(body)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="import-problem"]`).Length() != 1 || e.inboxCount() != before {
		t.Fatalf("a name with a text-direction override: want 422 with the problem next to it and nothing added, got %d", resp.StatusCode)
	}
	if v, _ := doc.Find(`input[name="name_` + seasidePharmacy + `"]`).Attr("value"); v != "Pharmacy" {
		t.Errorf("the list must come back as it was sent, got name %q", v)
	}

	// Step 2: the ticked numbers become inboxes, set up and checked.
	resp, _ = admin.post(importPath(acct, ""), url.Values{"_csrf": {csrf}, "sealed": {sealed}, "pick": {seasideDental, seasidePharmacy},
		"name_" + seasideDental: {""}, "name_" + seasidePharmacy: {"Seaside — Pharmacy"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/"+itoa(acct)+"/inboxes" {
		t.Fatalf("import: want 303 to the inbox list, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, doc, _ = admin.getDoc("/accounts/" + itoa(acct) + "/inboxes")
	if flash := doc.Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "Added 2 inboxes") {
		t.Errorf("want the import summed up, got %q", flash)
	}
	e.reg.Wait()
	for id, name := range map[string]string{seasideDental: seasideDentalName, seasidePharmacy: "Seaside — Pharmacy"} {
		in := e.inboxByPhoneNumberID(id)
		if in.Name != name || in.AccountID != acct || in.WABAID != seasideWABA || in.MetaCheck != db.MetaCheckPassed {
			t.Errorf("imported %s: want %q checked in this account, got %+v", id, name, in)
		}
		if s, _ := e.store.Secrets(context.Background(), in.ID); s.AccessToken != seasideToken {
			t.Errorf("imported %s: want the import's token stored", id)
		}
		if log := e.changeLog(in.ID); len(log) != 1 || log[0].Action != db.ChangeImported || log[0].Actor.Name != "admin@reg.test" {
			t.Errorf("imported %s: want one change-log entry, got %+v", id, log)
		}
	}
	// Set up as usual: the never-registered number got registered by its setup.
	if n := e.sim.CountRequests(http.MethodPost, "/"+seasidePharmacy+"/register"); n != 1 {
		t.Errorf("the imported pending number: want its setup to register it once, got %d register calls", n)
	}
	// Replaying the same list adds nothing twice.
	resp, _ = admin.post(importPath(acct, ""), url.Values{"_csrf": {csrf}, "sealed": {sealed}, "pick": {seasideDental}}, nil)
	_, doc, _ = admin.getDoc("/accounts/" + itoa(acct) + "/inboxes")
	if flash := doc.Find(`[data-testid="flash"]`).Text(); resp.StatusCode != http.StatusSeeOther || !strings.Contains(flash, "already connected") {
		t.Errorf("a second import of the same number: want it skipped as connected, got %d %q", resp.StatusCode, flash)
	}
}

func TestImportAPI(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t, "import_waba")
	path := "/api/v1/accounts/" + itoa(e.admin.AccountID) + "/inboxes/import"
	for _, c := range []struct {
		name, body, typ, field string
		status                 int
	}{
		{"no token", `{"waba_id":"` + seasideWABA + `"}`, "invalid", "access_token", http.StatusUnprocessableEntity},
		{"an empty id list", `{"waba_id":"` + seasideWABA + `","access_token":"` + seasideToken + `","phone_number_ids":[]}`, "invalid", "phone_number_ids", http.StatusUnprocessableEntity},
		{"a malformed id", `{"waba_id":"` + seasideWABA + `","access_token":"` + seasideToken + `","phone_number_ids":["12a"]}`, "invalid", "phone_number_ids", http.StatusUnprocessableEntity},
		{"a token Meta refuses", `{"waba_id":"` + seasideWABA + `","access_token":"EAAnever-issued-by-meta-0123"}`, "refused_by_meta", "access_token", http.StatusUnprocessableEntity},
		{"a business account the token cannot see", `{"waba_id":"209876543210001","access_token":"` + seasideToken + `"}`, "refused_by_meta", "waba_id", http.StatusUnprocessableEntity},
		{"a portfolio that does not own the business account", `{"waba_id":"` + seasideWABA + `","business_id":"309999999999999","access_token":"` + seasideToken + `"}`, "refused_by_meta", "business_id", http.StatusUnprocessableEntity},
	} {
		code, out, raw := e.apiDo(http.MethodPost, e.admin.APIAccessToken, path, c.body)
		errObj, _ := out["error"].(map[string]any)
		if code != c.status || errObj["type"] != c.typ || fieldErrors(t, out)[c.field] == nil {
			t.Errorf("%s: want %d %s on %s, got %d %s", c.name, c.status, c.typ, c.field, code, raw)
		}
	}
	if code, _, _ := e.apiDo(http.MethodPost, e.agent.APIAccessToken, path, `{}`); code != http.StatusForbidden {
		t.Errorf("agent: want 403, got %d", code)
	}
	if code, _, _ := e.apiDo(http.MethodPost, e.other.APIAccessToken, path, `{}`); code != http.StatusNotFound {
		t.Errorf("another account's path: want 404, got %d", code)
	}

	// Explicit ids: one of the business account, one that is not.
	code, out, raw := e.apiDo(http.MethodPost, e.admin.APIAccessToken, path,
		`{"waba_id":"`+seasideWABA+`","access_token":"`+seasideToken+`","phone_number_ids":["`+seasideDental+`","109999999999999"]}`)
	created, _ := out["created"].([]any)
	skipped, _ := out["skipped"].([]any)
	if code != http.StatusCreated || len(created) != 1 || len(skipped) != 1 ||
		skipped[0].(map[string]any)["phone_number_id"] != "109999999999999" || !strings.Contains(skipped[0].(map[string]any)["reason"].(string), "not a phone number") {
		t.Fatalf("explicit ids: want 201 with 1 created and the unknown id skipped with why, got %d %s", code, raw)
	}
	if c := created[0].(map[string]any); c["name"] != seasideDentalName || c["meta_check"] != "passed" || c["phone_number"] != "+14155550162" {
		t.Errorf("created: want the verified name, the E.164 number and the check, got %v", c)
	}
	if strings.Contains(raw, seasideToken) {
		t.Error("the token must never be echoed")
	}
	// No ids: every number; the two connected now are skipped with the reason.
	code, out, raw = e.apiDo(http.MethodPost, e.admin.APIAccessToken, path, `{"waba_id":"`+seasideWABA+`","access_token":"`+seasideToken+`"}`)
	created, _ = out["created"].([]any)
	skipped, _ = out["skipped"].([]any)
	if code != http.StatusCreated || len(created) != 1 || created[0].(map[string]any)["phone_number_id"] != seasidePharmacy || len(skipped) != 2 {
		t.Fatalf("all numbers: want the one left created and the 2 connected skipped, got %d %s", code, raw)
	}
	for _, s := range skipped {
		if reason := s.(map[string]any)["reason"].(string); !strings.Contains(reason, "already connected to inbox") {
			t.Errorf("skipped: want the reason to say already connected, got %q", reason)
		}
	}
	// Nothing left: 200, nothing created.
	if code, out, _ := e.apiDo(http.MethodPost, e.admin.APIAccessToken, path, `{"waba_id":"`+seasideWABA+`","access_token":"`+seasideToken+`"}`); code != http.StatusOK || len(out["created"].([]any)) != 0 {
		t.Errorf("nothing left to import: want 200 with nothing created, got %d %v", code, out)
	}
	e.reg.Wait()
}

// The import follows Meta's paging: a business account with more numbers than one page
// (the client asks for 100 a page) lists them all.
func TestImportListsEveryPage(t *testing.T) {
	t.Parallel()
	e := newRegEnv(t)
	const waba, token = "209876543218000", "EAAsim-big-business-token-0123"
	if err := e.sim.AddBusiness(graphsim.Business{WABAID: waba, Name: "Big Co", AccessToken: token}); err != nil {
		t.Fatal(err)
	}
	const total = 130
	for i := range total {
		if err := e.sim.AddNumber(graphsim.Number{PhoneNumber: fmt.Sprintf("+1555018%04d", i), PhoneNumberID: fmt.Sprintf("1098765432%05d", 80000+i), WABAID: waba}); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.login("admin@reg.test")
	csrf := admin.csrf(importPath(e.admin.AccountID, ""))
	resp, body := admin.post(importPath(e.admin.AccountID, "/numbers"), url.Values{"_csrf": {csrf}, "waba_id": {waba}, "access_token": {token}}, nil)
	doc := admin.parse(body)
	if resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="import-row"]`).Length() != total {
		t.Fatalf("want all %d numbers listed, got %d (%d)", total, doc.Find(`[data-testid="import-row"]`).Length(), resp.StatusCode)
	}
	if pages := e.sim.CountRequests(http.MethodGet, "/"+waba+"/phone_numbers"); pages != 2 {
		t.Errorf("want the 2 pages read, got %d requests", pages)
	}
}
