package graphsim

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The product's Graph API fixtures (Meta's documented shapes) live next door.
func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return m
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestErrorEnvelopesMatchMetasFixtures(t *testing.T) {
	sim, ts, clock := newSim(t, "demo")
	cases := []struct {
		fixture string
		provoke func() answer
	}{
		{"error_register_display_name.json", func() answer { return register(t, ts, "109876543210005", "EAAsim-demo-token-northwind", "123456") }},
		{"error_pin_mismatch.json", func() answer { return register(t, ts, pinSetID, "EAAsim-demo-token-harbor", "111111") }},
		{"error_register_rate_limited.json", func() answer { return register(t, ts, limitID, "EAAsim-demo-token-cedar", "123456") }},
		{"error_token_expired.json", func() answer {
			return call(t, ts, http.MethodGet, "/v24.0/109876543210006", "EAAsim-demo-token-lumen", "")
		}},
		{"error_rate_limit_80008.json", func() answer {
			sim.RateLimitBusiness("209876543210003", 7)
			defer sim.RateLimitBusiness("209876543210003", 0)
			return call(t, ts, http.MethodGet, "/v24.0/209876543210003/phone_numbers", "EAAsim-demo-token-padaria", "")
		}},
	}
	clock.Advance(time.Minute)
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			want := fixture(t, c.fixture)["error"].(map[string]any)
			a := c.provoke()
			got, _ := a.body["error"].(map[string]any)
			if !slices.Equal(keys(got), keys(want)) {
				t.Errorf("want error keys %v, got %v", keys(want), keys(got))
			}
			for _, k := range []string{"type", "code", "error_subcode", "is_transient", "error_user_title", "error_user_msg"} {
				if got[k] != want[k] {
					t.Errorf("want %s %v, got %v", k, want[k], got[k])
				}
			}
			wantMsg, gotMsg := str(want["message"]), str(got["message"])
			if prefix, _, _ := strings.Cut(wantMsg, ":"); !strings.HasPrefix(gotMsg, prefix) {
				t.Errorf("want message like %q, got %q", wantMsg, gotMsg)
			}
			if want["error_data"] != nil && !slices.Equal(keys(got["error_data"]), keys(want["error_data"])) {
				t.Errorf("want error_data keys %v, got %v", keys(want["error_data"]), keys(got["error_data"]))
			}
		})
	}
}

func TestNumberNodeHasTheFixturesShape(t *testing.T) {
	for _, c := range []struct{ fixture, scenario, id, token string }{
		{"phone_connected.json", "connected", "109876543210003", "EAAsim-demo-token-padaria"},
		{"phone_flagged_blocked.json", "flagged_blocked", "109876543210004", "EAAsim-demo-token-quickloans"},
		{"phone_name_in_review.json", "name_in_review", inReviewID, acmeToken},
		{"phone_pending_provisioning.json", "pending_provisioning", pendingID, acmeToken},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			want := fixture(t, c.fixture)
			_, ts, _ := newSim(t, c.scenario)
			a := call(t, ts, http.MethodGet, "/v24.0/"+c.id+"?fields="+strings.Join(keys(want), ","), c.token, "")
			wantOK(t, a)
			if !slices.Equal(keys(a.body), keys(want)) {
				t.Errorf("want keys %v, got %v", keys(want), keys(a.body))
			}
			for _, k := range []string{"name_status", "status", "platform_type", "code_verification_status", "quality_rating"} {
				if a.body[k] != want[k] {
					t.Errorf("want %s %v, got %v", k, want[k], a.body[k])
				}
			}
			if want["health_status"] == nil {
				return
			}
			wh, gh := want["health_status"].(map[string]any), a.body["health_status"].(map[string]any)
			if gh["can_send_message"] != wh["can_send_message"] {
				t.Errorf("want can_send_message %v, got %v", wh["can_send_message"], gh["can_send_message"])
			}
			we, ge := wh["entities"].([]any), gh["entities"].([]any)
			if len(we) != len(ge) {
				t.Fatalf("want %d entities, got %d", len(we), len(ge))
			}
			for i := range we {
				if !slices.Equal(keys(ge[i]), keys(we[i])) {
					t.Errorf("entity %d: want keys %v, got %v", i, keys(we[i]), keys(ge[i]))
				}
			}
		})
	}
}
