package whatsapp

import "testing"

// FuzzParseWebhook feeds arbitrary bodies through everything the webhook receiver
// does with one. Whatever Meta (or anyone who can reach the endpoint) sends, nothing
// may panic.
func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{
		"webhook_account_update_restriction.json",
		"webhook_name_update_approved.json",
		"webhook_quality_update.json",
	} {
		f.Add(readDomainFixtureBytes(f, name))
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"id":1,"time":"2025-10-10T10:00:00+0000","changes":[{"field":"account_update","value":{"phone_number":14155550142,"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"DISABLE"},"restriction_info":[{"expiration":"1e400"}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"phone_number_name_update","value":null}]}]}`))
	f.Add([]byte(`[[[[[[[[[[`))

	stored := readDomainPhoneFixture(f, "phone_pending_provisioning.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		VerifySignature("secret", body, string(body))
		p, err := ParseWebhook(body)
		if err != nil {
			if p != nil {
				t.Fatalf("ParseWebhook() = %+v with error %v, want nil payload on error", p, err)
			}
			return
		}
		if p.Object != WebhookObject {
			t.Fatalf("ParseWebhook() accepted object %q", p.Object)
		}
		for _, e := range p.Entry {
			for _, c := range e.Changes {
				_ = c.DisplayPhoneNumber()
				_ = IsApprovedNameUpdate(c)
				_, _ = c.QualityUpdate()
				_, _ = c.AccountUpdate()
				_, _ = c.AccountReviewUpdate()
				updated, _ := ApplyWebhookChange(stored, c)
				_ = Decide(&updated)
				_ = DeriveOverallStatus(&updated, nil, KindNone)
				_ = HealthBadges(updated)
			}
		}
	})
}
