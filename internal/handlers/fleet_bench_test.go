package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// The fleet list at the scale: 10,000 inboxes in one account, each with a
// stored snapshot, statuses mixed. Page 1 and page 200 (the last, at 50 a page) should
// cost about the same, since SQLite walks the list's covering index to the page and
// reads the 50 rows' snapshots either way:
//
//	go test ./internal/handlers -run '^$' -bench 'FleetList10k' -benchtime 2s
const benchFleetSize = 10_000

// newBenchFleet builds the 10,000 inboxes (a few seconds).
func newBenchFleet(b *testing.B) *healthEnv {
	b.Helper()
	env := newHealthEnv(b)
	ctx := context.Background()
	variants := []whatsapp.PhoneNumber{
		benchPhone("CONNECTED", "GREEN", "AVAILABLE", "CLOUD_API"),
		benchPhone("CONNECTED", "YELLOW", "AVAILABLE", "CLOUD_API"),
		benchPhone("FLAGGED", "RED", "LIMITED", "CLOUD_API"),
		benchPhone("CONNECTED", "GREEN", "BLOCKED", "CLOUD_API"),
		benchPhone("PENDING", "UNKNOWN", "LIMITED", "NOT_APPLICABLE"),
	}
	var snaps []db.HealthSnapshot
	now := time.Now().UTC()
	for i := range benchFleetSize {
		in, err := env.store.CreateInbox(ctx, db.NewInbox{AccountID: env.admin.AccountID, Name: fmt.Sprintf("Support %05d", i),
			PhoneNumber: fmt.Sprintf("+1555%07d", i), PhoneNumberID: fmt.Sprintf("1%014d", i), WABAID: fmt.Sprintf("2%05d", i/20),
			AccessToken: "EAAG-bench"})
		if err != nil {
			b.Fatal(err)
		}
		phone := variants[i%len(variants)]
		snap := db.HealthSnapshot{InboxID: in.ID, CheckedAt: now, OK: true, Phone: &phone, Source: db.SourceSweep}
		snap.OverallStatus = health.OverallOf(&snap).Code
		snaps = append(snaps, snap)
		if len(snaps) == 500 {
			if _, err := env.store.AddSnapshots(ctx, snaps); err != nil {
				b.Fatal(err)
			}
			snaps = snaps[:0]
		}
	}
	return env
}

func benchPhone(status, quality, canSend, platform string) whatsapp.PhoneNumber {
	throughput := "STANDARD"
	if platform != "CLOUD_API" {
		throughput = "NOT_APPLICABLE"
	}
	return whatsapp.PhoneNumber{CodeVerificationStatus: "VERIFIED", NameStatus: "APPROVED", PlatformType: platform,
		Throughput: whatsapp.Throughput{Level: throughput}, Status: status, QualityRating: quality, BusinessMessagingLimit: "TIER_1K",
		AccountMode: "LIVE", HealthStatus: &whatsapp.HealthStatus{CanSendMessage: canSend}}
}

func BenchmarkFleetList10k(b *testing.B) {
	env := newBenchFleet(b)
	session := env.login("admin@health.test")
	cookies := session.client.Jar.Cookies(mustParseURL(b, env.srv.URL))
	list := views.InboxesURL(env.admin.AccountID)
	api := apiInboxesPath(env.admin.AccountID)
	for _, c := range []struct{ name, path, token string }{
		{"page=1", list, ""},
		{"page=200", list + "?page=200", ""},
		{"sort=name/page=1", list + "?sort=name", ""},
		{"sort=name/page=200", list + "?sort=name&page=200", ""},
		{"status=blocked/page=1", list + "?status=blocked", ""},
		{"status=blocked/page=40", list + "?status=blocked&page=40", ""},
		{"q=number/page=1", list + "?q=555000", ""},
		{"api/page=1", api + "?page=1&per_page=50", env.admin.APIAccessToken},
		{"api/page=200", api + "?page=200&per_page=50", env.admin.APIAccessToken},
		{"export.csv/all", list + "/export.csv", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, c.path, nil)
				if c.token != "" {
					req.Header.Set(headerAPIAccessToken, c.token)
				} else {
					for _, ck := range cookies {
						req.AddCookie(ck)
					}
				}
				rec := httptest.NewRecorder()
				env.routes.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: want 200, got %d", c.path, rec.Code)
				}
			}
		})
	}
}

func mustParseURL(tb testing.TB, raw string) *url.URL {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}
