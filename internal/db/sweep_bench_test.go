package db

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
)

// BenchmarkSweepWrites stores one snapshot for each of 1,000 inboxes per iteration, in
// transactions of 20 (a business account's numbers, as the monitor writes them), with
// nothing changed: the sweep's steady state.
func BenchmarkSweepWrites(b *testing.B) {
	path := b.TempDir() + "/app.db"
	c, _ := NewCipher("bench-secret")
	s, err := Open(context.Background(), path, c)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "a@example.com", "password1", "Acme", RoleAdministrator)
	var ids []int64
	for i := range 1000 {
		in, err := s.CreateInbox(ctx, NewInbox{AccountID: u.AccountID, Name: fmt.Sprintf("S %04d", i), PhoneNumber: fmt.Sprintf("+1555000%04d", i),
			PhoneNumberID: fmt.Sprintf("pn%d", i), WABAID: fmt.Sprintf("w%d", i/20), AccessToken: "t"})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	phone := whatsapp.PhoneNumber{Status: "CONNECTED", QualityRating: "GREEN", NameStatus: "APPROVED", PlatformType: "CLOUD_API",
		Throughput: whatsapp.Throughput{Level: "STANDARD"}, BusinessMessagingLimit: "TIER_1K", HealthStatus: &whatsapp.HealthStatus{CanSendMessage: "AVAILABLE"}}
	at := time.Now().UTC()
	b.ResetTimer()
	for b.Loop() {
		at = at.Add(time.Minute)
		for start := 0; start < len(ids); start += 20 {
			var snaps []HealthSnapshot
			for _, id := range ids[start : start+20] {
				p := phone
				snaps = append(snaps, HealthSnapshot{InboxID: id, CheckedAt: at, OK: true, Phone: &p, OverallStatus: "connected", Source: SourceSweep})
			}
			if _, err := s.AddSnapshots(ctx, snaps); err != nil {
				b.Fatal(err)
			}
		}
	}
}
