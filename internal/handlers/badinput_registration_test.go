package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBadInputRegistrationAPI: bodies the registration API cannot take are refused
// with a 4xx before any registration starts: no attempt, no lease, no PIN, no call to Meta.
func TestBadInputRegistrationAPI(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	ours := env.admin.AccountID
	path := fmt.Sprintf("/api/v1/accounts/%d/inboxes/%d/registration", ours, env.inbox.ID)
	registerPath := "/" + env.inbox.PhoneNumberID + "/register"
	cases := []struct {
		name, contentType, body string
		want                    []int
	}{
		{"truncated", "application/json", `{"confirm":`, []int{400}},
		{"not json", "application/json", `confirm=1`, []int{400}},
		{"wrong type", "application/json", `{"confirm":"yes"}`, []int{400}},
		{"number for bool", "application/json", `{"confirm":1}`, []int{400}},
		{"unknown field", "application/json", `{"pin":"123456"}`, []int{400}},
		{"array", "application/json", `[true]`, []int{400}},
		{"trailing data", "application/json", `{} {}`, []int{400}},
		{"deeply nested", "application/json", strings.Repeat("[", 100_000), []int{400}},
		{"1 MB", "application/json", `{"confirm":true,"x":"` + strings.Repeat("a", 1<<20) + `"}`, []int{413}},
		{"text/plain", "text/plain", `{"confirm":true}`, []int{415}},
	}
	for _, c := range cases {
		before := env.rows()
		resp := env.api(http.MethodPost, path, c.contentType, c.body)
		assertClear4xx(t, "registration API "+c.name, resp, c.want...)
		env.assertNothingStored(before, "registration API "+c.name)
	}
	for _, p := range []string{
		fmt.Sprintf("/api/v1/accounts/%d/inboxes/%d/registration", ours, env.otherInbox.ID),
		fmt.Sprintf("/api/v1/accounts/%d/inboxes/%d/registration", env.other.AccountID, env.otherInbox.ID),
		fmt.Sprintf("/api/v1/accounts/%d/inboxes/999999/registration", ours),
		fmt.Sprintf("/api/v1/accounts/%d/inboxes/abc/registration", ours),
		fmt.Sprintf("/api/v1/accounts/%d/inboxes/-1/registration", ours),
	} {
		before := env.rows()
		resp := env.api(http.MethodPost, p, "", "")
		assertClear4xx(t, "POST "+p, resp, http.StatusNotFound)
		env.assertNothingStored(before, "POST "+p)
	}
	if n := env.Sim.CountRequests(http.MethodPost, registerPath); n != 0 {
		t.Fatalf("bad registration requests: want no register call to Meta, got %d", n)
	}
	if n := env.Sim.CountRequests(http.MethodPost, "/"+env.otherInbox.PhoneNumberID+"/register"); n != 0 {
		t.Fatalf("registration requests on another account's inbox: want no register call to Meta, got %d", n)
	}
	env.assertStillServing()
}

// TestBadInputPINForm: the existing-PIN form takes exactly 6 ASCII digits. Anything
// else is answered with the form's message and stores nothing: no PIN, no attempt, no
// register call.
func TestBadInputPINForm(t *testing.T) {
	t.Parallel()
	env := newBadinputEnv(t)
	path := fmt.Sprintf("/accounts/%d/inboxes/%d/pin", env.admin.AccountID, env.inbox.ID)
	// The form is offered when Meta holds a PIN we do not know.
	if err := env.Store.SetPINState(context.Background(), env.inbox.ID, "mismatch"); err != nil {
		t.Fatal(err)
	}
	pins := []string{"", "12345", "1234567", "abcdef", "12 456", "１２３４５６", "١٢٣٤٥٦", "123456\x00", "12345\x00",
		"-12345", "+12345", "1e5000", "123'56", "' OR '1'='1", "<script>", "../../", "\u202e123456", strings.Repeat("1", 100<<10)}
	for _, pin := range pins {
		label := fmt.Sprintf("PIN %q", pin[:min(len(pin), 20)])
		for _, htmx := range []bool{false, true} {
			before := env.rows()
			req, _ := http.NewRequest(http.MethodPost, env.URL+path, strings.NewReader(url.Values{"pin": {pin}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if htmx {
				req.Header.Set(headerHXRequest, "true")
			}
			resp := env.do(env.browser, req)
			switch {
			case resp.StatusCode >= 500:
				t.Errorf("%s (htmx %v): want the form's message, got %d", label, htmx, resp.StatusCode)
			case htmx && !strings.Contains(resp.Body, `data-testid="pin-error"`):
				t.Errorf("%s (htmx): want the banner back with the PIN error shown, got %d %.300s", label, resp.StatusCode, resp.Body)
			case !htmx && resp.StatusCode != http.StatusSeeOther && (resp.StatusCode < 400 || resp.StatusCode > 499):
				t.Errorf("%s: want a redirect back with the message or a 4xx, got %d", label, resp.StatusCode)
			}
			env.assertNothingStored(before, label)
		}
		secrets, err := env.Store.Secrets(context.Background(), env.inbox.ID)
		if err != nil || secrets.PIN != "" {
			t.Fatalf("%s: want no PIN stored, got %d characters (%v)", label, len(secrets.PIN), err)
		}
	}
	if n := env.Sim.CountRequests(http.MethodPost, "/"+env.inbox.PhoneNumberID+"/register"); n != 0 {
		t.Fatalf("bad PINs: want no register call to Meta, got %d", n)
	}
	// Another account's inbox, or none: 404 whatever the PIN.
	for _, p := range []string{
		fmt.Sprintf("/accounts/%d/inboxes/%d/pin", env.admin.AccountID, env.otherInbox.ID),
		fmt.Sprintf("/accounts/%d/inboxes/%d/pin", env.other.AccountID, env.otherInbox.ID),
		fmt.Sprintf("/accounts/%d/inboxes/abc/pin", env.admin.AccountID),
		fmt.Sprintf("/accounts/%d/inboxes/%d/registration", env.admin.AccountID, env.otherInbox.ID),
	} {
		before := env.rows()
		resp := env.form(env.browser, p, url.Values{"pin": {"123456"}})
		assertClear4xx(t, "POST "+p, resp, http.StatusNotFound)
		env.assertNothingStored(before, "POST "+p)
	}
	if s, _ := env.Store.Secrets(context.Background(), env.otherInbox.ID); s.PIN != "" {
		t.Fatal("PIN form on another account's inbox: want their PIN untouched, one was stored")
	}
	env.assertStillServing()
}
