package graphsim

import (
	"net/http"
	"testing"
)

// What Meta answers a token about numbers and business accounts it may or may not see:
// the answers the app's check before saving an inbox relies on (health/metacheck.go).
func TestTokenAccessToNumbersAndBusinessAccounts(t *testing.T) {
	sim, ts, _ := newSim(t)
	for _, b := range []Business{
		// One system user's token sees two business accounts; another sees a third.
		{WABAID: "201", Name: "North", AccessToken: "tok-system-user"},
		{WABAID: "202", Name: "South", AccessToken: "tok-system-user"},
		{WABAID: "203", Name: "Elsewhere", AccessToken: "tok-elsewhere"},
		{WABAID: "204", Name: "No permission", AccessToken: "tok-no-permission", TokenLacksPermission: "whatsapp_business_management"},
	} {
		if err := sim.AddBusiness(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []Number{
		{PhoneNumber: "+15550100011", PhoneNumberID: "101", WABAID: "201"},
		{PhoneNumber: "+15550100012", PhoneNumberID: "102", WABAID: "202"},
		{PhoneNumber: "+15550100013", PhoneNumberID: "103", WABAID: "203"},
		{PhoneNumber: "+15550100014", PhoneNumberID: "104", WABAID: "204"},
	} {
		if err := sim.AddNumber(n); err != nil {
			t.Fatal(err)
		}
	}

	// A number of the other business account the same token sees reads fine on its own,
	// and is missing from this account's list: the list is what says where it belongs.
	wantOK(t, call(t, ts, http.MethodGet, "/v24.0/102", "tok-system-user", ""))
	list := call(t, ts, http.MethodGet, "/v24.0/201/phone_numbers", "tok-system-user", "")
	wantOK(t, list)
	data, _ := list.body["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["id"] != "101" {
		t.Errorf("WABA 201's list: want only number 101, got %s", list.raw)
	}

	// A number or business account of another token's business: 100/33, as for an id
	// that does not exist, answered as a GraphMethodException (wantError checks the type).
	for _, path := range []string{"/v24.0/103", "/v24.0/203/phone_numbers", "/v24.0/999", "/v24.0/999/phone_numbers"} {
		wantError(t, call(t, ts, http.MethodGet, path, "tok-system-user", ""), http.StatusBadRequest, CodeInvalidParameter, SubcodeUnknownObject)
	}

	// A token Meta never issued: 190. One without a needed permission: 200, on every call.
	wantError(t, call(t, ts, http.MethodGet, "/v24.0/101", "tok-unknown", ""), http.StatusUnauthorized, CodeAccessToken, 0)
	for _, path := range []string{"/v24.0/104", "/v24.0/204/phone_numbers"} {
		e := wantError(t, call(t, ts, http.MethodGet, path, "tok-no-permission", ""), http.StatusForbidden, CodeAPIPermission, 0)
		if details, _ := e["error_data"].(map[string]any)["details"].(string); details == "" {
			t.Errorf("%s: want the missing permission named in error_data.details, got %v", path, e)
		}
	}
}
