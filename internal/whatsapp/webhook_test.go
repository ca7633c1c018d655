package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readDomainFixtureBytes returns a testdata file byte for byte, as a signature needs.
func readDomainFixtureBytes(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture %s: %v", name, err)
	}
	return raw
}

// signForTest computes the header Meta would send.
func signForTest(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifySignatureKnownVectors(t *testing.T) {
	// Computed independently with:
	//   openssl dgst -sha256 -hmac test-app-secret -hex < testdata/<fixture>
	tests := []struct {
		fixture, hexSum string
	}{
		{"webhook_account_update_restriction.json", "d44ba611f3ccff8bab1063f458cb58a9d9f96598e09aab6857a4ab57d5c2e677"},
		{"webhook_name_update_approved.json", "04b31ba1625d2648f287c3edb5d1f71fe6b043e606df740f777c2631ca62a683"},
		{"webhook_quality_update.json", "ab4c9184aceda4f47d66db41b80a87d28a9e82e6682ed1fcba45870afd04913b"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			body := readDomainFixtureBytes(t, tt.fixture)
			if !VerifySignature("test-app-secret", body, "sha256="+tt.hexSum) {
				t.Errorf("VerifySignature(fixture, sha256=%s) = false, want true", tt.hexSum)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	const secret = "s3cret"
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	good := signForTest(secret, body)
	goodHex := strings.TrimPrefix(good, "sha256=")

	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"valid", secret, body, good, true},
		{"valid with upper-case hex", secret, body, "sha256=" + strings.ToUpper(goodHex), true},
		{"valid with surrounding spaces", secret, body, " " + good + " ", true},
		{"empty secret", "", body, signForTest("", body), false},
		{"wrong secret", "other", body, good, false},
		{"body changed by one byte", secret, []byte(strings.Replace(string(body), "[]", "[ ]", 1)), good, false},
		{"missing header", secret, body, "", false},
		{"prefix only", secret, body, "sha256=", false},
		{"no prefix", secret, body, goodHex, false},
		{"sha1 prefix", secret, body, "sha1=" + goodHex, false},
		{"not hex", secret, body, "sha256=" + strings.Repeat("zz", 32), false},
		{"odd hex length", secret, body, good[:len(good)-1], false},
		{"truncated digest", secret, body, good[:len(good)-2], false},
		{"digest too long", secret, body, good + "00", false},
		{"empty body signed correctly", secret, nil, signForTest(secret, nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifySignature(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("VerifySignature(%q, body, %q) = %v, want %v", tt.secret, tt.header, got, tt.want)
			}
		})
	}
}

func TestParseWebhookFixtures(t *testing.T) {
	tests := []struct {
		fixture, wabaID, field, phone string
		time                          int64
	}{
		{"webhook_account_update_restriction.json", "209876543210004", WebhookFieldAccountUpdate, "", 1759485600},
		{"webhook_name_update_approved.json", "209876543210001", WebhookFieldNameUpdate, "14155550142", 1759312800},
		{"webhook_quality_update.json", "209876543210003", WebhookFieldQualityUpdate, "5511955550199", 1759399200},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			p, err := ParseWebhook(readDomainFixtureBytes(t, tt.fixture))
			if err != nil {
				t.Fatalf("ParseWebhook() error = %v, want none", err)
			}
			if p.Object != WebhookObject || len(p.Entry) != 1 || len(p.Entry[0].Changes) != 1 {
				t.Fatalf("ParseWebhook() = %+v, want one entry with one change", p)
			}
			e := p.Entry[0]
			if e.ID != tt.wabaID || e.Time != tt.time {
				t.Errorf("entry id/time = %q/%d, want %q/%d", e.ID, e.Time, tt.wabaID, tt.time)
			}
			c := e.Changes[0]
			if c.Field != tt.field {
				t.Errorf("change field = %q, want %q", c.Field, tt.field)
			}
			if got := c.DisplayPhoneNumber(); got != tt.phone {
				t.Errorf("DisplayPhoneNumber() = %q, want %q", got, tt.phone)
			}
		})
	}
}

func TestParseWebhookTypedValues(t *testing.T) {
	change := func(t *testing.T, fixture string) WebhookChange {
		t.Helper()
		p, err := ParseWebhook(readDomainFixtureBytes(t, fixture))
		if err != nil {
			t.Fatalf("ParseWebhook(%s): %v", fixture, err)
		}
		return p.Entry[0].Changes[0]
	}

	t.Run("name update", func(t *testing.T) {
		c := change(t, "webhook_name_update_approved.json")
		got, err := c.NameUpdate()
		want := NameUpdate{DisplayPhoneNumber: "14155550142", Decision: "APPROVED", RequestedVerifiedName: "Acme Support"}
		if err != nil || got != want {
			t.Errorf("NameUpdate() = %+v, %v; want %+v, nil", got, err, want)
		}
		if !IsApprovedNameUpdate(c) {
			t.Errorf("IsApprovedNameUpdate() = false, want true")
		}
		if _, err := c.QualityUpdate(); err == nil {
			t.Errorf("QualityUpdate() on a name update: error = nil, want one")
		}
	})
	t.Run("quality update", func(t *testing.T) {
		c := change(t, "webhook_quality_update.json")
		got, err := c.QualityUpdate()
		want := QualityUpdate{DisplayPhoneNumber: "5511955550199", Event: "ONBOARDING", OldLimit: "TIER_NOT_SET", CurrentLimit: "TIER_250", MaxDailyConversationsPerBusiness: "TIER_250"}
		if err != nil || got != want {
			t.Errorf("QualityUpdate() = %+v, %v; want %+v, nil", got, err, want)
		}
		if IsApprovedNameUpdate(c) {
			t.Errorf("IsApprovedNameUpdate(quality update) = true, want false")
		}
	})
	t.Run("account update", func(t *testing.T) {
		c := change(t, "webhook_account_update_restriction.json")
		got, err := c.AccountUpdate()
		if err != nil {
			t.Fatalf("AccountUpdate() error = %v", err)
		}
		want := RestrictionInfo{RestrictionType: "RESTRICTED_BIZ_INITIATED_MESSAGING", Expiration: 1760090400}
		if got.Event != AccountEventRestriction || len(got.RestrictionInfo) != 1 || got.RestrictionInfo[0] != want || got.BanInfo != nil {
			t.Errorf("AccountUpdate() = %+v, want ACCOUNT_RESTRICTION with %+v and no ban", got, want)
		}
	})
	t.Run("account review update", func(t *testing.T) {
		c := WebhookChange{Field: WebhookFieldAccountReviewUpdate, Value: json.RawMessage(`{"decision":"REJECTED"}`)}
		got, err := c.AccountReviewUpdate()
		if err != nil || got.Decision != "REJECTED" {
			t.Errorf("AccountReviewUpdate() = %+v, %v; want decision REJECTED", got, err)
		}
	})
	t.Run("change without value", func(t *testing.T) {
		c := WebhookChange{Field: WebhookFieldNameUpdate}
		if _, err := c.NameUpdate(); err == nil {
			t.Errorf("NameUpdate() without value: error = nil, want one")
		}
		if IsApprovedNameUpdate(c) {
			t.Errorf("IsApprovedNameUpdate(no value) = true, want false")
		}
	})
}

func TestParseWebhookFlexibleNumbers(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantTime   int64
		wantExpiry int64
		wantID     string
	}{
		{
			name:     "numbers",
			body:     `{"object":"whatsapp_business_account","entry":[{"id":209,"time":1759485600,"changes":[{"field":"account_update","value":{"event":"ACCOUNT_RESTRICTION","restriction_info":[{"restriction_type":"R","expiration":1760090400}]}}]}]}`,
			wantTime: 1759485600, wantExpiry: 1760090400, wantID: "209",
		},
		{
			name:     "numbers as strings",
			body:     `{"object":"whatsapp_business_account","entry":[{"id":"209","time":"1759485600","changes":[{"field":"account_update","value":{"event":"ACCOUNT_RESTRICTION","restriction_info":[{"restriction_type":"R","expiration":"1760090400"}]}}]}]}`,
			wantTime: 1759485600, wantExpiry: 1760090400, wantID: "209",
		},
		{
			name:     "float seconds and timestamp strings",
			body:     `{"object":"whatsapp_business_account","entry":[{"id":"209","time":1.7594856e9,"changes":[{"field":"account_update","value":{"event":"ACCOUNT_RESTRICTION","restriction_info":[{"restriction_type":"R","expiration":"2025-10-10T10:00:00+0000"}]}}]}]}`,
			wantTime: 1759485600, wantExpiry: 1760090400, wantID: "209",
		},
		{
			name:     "RFC 3339 with milliseconds",
			body:     `{"object":"whatsapp_business_account","entry":[{"id":"209","time":null,"changes":[{"field":"account_update","value":{"event":"ACCOUNT_RESTRICTION","restriction_info":[{"restriction_type":"R","expiration":"2025-10-10T10:00:00.000Z"}]}}]}]}`,
			wantTime: 0, wantExpiry: 1760090400, wantID: "209",
		},
		{
			name:     "unreadable strings become zero",
			body:     `{"object":"whatsapp_business_account","entry":[{"id":"209","time":"soon","changes":[{"field":"account_update","value":{"event":"ACCOUNT_RESTRICTION","restriction_info":[{"restriction_type":"R","expiration":"1.5"}]}}]}]}`,
			wantTime: 0, wantExpiry: 0, wantID: "209",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseWebhook([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseWebhook() error = %v, want none", err)
			}
			e := p.Entry[0]
			if e.Time != tt.wantTime || e.ID != tt.wantID {
				t.Errorf("entry = id %q time %d, want id %q time %d", e.ID, e.Time, tt.wantID, tt.wantTime)
			}
			u, err := e.Changes[0].AccountUpdate()
			if err != nil {
				t.Fatalf("AccountUpdate() error = %v", err)
			}
			if got := u.RestrictionInfo[0].Expiration; got != tt.wantExpiry {
				t.Errorf("Expiration = %d, want %d", got, tt.wantExpiry)
			}
		})
	}
}

func TestParseWebhookRejects(t *testing.T) {
	deep := `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"x","value":` +
		strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + `}]}]}`
	tests := []struct {
		name, body string
	}{
		{"empty body", ""},
		{"not JSON", "hello"},
		{"JSON array", `[]`},
		{"JSON string", `"whatsapp_business_account"`},
		{"truncated", `{"object":"whatsapp_business_account","entry":[`},
		{"trailing garbage", `{"object":"whatsapp_business_account","entry":[]} x`},
		{"wrong object", `{"object":"page","entry":[]}`},
		{"missing object", `{"entry":[]}`},
		{"missing entry", `{"object":"whatsapp_business_account"}`},
		{"null entry", `{"object":"whatsapp_business_account","entry":null}`},
		{"entry is an object", `{"object":"whatsapp_business_account","entry":{}}`},
		{"entry of wrong type", `{"object":"whatsapp_business_account","entry":[1]}`},
		{"changes of wrong type", `{"object":"whatsapp_business_account","entry":[{"changes":"x"}]}`},
		{"time of wrong type", `{"object":"whatsapp_business_account","entry":[{"time":{}}]}`},
		{"depth bomb", deep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseWebhook([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParseWebhook() = %+v, nil; want an error", p)
			}
			if !errors.Is(err, ErrInvalidWebhook) {
				t.Errorf("ParseWebhook() error = %v, want it to wrap ErrInvalidWebhook", err)
			}
		})
	}
}

func TestParseWebhookAcceptsEmptyEntriesAndUnknownFields(t *testing.T) {
	tests := []string{
		`{"object":"whatsapp_business_account","entry":[]}`,
		`{"object":"whatsapp_business_account","entry":[{"id":"1","time":1,"changes":[{"field":"messages","value":{"messages":[{"id":"x"}]}}]}],"extra":true}`,
	}
	for _, body := range tests {
		if _, err := ParseWebhook([]byte(body)); err != nil {
			t.Errorf("ParseWebhook(%s) error = %v, want none", body, err)
		}
	}
}

func TestWebhookChangeDisplayPhoneNumber(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"display phone number", `{"display_phone_number":"14155550142"}`, "14155550142"},
		{"formatted", `{"display_phone_number":"+1 415-555-0142"}`, "14155550142"},
		{"as a JSON number", `{"display_phone_number":14155550142}`, "14155550142"},
		{"account update phone_number", `{"phone_number":"14155550142","event":"X"}`, "14155550142"},
		{"none", `{"event":"ACCOUNT_RESTRICTION"}`, ""},
		{"garbage", `{"display_phone_number":"call me"}`, ""},
		{"not an object", `[1,2]`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := WebhookChange{Field: WebhookFieldNameUpdate, Value: json.RawMessage(tt.value)}
			if got := c.DisplayPhoneNumber(); got != tt.want {
				t.Errorf("DisplayPhoneNumber() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNormalizePhoneNumber(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"+1 415-555-0142", "+14155550142"},
		{"14155550142", "+14155550142"},
		{"+14155550142", "+14155550142"},
		{"+55 11 95555-0199", "+5511955550199"},
		{"+44 20 7946 0018", "+442079460018"},
		{"(415) 555.0142", "+4155550142"},
		{"  +91 98765 00004 ", "+919876500004"},
		{"", ""},
		{"   ", ""},
		{"+", ""},
		{"call me", ""},
		{"415-CALL-NOW", ""},
		{"1+415", ""},
		{"++1415", ""},
		{"١٤١٥", ""}, // Arabic-Indic digits are not what Meta sends
		{"1234567890123456", ""},
		{"123456789012345", "+123456789012345"},
	}
	for _, tt := range tests {
		if got := NormalizePhoneNumber(tt.in); got != tt.want {
			t.Errorf("NormalizePhoneNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestApplyWebhookChangeFixtures(t *testing.T) {
	change := func(t *testing.T, fixture string) WebhookChange {
		t.Helper()
		p, err := ParseWebhook(readDomainFixtureBytes(t, fixture))
		if err != nil {
			t.Fatalf("ParseWebhook(%s): %v", fixture, err)
		}
		return p.Entry[0].Changes[0]
	}

	t.Run("name approved completes a pending registration's wait", func(t *testing.T) {
		p := readDomainPhoneFixture(t, "phone_name_in_review.json")
		p.DisplayPhoneNumber = "+1 415-555-0142" // the number the fixture webhook names
		got, changed := ApplyWebhookChange(p, change(t, "webhook_name_update_approved.json"))
		if !changed || got.NameStatus != NameApproved || got.VerifiedName != "Acme Support" {
			t.Errorf("ApplyWebhookChange() = name %q verified %q changed %v, want APPROVED, Acme Support, true", got.NameStatus, got.VerifiedName, changed)
		}
		if d := Decide(&got); d.State != StatePendingRegistration || !d.AutoRegister {
			t.Errorf("Decide(after approval) = %+v, want pending_registration with auto register", d)
		}
	})
	t.Run("name approved for another number is ignored", func(t *testing.T) {
		p := readDomainPhoneFixture(t, "phone_name_in_review.json") // +44 20 7946 0018
		got, changed := ApplyWebhookChange(p, change(t, "webhook_name_update_approved.json"))
		if changed || got.NameStatus != NamePendingReview {
			t.Errorf("ApplyWebhookChange() = name %q changed %v, want PENDING_REVIEW unchanged", got.NameStatus, changed)
		}
	})
	t.Run("quality update sets the limit", func(t *testing.T) {
		p := readDomainPhoneFixture(t, "phone_connected.json") // +55 11 95555-0199
		got, changed := ApplyWebhookChange(p, change(t, "webhook_quality_update.json"))
		if !changed || got.LimitTier() != "TIER_250" || got.MessagingLimitTier != "TIER_250" || got.Status != "CONNECTED" {
			t.Errorf("ApplyWebhookChange() = limit %q/%q status %q changed %v, want TIER_250 in both fields, CONNECTED, true",
				got.BusinessMessagingLimit, got.MessagingLimitTier, got.Status, changed)
		}
	})
	t.Run("account restriction restricts every number of the account", func(t *testing.T) {
		p := readDomainPhoneFixture(t, "phone_connected.json")
		got, changed := ApplyWebhookChange(p, change(t, "webhook_account_update_restriction.json"))
		if !changed || got.Status != "RESTRICTED" {
			t.Errorf("ApplyWebhookChange() = status %q changed %v, want RESTRICTED, true", got.Status, changed)
		}
		if s := DeriveOverallStatus(&got, nil, KindNone); s.Code != OverallRestricted {
			t.Errorf("DeriveOverallStatus(after restriction) = %q, want %q", s.Code, OverallRestricted)
		}
	})
}

func TestApplyWebhookChange(t *testing.T) {
	value := func(field, v string) WebhookChange {
		return WebhookChange{Field: field, Value: json.RawMessage(v)}
	}
	base := PhoneNumber{
		DisplayPhoneNumber: "+1 415-555-0142",
		VerifiedName:       "Old Name",
		NameStatus:         NamePendingReview,
		Status:             "CONNECTED",
		MessagingLimitTier: "TIER_1K",
	}
	tests := []struct {
		name        string
		p           func(PhoneNumber) PhoneNumber
		change      WebhookChange
		wantChanged bool
		want        func(PhoneNumber) PhoneNumber
	}{
		// phone_number_name_update
		{
			name:        "name APPROVED",
			change:      value(WebhookFieldNameUpdate, `{"display_phone_number":"14155550142","decision":"APPROVED","requested_verified_name":"New Name"}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.NameStatus = NameApproved; p.VerifiedName = "New Name"; return p },
		},
		{
			name: "name APPROVED on a name change keeps the old name until registered again",
			p: func(p PhoneNumber) PhoneNumber {
				p.NameStatus = NameApproved
				p.NewNameStatus = NamePendingReview
				return p
			},
			change:      value(WebhookFieldNameUpdate, `{"decision":"APPROVED","requested_verified_name":"New Name"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.NameStatus, p.NewNameStatus = NameApproved, NameApproved
				return p
			},
		},
		{
			name: "name APPROVED for another name of a registered number is a name change no read saw",
			p: func(p PhoneNumber) PhoneNumber {
				p.NameStatus, p.VerifiedName = NameApproved, "Old Name"
				p.PlatformType, p.Throughput = PlatformCloudAPI, Throughput{Level: ThroughputStandard}
				return p
			},
			change:      value(WebhookFieldNameUpdate, `{"decision":"APPROVED","requested_verified_name":"New Name"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.NameStatus, p.NewNameStatus, p.VerifiedName = NameApproved, NameApproved, "Old Name"
				p.PlatformType, p.Throughput = PlatformCloudAPI, Throughput{Level: ThroughputStandard}
				return p
			},
		},
		{
			name:        "name APPROVED when already approved changes nothing",
			p:           func(p PhoneNumber) PhoneNumber { p.NameStatus = NameApproved; return p },
			change:      value(WebhookFieldNameUpdate, `{"decision":"APPROVED"}`),
			wantChanged: false,
			want:        func(p PhoneNumber) PhoneNumber { p.NameStatus = NameApproved; return p },
		},
		{
			name:        "name REJECTED",
			change:      value(WebhookFieldNameUpdate, `{"decision":"REJECTED","rejection_reason":"misleading"}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.NameStatus = NameDeclined; return p },
		},
		{
			name: "name REJECTED during a name change keeps the current name",
			p: func(p PhoneNumber) PhoneNumber {
				p.NameStatus = NameApproved
				p.NewNameStatus = NamePendingReview
				return p
			},
			change:      value(WebhookFieldNameUpdate, `{"decision":"REJECTED"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.NameStatus = NameApproved
				p.NewNameStatus = NameDeclined
				return p
			},
		},
		{
			name:        "name PENDING",
			p:           func(p PhoneNumber) PhoneNumber { p.NameStatus = NameDeclined; return p },
			change:      value(WebhookFieldNameUpdate, `{"decision":"PENDING"}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.NameStatus = NamePendingReview; return p },
		},
		{
			name:        "name DEFERRED",
			p:           func(p PhoneNumber) PhoneNumber { p.NameStatus = NameNone; return p },
			change:      value(WebhookFieldNameUpdate, `{"decision":"DEFERRED"}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.NameStatus = NamePendingReview; return p },
		},
		{
			name:   "name decision unknown",
			change: value(WebhookFieldNameUpdate, `{"decision":"MAYBE"}`),
		},
		{
			name:   "name update for another number",
			change: value(WebhookFieldNameUpdate, `{"display_phone_number":"15550000000","decision":"APPROVED"}`),
		},
		{
			name:   "name update with a broken value",
			change: value(WebhookFieldNameUpdate, `{"decision":["APPROVED"]}`),
		},

		// phone_number_quality_update
		{
			name:        "quality DOWNGRADE lowers the limit",
			change:      value(WebhookFieldQualityUpdate, `{"event":"DOWNGRADE","old_limit":"TIER_1K","current_limit":"TIER_250"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.MessagingLimitTier, p.BusinessMessagingLimit = "TIER_250", "TIER_250"
				return p
			},
		},
		{
			name:        "quality UPGRADE raises the limit",
			change:      value(WebhookFieldQualityUpdate, `{"event":"UPGRADE","current_limit":"TIER_10K"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.MessagingLimitTier, p.BusinessMessagingLimit = "TIER_10K", "TIER_10K"
				return p
			},
		},
		{
			name:        "quality update with the tier only in the old field",
			change:      value(WebhookFieldQualityUpdate, `{"event":"UPGRADE","max_daily_conversations_per_business":"TIER_2K"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.MessagingLimitTier, p.BusinessMessagingLimit = "TIER_2K", "TIER_2K"
				return p
			},
		},
		{
			name:        "quality update with a numeric daily maximum maps to its tier",
			change:      value(WebhookFieldQualityUpdate, `{"event":"UPGRADE","max_daily_conversations_per_business":2000}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.MessagingLimitTier, p.BusinessMessagingLimit = "TIER_2K", "TIER_2K"
				return p
			},
		},
		{
			name:   "quality update with a daily maximum this version cannot place",
			change: value(WebhookFieldQualityUpdate, `{"event":"UPGRADE","max_daily_conversations_per_business":1234}`),
		},
		{
			name:        "max_daily_conversations_per_business wins over current_limit",
			change:      value(WebhookFieldQualityUpdate, `{"event":"DOWNGRADE","current_limit":"TIER_10K","max_daily_conversations_per_business":"TIER_250"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.MessagingLimitTier, p.BusinessMessagingLimit = "TIER_250", "TIER_250"
				return p
			},
		},
		{
			name:        "THROUGHPUT_UPGRADE raises throughput, not the limit",
			change:      value(WebhookFieldQualityUpdate, `{"event":"THROUGHPUT_UPGRADE","current_limit":"TIER_UNLIMITED","max_daily_conversations_per_business":"TIER_UNLIMITED"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.Throughput.Level = ThroughputHigh
				return p
			},
		},
		{
			name:        "account deleted",
			change:      value(WebhookFieldAccountUpdate, `{"event":"ACCOUNT_DELETED"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.Status = "DELETED"
				return p
			},
		},
		{
			name:        "bare RESTRICTION is Meta's ACCOUNT_RESTRICTION",
			change:      value(WebhookFieldAccountUpdate, `{"event":"RESTRICTION"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.Status = "RESTRICTED"
				return p
			},
		},
		{
			name:   "partner removed changes nothing yet",
			change: value(WebhookFieldAccountUpdate, `{"event":"PARTNER_REMOVED"}`),
		},
		{
			name:   "offboarded changes nothing yet",
			change: value(WebhookFieldAccountUpdate, `{"event":"ACCOUNT_OFFBOARDED"}`),
		},
		{
			name:        "business capability sets every number's limit",
			change:      value(WebhookFieldBusinessCapabilityUpdate, `{"max_daily_conversations_per_business":10000,"max_phone_numbers_per_business":20}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.MessagingLimitTier, p.BusinessMessagingLimit = "TIER_10K", "TIER_10K"
				return p
			},
		},
		{
			name:        "business capability unlimited, older per-phone field",
			change:      value(WebhookFieldBusinessCapabilityUpdate, `{"max_daily_conversation_per_phone":-1}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.MessagingLimitTier, p.BusinessMessagingLimit = "TIER_UNLIMITED", "TIER_UNLIMITED"
				return p
			},
		},
		{
			name:   "account alert changes nothing",
			change: value(WebhookFieldAccountAlerts, `{"entity_type":"BUSINESS","entity_id":"3001","alert_info":{"alert_severity":"WARNING","alert_status":"ACTIVE","alert_type":"INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED","alert_description":"More time is needed."}}`),
		},
		{
			name:   "change naming another phone_number_id is ignored",
			p:      func(p PhoneNumber) PhoneNumber { p.ID = "1001"; return p },
			change: value(WebhookFieldAccountUpdate, `{"event":"ACCOUNT_RESTRICTION","phone_number_id":"9999"}`),
		},
		{
			name:        "change naming this phone_number_id applies",
			p:           func(p PhoneNumber) PhoneNumber { p.ID = "1001"; return p },
			change:      value(WebhookFieldAccountUpdate, `{"event":"ACCOUNT_RESTRICTION","phone_number_id":"1001"}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.Status = "RESTRICTED"; return p },
		},
		{
			name:        "quality FLAGGED",
			change:      value(WebhookFieldQualityUpdate, `{"event":"FLAGGED","current_limit":"TIER_1K"}`),
			wantChanged: true,
			want: func(p PhoneNumber) PhoneNumber {
				p.Status = "FLAGGED"
				p.BusinessMessagingLimit = "TIER_1K"
				return p
			},
		},
		{
			name:        "quality UNFLAGGED lifts the flag",
			p:           func(p PhoneNumber) PhoneNumber { p.Status = "FLAGGED"; return p },
			change:      value(WebhookFieldQualityUpdate, `{"event":"UNFLAGGED"}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.Status = "CONNECTED"; return p },
		},
		{
			name:   "quality UNFLAGGED does not lift a ban",
			p:      func(p PhoneNumber) PhoneNumber { p.Status = "BANNED"; return p },
			change: value(WebhookFieldQualityUpdate, `{"event":"UNFLAGGED"}`),
			want:   func(p PhoneNumber) PhoneNumber { p.Status = "BANNED"; return p },
		},

		// account_update
		{
			name:        "ACCOUNT_RESTRICTION",
			change:      value(WebhookFieldAccountUpdate, `{"event":"ACCOUNT_RESTRICTION","restriction_info":[{"restriction_type":"RESTRICTED_BIZ_INITIATED_MESSAGING","expiration":1760090400}]}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.Status = "RESTRICTED"; return p },
		},
		{
			name:        "DISABLED_UPDATE with ban DISABLE",
			change:      value(WebhookFieldAccountUpdate, `{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"DISABLE","waba_ban_date":"October 9, 2023"}}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.Status = "BANNED"; return p },
		},
		{
			name:        "ACCOUNT_VIOLATION with ban without state",
			change:      value(WebhookFieldAccountUpdate, `{"event":"ACCOUNT_VIOLATION","ban_info":{}}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.Status = "BANNED"; return p },
		},
		{
			name:   "ACCOUNT_VIOLATION without ban",
			change: value(WebhookFieldAccountUpdate, `{"event":"ACCOUNT_VIOLATION","violation_info":{"violation_type":"SCAM"}}`),
		},
		{
			name:   "DISABLED_UPDATE scheduled only",
			change: value(WebhookFieldAccountUpdate, `{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"SCHEDULE_FOR_DISABLE"}}`),
		},
		{
			name:        "DISABLED_UPDATE REINSTATE lifts a ban",
			p:           func(p PhoneNumber) PhoneNumber { p.Status = "BANNED"; return p },
			change:      value(WebhookFieldAccountUpdate, `{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"REINSTATE"}}`),
			wantChanged: true,
			want:        func(p PhoneNumber) PhoneNumber { p.Status = "CONNECTED"; return p },
		},
		{
			name:   "other account event",
			change: value(WebhookFieldAccountUpdate, `{"event":"VERIFIED_ACCOUNT"}`),
		},
		{
			name:   "account update for another number",
			change: value(WebhookFieldAccountUpdate, `{"phone_number":"15550000000","event":"ACCOUNT_RESTRICTION"}`),
		},

		// account_review_update and the rest
		{
			name:   "account review REJECTED changes no phone field",
			change: value(WebhookFieldAccountReviewUpdate, `{"decision":"REJECTED"}`),
		},
		{
			name:   "unknown field",
			change: value("messages", `{"messages":[]}`),
		},
		{
			name:   "no value",
			change: WebhookChange{Field: WebhookFieldAccountUpdate},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			if tt.p != nil {
				p = tt.p(p)
			}
			want := p
			if tt.want != nil {
				want = tt.want(base)
			}
			got, changed := ApplyWebhookChange(p, tt.change)
			if changed != tt.wantChanged {
				t.Errorf("ApplyWebhookChange() changed = %v, want %v", changed, tt.wantChanged)
			}
			if !samePhoneHealth(got, want) || got.DisplayPhoneNumber != want.DisplayPhoneNumber {
				t.Errorf("ApplyWebhookChange() = %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestAppWebhookFieldsAndLevels(t *testing.T) {
	want := []string{"phone_number_name_update", "phone_number_quality_update", "account_update",
		"account_review_update", "account_alerts", "business_capability_update"}
	if !reflect.DeepEqual(AppWebhookFields, want) {
		t.Errorf("AppWebhookFields = %v, want %v", AppWebhookFields, want)
	}
	wabaLevel := map[string]bool{
		WebhookFieldAccountUpdate: true, WebhookFieldAccountReviewUpdate: true,
		WebhookFieldAccountAlerts: true, WebhookFieldBusinessCapabilityUpdate: true,
	}
	for _, f := range append(want, "messages", "") {
		if got := IsWABALevelField(f); got != wabaLevel[f] {
			t.Errorf("IsWABALevelField(%q) = %v, want %v", f, got, wabaLevel[f])
		}
	}
}

func TestWebhookChangePhoneNumberID(t *testing.T) {
	tests := map[string]string{
		`{"phone_number_id":"1001"}`:              "1001",
		`{"phone_number_id":1001}`:                "1001",
		`{"metadata":{"phone_number_id":"1002"}}`: "1002",
		`{"display_phone_number":"14155550142"}`:  "",
		`not json`:                                "",
		``:                                        "",
	}
	for value, want := range tests {
		c := WebhookChange{Field: "x", Value: json.RawMessage(value)}
		if got := c.PhoneNumberID(); got != want {
			t.Errorf("PhoneNumberID(%s) = %q, want %q", value, got, want)
		}
	}
}

func TestAccountAlertDecodeAndDescribe(t *testing.T) {
	c := WebhookChange{Field: WebhookFieldAccountAlerts, Value: json.RawMessage(`{"entity_type":"PHONE_NUMBER","entity_id":1001,
		"alert_info":{"alert_severity":"CRITICAL","alert_status":"ACTIVE","alert_type":"OBA_REJECTED","alert_description":"Your request for an Official Business Account was rejected."}}`)}
	got, err := c.AccountAlert()
	if err != nil {
		t.Fatal(err)
	}
	want := AccountAlert{EntityType: "PHONE_NUMBER", EntityID: "1001", AlertSeverity: "CRITICAL", AlertStatus: "ACTIVE",
		AlertType: "OBA_REJECTED", AlertDescription: "Your request for an Official Business Account was rejected."}
	if got != want {
		t.Errorf("AccountAlert = %+v, want %+v", got, want)
	}
	tests := []struct {
		a    AccountAlert
		want string
	}{
		{want, "Critical: Meta sent an alert about a phone number: Your request for an Official Business Account was rejected."},
		{AccountAlert{EntityType: "BUSINESS", AlertSeverity: "INFORMATIONAL", AlertStatus: "NONE", AlertType: "PROFILE_PICTURE_LOST"},
			"Meta sent an alert about your business portfolio (no longer active): PROFILE_PICTURE_LOST."},
		{AccountAlert{}, "Meta sent an alert about your WhatsApp account."},
	}
	for _, tt := range tests {
		if got := tt.a.Describe(); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.a, got, tt.want)
		}
	}
	if _, err := (WebhookChange{Field: WebhookFieldAccountUpdate, Value: json.RawMessage(`{}`)}).AccountAlert(); err == nil {
		t.Error("AccountAlert on another field: want an error")
	}
}

func TestBusinessCapabilityUpdateDecodeAndDescribe(t *testing.T) {
	c := WebhookChange{Field: WebhookFieldBusinessCapabilityUpdate, Value: json.RawMessage(
		`{"max_daily_conversation_per_phone":2000,"max_daily_conversations_per_business":"100000","max_phone_numbers_per_business":20,"max_phone_numbers_per_waba":-1}`)}
	got, err := c.BusinessCapabilityUpdate()
	if err != nil {
		t.Fatal(err)
	}
	want := BusinessCapabilityUpdate{MaxDailyConversationPerPhone: 2000, MaxDailyConversationsPerBusiness: 100000, MaxPhoneNumbersPerBusiness: 20, MaxPhoneNumbersPerWABA: -1}
	if got != want {
		t.Errorf("BusinessCapabilityUpdate = %+v, want %+v", got, want)
	}
	if d, wantD := got.Describe(), "Meta changed your business's WhatsApp limits: your business can now message up to 100,000 new customers a day; "+
		"your business portfolio may have up to 20 phone numbers; each WhatsApp Business Account may have unlimited phone numbers."; d != wantD {
		t.Errorf("Describe = %q, want %q", d, wantD)
	}
	if d := (BusinessCapabilityUpdate{MaxDailyConversationPerPhone: UnlimitedCapability}).Describe(); !strings.Contains(d, "unlimited new customers a day") {
		t.Errorf("older per-phone field: Describe = %q, want the unlimited limit", d)
	}
	if d := (BusinessCapabilityUpdate{}).Describe(); d != "Meta changed your business's WhatsApp limits." {
		t.Errorf("empty Describe = %q", d)
	}
}

func TestLimitTierOf(t *testing.T) {
	tests := map[string]string{
		"TIER_2K": "TIER_2K", "TIER_UNLIMITED": "TIER_UNLIMITED", "UNTIERED": "UNTIERED",
		"50": "TIER_50", "250": "TIER_250", "1000": "TIER_1K", "2000": "TIER_2K", "10000": "TIER_10K",
		"100000": "TIER_100K", "-1": "TIER_UNLIMITED", " 250 ": "TIER_250",
		"": "", "0": "", "1234": "", "lots": "",
	}
	for in, want := range tests {
		if got := LimitTierOf(in); got != want {
			t.Errorf("LimitTierOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExplainAccountEvent(t *testing.T) {
	known := []string{
		AccountEventRestriction, AccountEventViolation, AccountEventDisabled, AccountEventDeleted,
		AccountEventPartnerAdded, AccountEventPartnerRemoved, AccountEventOffboarded, AccountEventReconnected,
		AccountEventAuthIntlRateUpdate, AccountEventPrimaryLocation,
	}
	seen := map[string]string{}
	for _, e := range known {
		got := ExplainAccountEvent(e)
		if got == "" || strings.Contains(got, e) {
			t.Errorf("ExplainAccountEvent(%q) = %q, want plain words without Meta's code", e, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s and %s share the explanation %q", e, other, got)
		}
		seen[got] = e
	}
	if ExplainAccountEvent("RESTRICTION") != ExplainAccountEvent(AccountEventRestriction) ||
		ExplainAccountEvent("violation") != ExplainAccountEvent(AccountEventViolation) {
		t.Error("bare RESTRICTION/VIOLATION must read as Meta's ACCOUNT_RESTRICTION/ACCOUNT_VIOLATION")
	}
	if got := ExplainAccountEvent("SOMETHING_NEW"); !strings.Contains(got, `"SOMETHING_NEW"`) {
		t.Errorf("unknown event = %q, want it shown as Meta sent it", got)
	}
}

func TestExplainRejectionReason(t *testing.T) {
	for _, none := range []string{"", "NONE", "none", "null", " NONE "} {
		if got := ExplainRejectionReason(none); !strings.HasPrefix(got, "Meta did not give a reason") {
			t.Errorf("ExplainRejectionReason(%q) = %q, want the no-reason text", none, got)
		}
	}
	got := ExplainRejectionReason("The display name does not match the business name.")
	if !strings.HasPrefix(got, "Meta declined the display name: The display name does not match the business name.") || !strings.Contains(got, "WhatsApp Manager") {
		t.Errorf("free-form reason = %q, want Meta's words and what to do", got)
	}
}

func TestWebhookChangeKey(t *testing.T) {
	change := func(v string) WebhookChange {
		return WebhookChange{Field: WebhookFieldNameUpdate, Value: json.RawMessage(v)}
	}
	a := change(`{"display_phone_number":"14155550142","decision":"APPROVED","n":1.50}`)
	reordered := change(` { "decision" : "APPROVED", "n":1.50,
		"display_phone_number":"14155550142" } `)
	key := WebhookChangeKey("2001", 1759312800, a)
	if len(key) != 64 || strings.Trim(key, "0123456789abcdef") != "" {
		t.Fatalf("key = %q, want 64 lowercase hex digits", key)
	}
	if got := WebhookChangeKey("2001", 1759312800, reordered); got != key {
		t.Errorf("same event with keys reordered: key %s, want %s", got, key)
	}
	differs := []struct {
		name string
		key  string
	}{
		{"other entry", WebhookChangeKey("2002", 1759312800, a)},
		{"other time", WebhookChangeKey("2001", 1759312801, a)},
		{"other field", WebhookChangeKey("2001", 1759312800, WebhookChange{Field: WebhookFieldQualityUpdate, Value: a.Value})},
		{"other value", WebhookChangeKey("2001", 1759312800, change(`{"display_phone_number":"14155550142","decision":"REJECTED","n":1.50}`))},
		{"other number text", WebhookChangeKey("2001", 1759312800, change(`{"display_phone_number":"14155550142","decision":"APPROVED","n":1.5}`))},
		{"id and field run together", WebhookChangeKey("2001"+"1759312800", 0, a)},
		{"not JSON", WebhookChangeKey("2001", 1759312800, change(`{oops`))},
	}
	for _, d := range differs {
		if d.key == key {
			t.Errorf("%s: same key as the original, want a different one", d.name)
		}
	}
}

// A string value reads the same whether it takes the no-escape shortcut or
// encoding/json's own decoding: escapes, non-ASCII and invalid UTF-8 included.
func TestWebhookStringReadsAsEncodingJSON(t *testing.T) {
	for _, raw := range []string{`""`, `"APPROVED"`, `"Caf\u00e9 \"Bistro\""`, `"Café"`, `"a\/b\\c"`, "\"bad \xff byte\"", `"tab\there"`, `"😀 ok"`} {
		var got struct{ V webhookString }
		var want struct{ V string }
		if err := json.Unmarshal([]byte(`{"V":`+raw+`}`), &got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if err := json.Unmarshal([]byte(`{"V":`+raw+`}`), &want); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if string(got.V) != want.V {
			t.Errorf("%s: webhookString %q, encoding/json %q", raw, got.V, want.V)
		}
	}
}
