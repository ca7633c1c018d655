package whatsapp

import (
	"strings"
	"testing"
)

// registeredPhone is a healthy Cloud API number; tests break one thing at a time.
func registeredPhone() PhoneNumber {
	return PhoneNumber{
		ID:                     "1",
		CodeVerificationStatus: VerificationVerified,
		NameStatus:             NameApproved,
		PlatformType:           PlatformCloudAPI,
		Throughput:             Throughput{Level: ThroughputStandard},
		Status:                 "CONNECTED",
		QualityRating:          "GREEN",
		HealthStatus:           &HealthStatus{CanSendMessage: CanSendAvailable},
	}
}

func TestDeriveOverallStatus(t *testing.T) {
	with := func(change func(*PhoneNumber)) *PhoneNumber {
		p := registeredPhone()
		change(&p)
		return &p
	}
	blockedBusiness := &HealthStatus{
		CanSendMessage: CanSendBlocked,
		Entities: []HealthEntity{{
			EntityType: "WABA", ID: "2", CanSendMessage: CanSendBlocked,
			Errors: []HealthError{{ErrorCode: 141006, ErrorDescription: "There is an error with the payment method"}},
		}},
	}
	limitedBusiness := &HealthStatus{CanSendMessage: CanSendLimited}

	tests := []struct {
		name     string
		p        *PhoneNumber
		business *HealthStatus
		fetchErr Kind
		code     string
		tone     Tone
	}{
		// Single causes.
		{"healthy registered number", with(func(*PhoneNumber) {}), nil, KindNone, OverallConnected, ToneGreen},
		{"business health available", with(func(*PhoneNumber) {}), &HealthStatus{CanSendMessage: CanSendAvailable}, KindNone, OverallConnected, ToneGreen},
		{"no data, never fetched", nil, nil, KindNone, OverallUnknown, ToneGrey},
		{"no data, fetch failed", nil, nil, KindTransient, OverallUnknown, ToneGrey},
		{"token expired without data", nil, nil, KindTokenExpired, OverallTokenExpired, ToneRed},
		{"account locked without data", nil, nil, KindAccountLocked, OverallBlocked, ToneRed},
		{"policy blocked", with(func(*PhoneNumber) {}), nil, KindPolicyBlocked, OverallBlocked, ToneRed},
		{"coexistence not on the Cloud API", with(func(p *PhoneNumber) {
			p.IsOnBizApp, p.PlatformType, p.Throughput.Level = ptrTrue(), PlatformNotApplicable, ThroughputNotApplicable
		}), nil, KindNone, OverallCoexistence, ToneGrey},
		{"registered coexistence number is connected", with(func(p *PhoneNumber) { p.IsOnBizApp = ptrTrue() }), nil, KindNone, OverallConnected, ToneGreen},
		{"coexistence with a declined name needs action", with(func(p *PhoneNumber) {
			p.IsOnBizApp, p.PlatformType, p.NameStatus = ptrTrue(), PlatformNotApplicable, NameDeclined
		}), nil, KindNone, OverallDisplayNameActionRequired, ToneRed},
		{"number can_send BLOCKED", with(func(p *PhoneNumber) { p.HealthStatus = &HealthStatus{CanSendMessage: CanSendBlocked} }), nil, KindNone, OverallBlocked, ToneRed},
		{"business can_send BLOCKED", with(func(*PhoneNumber) {}), blockedBusiness, KindNone, OverallBlocked, ToneRed},
		{"business BLOCKED without phone data", nil, blockedBusiness, KindNone, OverallBlocked, ToneRed},
		{"status BANNED", with(func(p *PhoneNumber) { p.Status = "BANNED" }), nil, KindNone, OverallBlocked, ToneRed},
		{"status DISCONNECTED", with(func(p *PhoneNumber) { p.Status = "DISCONNECTED" }), nil, KindNone, OverallBlocked, ToneRed},
		{"status DELETED", with(func(p *PhoneNumber) { p.Status = "DELETED" }), nil, KindNone, OverallBlocked, ToneRed},
		{"name declined", with(func(p *PhoneNumber) { p.NameStatus = NameDeclined }), nil, KindNone, OverallDisplayNameActionRequired, ToneRed},
		{"name expired", with(func(p *PhoneNumber) { p.NameStatus = NameExpired }), nil, KindNone, OverallDisplayNameActionRequired, ToneRed},
		{"name NONE", with(func(p *PhoneNumber) { p.NameStatus = NameNone }), nil, KindNone, OverallDisplayNameActionRequired, ToneRed},
		{"name NON_EXISTS", with(func(p *PhoneNumber) { p.NameStatus = NameNonExists }), nil, KindNone, OverallDisplayNameActionRequired, ToneRed},
		{"name pending review", with(func(p *PhoneNumber) { p.NameStatus = NamePendingReview }), nil, KindNone, OverallDisplayNameInReview, ToneAmber},
		{"name change in review", with(func(p *PhoneNumber) { p.NewNameStatus = NamePendingReview }), nil, KindNone, OverallDisplayNameInReview, ToneAmber},
		{"new name status NONE is ignored", with(func(p *PhoneNumber) { p.NewNameStatus = NameNone }), nil, KindNone, OverallConnected, ToneGreen},
		{"platform not applicable", with(func(p *PhoneNumber) { p.PlatformType = PlatformNotApplicable }), nil, KindNone, OverallRegistrationIncomplete, ToneAmber},
		{"throughput not applicable", with(func(p *PhoneNumber) { p.Throughput.Level = ThroughputNotApplicable }), nil, KindNone, OverallRegistrationIncomplete, ToneAmber},
		{"every field empty", &PhoneNumber{}, nil, KindNone, OverallRegistrationIncomplete, ToneAmber},
		{"on-premise", with(func(p *PhoneNumber) { p.PlatformType = PlatformOnPremise }), nil, KindNone, OverallOnPremise, ToneGrey},
		{"status RESTRICTED", with(func(p *PhoneNumber) { p.Status = "RESTRICTED" }), nil, KindNone, OverallRestricted, ToneAmber},
		{"status RATE_LIMITED", with(func(p *PhoneNumber) { p.Status = "RATE_LIMITED" }), nil, KindNone, OverallRestricted, ToneAmber},
		{"status FLAGGED", with(func(p *PhoneNumber) { p.Status = "FLAGGED" }), nil, KindNone, OverallRestricted, ToneAmber},
		{"number can_send LIMITED", with(func(p *PhoneNumber) { p.HealthStatus.CanSendMessage = CanSendLimited }), nil, KindNone, OverallRestricted, ToneAmber},
		{"business can_send LIMITED", with(func(*PhoneNumber) {}), limitedBusiness, KindNone, OverallRestricted, ToneAmber},
		{"quality RED", with(func(p *PhoneNumber) { p.QualityRating = "RED" }), nil, KindNone, OverallQualityLow, ToneRed},
		{"quality YELLOW", with(func(p *PhoneNumber) { p.QualityRating = "YELLOW" }), nil, KindNone, OverallQualityLow, ToneAmber},
		{"quality NA", with(func(p *PhoneNumber) { p.QualityRating = "NA" }), nil, KindNone, OverallConnected, ToneGreen},
		{"unknown enum values do not break connected", with(func(p *PhoneNumber) { p.Status = "NEW_STATUS"; p.QualityRating = "PURPLE" }), nil, KindNone, OverallConnected, ToneGreen},
		{"transient fetch error keeps last good data", with(func(*PhoneNumber) {}), nil, KindTransient, OverallConnected, ToneGreen},
		{"rate-limited fetch keeps last good data", with(func(p *PhoneNumber) { p.NameStatus = NamePendingReview }), nil, KindRateLimited, OverallDisplayNameInReview, ToneAmber},

		// Combined causes: the higher priority wins.
		{"token expired beats blocked", with(func(p *PhoneNumber) { p.Status = "BANNED" }), blockedBusiness, KindTokenExpired, OverallTokenExpired, ToneRed},
		{"token expired beats healthy data", with(func(*PhoneNumber) {}), nil, KindTokenExpired, OverallTokenExpired, ToneRed},
		{"account locked beats healthy data", with(func(*PhoneNumber) {}), nil, KindAccountLocked, OverallBlocked, ToneRed},
		{"blocked beats name declined", with(func(p *PhoneNumber) { p.Status = "BANNED"; p.NameStatus = NameDeclined }), nil, KindNone, OverallBlocked, ToneRed},
		{"name declined beats name change in review", with(func(p *PhoneNumber) { p.NameStatus = NameDeclined; p.PlatformType = PlatformNotApplicable }), nil, KindNone, OverallDisplayNameActionRequired, ToneRed},
		{"name action beats registration incomplete", with(func(p *PhoneNumber) { p.NameStatus = NameNonExists; p.PlatformType = PlatformNotApplicable }), nil, KindNone, OverallDisplayNameActionRequired, ToneRed},
		{"name in review beats registration incomplete", with(func(p *PhoneNumber) { p.NameStatus = NamePendingReview; p.PlatformType = PlatformNotApplicable }), nil, KindNone, OverallDisplayNameInReview, ToneAmber},
		{"name in review beats restricted", with(func(p *PhoneNumber) { p.NewNameStatus = NamePendingReview; p.Status = "RESTRICTED" }), nil, KindNone, OverallDisplayNameInReview, ToneAmber},
		{"registration incomplete beats restricted", with(func(p *PhoneNumber) { p.PlatformType = PlatformNotApplicable; p.Status = "RESTRICTED" }), nil, KindNone, OverallRegistrationIncomplete, ToneAmber},
		{"unregistered LIMITED is registration incomplete, not restricted", with(func(p *PhoneNumber) {
			p.PlatformType = PlatformNotApplicable
			p.HealthStatus.CanSendMessage = CanSendLimited
		}), nil, KindNone, OverallRegistrationIncomplete, ToneAmber},
		{"restricted beats quality low", with(func(p *PhoneNumber) { p.Status = "FLAGGED"; p.QualityRating = "RED" }), nil, KindNone, OverallRestricted, ToneAmber},
		{"business BLOCKED beats number AVAILABLE", with(func(*PhoneNumber) {}), blockedBusiness, KindNone, OverallBlocked, ToneRed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DeriveOverallStatus(tt.p, tt.business, tt.fetchErr)
			if got.Code != tt.code || got.Tone != tt.tone {
				t.Errorf("DeriveOverallStatus() = %q/%q, want %q/%q (summary %q)", got.Code, got.Tone, tt.code, tt.tone, got.Summary)
			}
			if got.Label == "" || got.Summary == "" {
				t.Errorf("DeriveOverallStatus() = %+v, want a label and a summary", got)
			}
		})
	}
}

func TestDeriveOverallStatusFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		code    string
	}{
		{"phone_connected.json", OverallConnected},
		{"phone_flagged_blocked.json", OverallBlocked},
		{"phone_name_in_review.json", OverallDisplayNameInReview},
		{"phone_pending_provisioning.json", OverallRegistrationIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			p := readDomainPhoneFixture(t, tt.fixture)
			if got := DeriveOverallStatus(&p, nil, KindNone); got.Code != tt.code {
				t.Errorf("DeriveOverallStatus(%s) = %q, want %q", tt.fixture, got.Code, tt.code)
			}
		})
	}
}

func TestDeriveOverallStatusQuotesMetasReason(t *testing.T) {
	p := readDomainPhoneFixture(t, "phone_flagged_blocked.json")
	got := DeriveOverallStatus(&p, nil, KindNone)
	want := "Meta is blocking messages from this number: There is an error with the payment method."
	if got.Summary != want {
		t.Errorf("Summary = %q, want %q", got.Summary, want)
	}
}

func TestOverallAllStatusCodes(t *testing.T) {
	all := AllStatusCodes()
	wantCodes := []string{
		OverallConnected, OverallRegistrationIncomplete, OverallDisplayNameInReview,
		OverallDisplayNameActionRequired, OverallQualityLow, OverallRestricted,
		OverallBlocked, OverallTokenExpired, OverallOnPremise, OverallCoexistence, OverallUnknown,
	}
	if len(all) != len(wantCodes) {
		t.Fatalf("AllStatusCodes() has %d entries, want %d", len(all), len(wantCodes))
	}
	for i, s := range all {
		if s.Code != wantCodes[i] {
			t.Errorf("AllStatusCodes()[%d].Code = %q, want %q", i, s.Code, wantCodes[i])
		}
		if s.Label == "" || s.Tone == "" || s.Summary == "" {
			t.Errorf("AllStatusCodes()[%d] = %+v, want label, tone and summary", i, s)
		}
	}
	// Callers may edit the returned slice; that must not leak into later calls.
	all[0].Label = "changed"
	if AllStatusCodes()[0].Label != "Connected" {
		t.Errorf("AllStatusCodes() returned shared state: label %q, want %q", AllStatusCodes()[0].Label, "Connected")
	}
}

func TestOverallLabels(t *testing.T) {
	want := map[string]string{
		OverallConnected:                 "Connected",
		OverallRegistrationIncomplete:    "Registration incomplete",
		OverallDisplayNameInReview:       "Display name in review",
		OverallDisplayNameActionRequired: "Display name needs action",
		OverallQualityLow:                "Quality low",
		OverallRestricted:                "Restricted",
		OverallBlocked:                   "Blocked",
		OverallTokenExpired:              "Token expired",
		OverallOnPremise:                 "On-Premises API",
		OverallCoexistence:               "WhatsApp Business app",
		OverallUnknown:                   "Unknown",
	}
	for _, s := range AllStatusCodes() {
		if s.Label != want[s.Code] {
			t.Errorf("label of %q = %q, want %q", s.Code, s.Label, want[s.Code])
		}
	}
}

func TestNeedsAttentionOverall(t *testing.T) {
	for _, s := range AllStatusCodes() {
		want := s.Code != OverallConnected
		if got := NeedsAttention(s); got != want {
			t.Errorf("NeedsAttention(%q) = %v, want %v", s.Code, got, want)
		}
	}
}

func TestOverallSummariesAreOneSentence(t *testing.T) {
	p := registeredPhone()
	statuses := []OverallStatus{
		DeriveOverallStatus(nil, nil, KindNone),
		DeriveOverallStatus(&p, nil, KindTokenExpired),
		DeriveOverallStatus(&p, &HealthStatus{CanSendMessage: CanSendLimited, Entities: []HealthEntity{{CanSendMessage: CanSendLimited, AdditionalInfo: []string{"Reason without full stop"}}}}, KindNone),
	}
	for _, s := range statuses {
		if strings.Count(s.Summary, ". ") > 0 || !strings.HasSuffix(s.Summary, ".") {
			t.Errorf("Summary %q, want exactly one sentence ending in a full stop", s.Summary)
		}
	}
}

func TestStatusesBySeverityPutBlockedAndTokenProblemsFirst(t *testing.T) {
	all := StatusesBySeverity()
	if len(all) != len(AllStatusCodes()) {
		t.Fatalf("want every status ranked, got %d of %d", len(all), len(AllStatusCodes()))
	}
	seen := map[int]string{}
	for _, s := range all {
		if prev, dup := seen[s.Severity]; dup || s.Severity < 1 {
			t.Errorf("status %q: severity %d must be positive and its own (shared with %q)", s.Code, s.Severity, prev)
		}
		seen[s.Severity] = s.Code
	}
	if all[0].Code != OverallTokenExpired || all[1].Code != OverallBlocked {
		t.Errorf("want token_expired then blocked first, got %q, %q", all[0].Code, all[1].Code)
	}
	if last := all[len(all)-1]; last.Code != OverallConnected {
		t.Errorf("want connected last, got %q", last.Code)
	}
	// Derived statuses carry their catalogue rank, whatever their summary.
	if got := DeriveOverallStatus(nil, nil, KindTokenExpired).Severity; got != all[0].Severity {
		t.Errorf("derived token_expired: want severity %d, got %d", all[0].Severity, got)
	}
	if got := StatusByCode("SOMETHING_NEW"); got.Label != "SOMETHING_NEW" || got.Tone != ToneGrey || got.Severity != StatusByCode(OverallUnknown).Severity {
		t.Errorf("unknown code: want it shown as it is, grey, ranked with unknown; got %+v", got)
	}
}
