package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/views"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// The Account Health tab with its history chart, logged in, served from the stored
// snapshot and change history (no Graph call): an inbox with a month of snapshots
// (every 6 hours) and a quality dip, and one whose quality flapped 200 times in 400 days.
//
//	go test ./internal/handlers -run '^$' -bench 'HealthPage' -benchtime 2s
func BenchmarkHealthPage(b *testing.B) {
	env := newHealthEnv(b)
	ctx := context.Background()
	now := time.Now().UTC()
	add := func(name string, i int, points int, every time.Duration, quality func(k int) string) db.Inbox {
		in, err := env.store.CreateInbox(ctx, db.NewInbox{AccountID: env.admin.AccountID, Name: name,
			PhoneNumber: fmt.Sprintf("+1555777%04d", i), PhoneNumberID: fmt.Sprintf("1777%010d", i), WABAID: "2777", AccessToken: "EAAG-bench"})
		if err != nil {
			b.Fatal(err)
		}
		if err := env.store.BackdateInbox(ctx, in.ID, now.Add(-time.Duration(points)*every-time.Hour)); err != nil {
			b.Fatal(err)
		}
		var snaps []db.HealthSnapshot
		for k := range points {
			phone := benchPhone("CONNECTED", quality(k), "AVAILABLE", "CLOUD_API")
			// The newest a minute old: fresh, so the page calls nobody.
			at := now.Add(-time.Duration(points-1-k)*every - time.Minute)
			snap := db.HealthSnapshot{InboxID: in.ID, CheckedAt: at, OK: true, Phone: &phone, Source: db.SourceSweep}
			snap.OverallStatus = health.OverallOf(&snap).Code
			snaps = append(snaps, snap)
		}
		if _, err := env.store.AddSnapshots(ctx, snaps); err != nil {
			b.Fatal(err)
		}
		return in
	}
	month := add("Month", 1, 120, 6*time.Hour, func(k int) string {
		if k >= 40 && k < 48 {
			return "YELLOW"
		}
		return "GREEN"
	})
	flapping := add("Flapping", 2, 400, 24*time.Hour, func(k int) string {
		if k%2 == 1 {
			return "YELLOW"
		}
		return "GREEN"
	})
	session := env.login("admin@health.test")
	// One view through the cookie jar first, as a browser does: the cookie then remembers
	// the account, so the measured views do not each write it again.
	resp, err := session.client.Get(env.srv.URL + views.InboxHealthURL(month.AccountID, month.ID))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	cookies := session.client.Jar.Cookies(mustParseURL(b, env.srv.URL))
	for _, c := range []struct{ name, path string }{
		{"month/default", views.InboxHealthURL(month.AccountID, month.ID)},
		{"month/400d", views.HealthChartURL(month.AccountID, month.ID, "400d")},
		{"flapping/400d", views.HealthChartURL(flapping.AccountID, flapping.ID, "400d")},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, c.path, nil)
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
				rec := httptest.NewRecorder()
				env.routes.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: want 200, got %d", c.path, rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size)/1024, "KiB/page")
		})
	}
}
