package whatsapp

import (
	"strings"
	"testing"
)

// TestFieldBadgeKnownValues covers every enum value DESIGN.md lists, per field.
func TestFieldBadgeKnownValues(t *testing.T) {
	tests := []struct {
		field, value, text string
		tone               Tone
	}{
		{"code_verification_status", "VERIFIED", "Verified", ToneGreen},
		{"code_verification_status", "NOT_VERIFIED", "Not verified", ToneAmber},
		{"code_verification_status", "EXPIRED", "Expired", ToneRed},

		{"name_status", "APPROVED", "Approved", ToneGreen},
		{"name_status", "AVAILABLE_WITHOUT_REVIEW", "Available without review", ToneGreen},
		{"name_status", "PENDING_REVIEW", "Pending review", ToneAmber},
		{"name_status", "DECLINED", "Declined", ToneRed},
		{"name_status", "EXPIRED", "Expired", ToneRed},
		{"name_status", "NONE", "None", ToneRed},
		{"name_status", "NON_EXISTS", "Missing", ToneRed},

		{"platform_type", "CLOUD_API", "Cloud API", ToneGreen},
		{"platform_type", "ON_PREMISE", "On-Premises API", ToneGrey},
		{"platform_type", "NOT_APPLICABLE", "Not registered", ToneAmber},

		{"throughput", "STANDARD", "Standard", ToneGreen},
		{"throughput", "HIGH", "High", ToneGreen},
		{"throughput", "NOT_APPLICABLE", "Not applicable", ToneAmber},

		{"status", "CONNECTED", "Connected", ToneGreen},
		{"status", "PENDING", "Pending", ToneAmber},
		{"status", "FLAGGED", "Flagged", ToneAmber},
		{"status", "RESTRICTED", "Restricted", ToneAmber},
		{"status", "RATE_LIMITED", "Rate limited", ToneAmber},
		{"status", "BANNED", "Banned", ToneRed},
		{"status", "DISCONNECTED", "Disconnected", ToneRed},
		{"status", "DELETED", "Deleted", ToneRed},
		{"status", "MIGRATED", "Migrated", ToneGrey},
		{"status", "UNVERIFIED", "Unverified", ToneAmber},
		{"status", "UNKNOWN", "Unknown", ToneGrey},

		{"quality_rating", "GREEN", "Green", ToneGreen},
		{"quality_rating", "YELLOW", "Yellow", ToneAmber},
		{"quality_rating", "RED", "Red", ToneRed},
		{"quality_rating", "NA", "Not rated", ToneGrey},
		{"quality_rating", "UNKNOWN", "Unknown", ToneGrey},

		{"messaging_limit_tier", "TIER_50", "50 a day", ToneGreen},
		{"messaging_limit_tier", "TIER_250", "250 a day", ToneGreen},
		{"messaging_limit_tier", "TIER_1K", "1,000 a day", ToneGreen},
		{"messaging_limit_tier", "TIER_2K", "2,000 a day", ToneGreen},
		{"messaging_limit_tier", "TIER_10K", "10,000 a day", ToneGreen},
		{"messaging_limit_tier", "TIER_100K", "100,000 a day", ToneGreen},
		{"messaging_limit_tier", "TIER_UNLIMITED", "Unlimited", ToneGreen},
		{"messaging_limit_tier", "UNTIERED", "Untiered", ToneGrey},
		{"messaging_limit_tier", "TIER_NOT_SET", "Not set", ToneGrey},

		{"account_mode", "LIVE", "Live", ToneGreen},
		{"account_mode", "SANDBOX", "Sandbox", ToneGrey},

		{"can_send_message", "AVAILABLE", "Available", ToneGreen},
		{"can_send_message", "LIMITED", "Limited", ToneAmber},
		{"can_send_message", "BLOCKED", "Blocked", ToneRed},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			got := FieldBadge(tt.field, tt.value)
			if got.Field != tt.field || got.Value != tt.value || got.Text != tt.text || got.Tone != tt.tone {
				t.Errorf("FieldBadge(%q, %q) = field %q value %q text %q tone %q, want field %q value %q text %q tone %q",
					tt.field, tt.value, got.Field, got.Value, got.Text, got.Tone, tt.field, tt.value, tt.text, tt.tone)
			}
			if got.Label == "" || got.Label == tt.field {
				t.Errorf("FieldBadge(%q, %q).Label = %q, want a human label", tt.field, tt.value, got.Label)
			}
			if got.Tooltip == "" || strings.Contains(got.Tooltip, unknownValueNote) {
				t.Errorf("FieldBadge(%q, %q).Tooltip = %q, want the meaning of a known value", tt.field, tt.value, got.Tooltip)
			}
		})
	}
}

func TestFieldBadgeUnknownAndEmptyValues(t *testing.T) {
	fields := []string{
		"quality_rating", "name_status", "code_verification_status", "platform_type",
		"throughput", "status", "account_mode", "messaging_limit_tier", "can_send_message",
	}
	for _, field := range fields {
		t.Run(field+"/unknown", func(t *testing.T) {
			got := FieldBadge(field, "BRAND_NEW_VALUE")
			if got.Value != "BRAND_NEW_VALUE" || got.Text != "BRAND_NEW_VALUE" || got.Tone != ToneGrey {
				t.Errorf("FieldBadge(%q, unknown) = value %q text %q tone %q, want the raw value in grey", field, got.Value, got.Text, got.Tone)
			}
			if !strings.Contains(got.Tooltip, unknownValueNote) {
				t.Errorf("FieldBadge(%q, unknown).Tooltip = %q, want it to contain %q", field, got.Tooltip, unknownValueNote)
			}
		})
		t.Run(field+"/empty", func(t *testing.T) {
			got := FieldBadge(field, "")
			if got.Value != "—" || got.Tone != ToneGrey || got.Text == "" {
				t.Errorf("FieldBadge(%q, \"\") = value %q text %q tone %q, want value \"—\", some text, grey", field, got.Value, got.Text, got.Tone)
			}
		})
	}
}

func TestFieldBadgePerFieldSemantics(t *testing.T) {
	// The same word means different things in different fields.
	tests := []struct {
		field, value string
		tone         Tone
	}{
		{"name_status", "EXPIRED", ToneRed},
		{"code_verification_status", "EXPIRED", ToneRed},
		{"platform_type", "NOT_APPLICABLE", ToneAmber},
		{"throughput", "NOT_APPLICABLE", ToneAmber},
		{"status", "UNKNOWN", ToneGrey},
		{"quality_rating", "UNKNOWN", ToneGrey},
		{"name_status", "GREEN", ToneGrey},   // a quality value in the wrong field is unknown
		{"quality_rating", "LIVE", ToneGrey}, // and so is an account mode
		{"status", "approved", ToneGrey},     // values are case-sensitive, as Meta sends them
	}
	for _, tt := range tests {
		if got := FieldBadge(tt.field, tt.value); got.Tone != tt.tone {
			t.Errorf("FieldBadge(%q, %q).Tone = %q, want %q", tt.field, tt.value, got.Tone, tt.tone)
		}
	}
}

func TestFieldBadgeUnknownField(t *testing.T) {
	got := FieldBadge("new_field", "X")
	if got.Label != "new_field" || got.Text != "X" || got.Tone != ToneGrey {
		t.Errorf("FieldBadge(unknown field) = %+v, want the field name as label, raw text, grey", got)
	}
}

func TestHealthBadgesOrderAndSources(t *testing.T) {
	p := readDomainPhoneFixture(t, "phone_connected.json")
	got := HealthBadges(p)
	want := []struct{ field, value string }{
		{"status", "CONNECTED"},
		{"can_send_message", "AVAILABLE"},
		{"name_status", "APPROVED"},
		{"code_verification_status", "VERIFIED"},
		{"platform_type", "CLOUD_API"},
		{"throughput", "STANDARD"},
		{"quality_rating", "GREEN"},
		{"messaging_limit_tier", "TIER_2K"}, // the v24 field wins over the deprecated one
		{"account_mode", "LIVE"},
	}
	if len(got) != len(want) {
		t.Fatalf("HealthBadges() returned %d badges, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Field != w.field || got[i].Value != w.value {
			t.Errorf("HealthBadges()[%d] = %s=%s, want %s=%s", i, got[i].Field, got[i].Value, w.field, w.value)
		}
		if got[i].Tone != ToneGreen {
			t.Errorf("HealthBadges()[%d] (%s) tone = %q, want green for a connected number", i, w.field, got[i].Tone)
		}
	}
}

func TestHealthBadgesEdgeCases(t *testing.T) {
	t.Run("no health status and empty fields", func(t *testing.T) {
		for _, b := range HealthBadges(PhoneNumber{}) {
			if b.Value != "—" || b.Tone != ToneGrey {
				t.Errorf("badge %s = value %q tone %q, want \"—\" in grey", b.Field, b.Value, b.Tone)
			}
		}
	})
	t.Run("name change in review shows the new name's status", func(t *testing.T) {
		p := PhoneNumber{NameStatus: NameApproved, NewNameStatus: NamePendingReview}
		b := HealthBadges(p)[2]
		if b.Field != "name_status" || b.Value != NamePendingReview || !strings.Contains(b.Tooltip, "new name") {
			t.Errorf("name badge = %+v, want PENDING_REVIEW with a note about the new name", b)
		}
	})
	t.Run("deprecated limit field is used when the new one is missing", func(t *testing.T) {
		b := HealthBadges(PhoneNumber{MessagingLimitTier: "TIER_1K"})[7]
		if b.Field != "messaging_limit_tier" || b.Value != "TIER_1K" {
			t.Errorf("limit badge = %s=%s, want messaging_limit_tier=TIER_1K", b.Field, b.Value)
		}
	})
	t.Run("coexistence number gets a last badge, others do not", func(t *testing.T) {
		p := readDomainPhoneFixture(t, "phone_connected.json")
		plain := HealthBadges(p)
		p.IsOnBizApp = ptrTrue()
		coex := HealthBadges(p)
		if len(coex) != len(plain)+1 {
			t.Fatalf("coexistence badges = %d, want %d", len(coex), len(plain)+1)
		}
		last := coex[len(coex)-1]
		if last.Field != "is_on_biz_app" || last.Value != "true" || last.Tone != ToneGrey || !strings.Contains(last.Tooltip, "never registered") {
			t.Errorf("coexistence badge = %+v, want is_on_biz_app=true in grey explaining it is never registered", last)
		}
		if b := FieldBadge("is_on_biz_app", "false"); b.Tone != ToneGreen || b.Text != "Cloud API only" {
			t.Errorf("is_on_biz_app=false badge = %+v, want green Cloud API only", b)
		}
	})
	t.Run("blocked fixture", func(t *testing.T) {
		p := readDomainPhoneFixture(t, "phone_flagged_blocked.json")
		b := HealthBadges(p)
		if b[1].Value != CanSendBlocked || b[1].Tone != ToneRed {
			t.Errorf("can_send badge = %s tone %s, want BLOCKED red", b[1].Value, b[1].Tone)
		}
		if b[6].Value != "RED" || b[6].Tone != ToneRed {
			t.Errorf("quality badge = %s tone %s, want RED red", b[6].Value, b[6].Tone)
		}
	})
}

func TestEntityTitleNamesMetasEntities(t *testing.T) {
	for _, tc := range []struct{ typ, id, want string }{
		{"WABA", "2001", "WhatsApp Business Account 2001"},
		{"PHONE_NUMBER", "", "Phone number"},
		{"NEW_KIND", "7", "NEW_KIND 7"},
	} {
		if got := EntityTitle(tc.typ, tc.id); got != tc.want {
			t.Errorf("EntityTitle(%q, %q) = %q, want %q", tc.typ, tc.id, got, tc.want)
		}
	}
}
