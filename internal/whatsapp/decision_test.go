package whatsapp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// readDomainPhoneFixture loads a phone-number node from testdata, as the Graph API
// would return it.
func readDomainPhoneFixture(t testing.TB, name string) PhoneNumber {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture %s: %v", name, err)
	}
	var p PhoneNumber
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decode fixture %s: %v", name, err)
	}
	return p
}

func TestDecide(t *testing.T) {
	cloud := func(level string) Throughput { return Throughput{Level: level} }
	tests := []struct {
		name string
		p    *PhoneNumber
		want Decision // Reason is checked for presence only
	}{
		// One row per row of the decision table.
		{
			name: "table row 0: coexistence number is never registered",
			p:    &PhoneNumber{IsOnBizApp: ptrTrue(), NameStatus: NameApproved, CodeVerificationStatus: VerificationVerified, PlatformType: PlatformNotApplicable},
			want: Decision{State: StateCoexistence},
		},
		{
			name: "coexistence beats registered",
			p:    &PhoneNumber{IsOnBizApp: ptrTrue(), PlatformType: PlatformCloudAPI, Throughput: cloud(ThroughputStandard)},
			want: Decision{State: StateCoexistence},
		},
		{
			name: "coexistence beats a name in review",
			p:    &PhoneNumber{IsOnBizApp: ptrTrue(), NameStatus: NamePendingReview},
			want: Decision{State: StateCoexistence},
		},
		{
			name: "table row 1: cloud API with standard throughput is registered",
			p:    &PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: cloud(ThroughputStandard), NameStatus: NameApproved, CodeVerificationStatus: VerificationVerified},
			want: Decision{State: StateRegistered},
		},
		{
			name: "table row 2: display name pending review waits",
			p:    &PhoneNumber{NameStatus: NamePendingReview, PlatformType: PlatformNotApplicable, Throughput: cloud(ThroughputNotApplicable), CodeVerificationStatus: VerificationVerified},
			want: Decision{State: StateWaitingForDisplayName, ManualRegister: true, NeedsConfirmation: true},
		},
		{
			name: "table row 3: declined display name needs action",
			p:    &PhoneNumber{NameStatus: NameDeclined, PlatformType: PlatformNotApplicable},
			want: Decision{State: StateDisplayNameActionRequired},
		},
		{
			name: "table row 4: on-premise number",
			p:    &PhoneNumber{NameStatus: NameApproved, PlatformType: PlatformOnPremise, Throughput: cloud(ThroughputHigh)},
			want: Decision{State: StateOnPremise},
		},
		{
			name: "table row 5: verified, approved, platform not applicable",
			p:    &PhoneNumber{NameStatus: NameApproved, CodeVerificationStatus: VerificationVerified, PlatformType: PlatformNotApplicable, Throughput: cloud(ThroughputNotApplicable)},
			want: Decision{State: StatePendingRegistration, AutoRegister: true, ManualRegister: true},
		},
		{
			name: "table row 6: health could not be fetched",
			p:    nil,
			want: Decision{State: StateUnknown, ManualRegister: true},
		},

		// Row 1 edge cases.
		{
			name: "cloud API with high throughput is registered",
			p:    &PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: cloud(ThroughputHigh)},
			want: Decision{State: StateRegistered},
		},
		{
			name: "cloud API with throughput not applicable is not registered yet",
			p:    &PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: cloud(ThroughputNotApplicable), NameStatus: NameApproved},
			want: Decision{State: StatePendingRegistration, AutoRegister: true, ManualRegister: true},
		},
		{
			name: "cloud API without throughput is not registered yet",
			p:    &PhoneNumber{PlatformType: PlatformCloudAPI, NameStatus: NameApproved},
			want: Decision{State: StatePendingRegistration, AutoRegister: true, ManualRegister: true},
		},
		{
			name: "cloud API with an unknown throughput level counts as registered",
			p:    &PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: cloud("ULTRA")},
			want: Decision{State: StateRegistered},
		},
		{
			name: "registered number beats a name change in review",
			p:    &PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: cloud(ThroughputStandard), NameStatus: NameApproved, NewNameStatus: NamePendingReview},
			want: Decision{State: StateRegistered},
		},
		{
			name: "registered number beats a declined name",
			p:    &PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: cloud(ThroughputStandard), NameStatus: NameDeclined},
			want: Decision{State: StateRegistered},
		},

		// Row 2 and 3 edge cases: the effective name status decides.
		{
			name: "name change in review on an unregistered number waits",
			p:    &PhoneNumber{NameStatus: NameApproved, NewNameStatus: NamePendingReview, PlatformType: PlatformNotApplicable},
			want: Decision{State: StateWaitingForDisplayName, ManualRegister: true, NeedsConfirmation: true},
		},
		{
			name: "new name status NONE falls back to the current name",
			p:    &PhoneNumber{NameStatus: NameApproved, NewNameStatus: NameNone, PlatformType: PlatformNotApplicable},
			want: Decision{State: StatePendingRegistration, AutoRegister: true, ManualRegister: true},
		},
		{
			name: "declined name change needs action",
			p:    &PhoneNumber{NameStatus: NameApproved, NewNameStatus: NameDeclined},
			want: Decision{State: StateDisplayNameActionRequired},
		},
		{
			name: "expired name needs action",
			p:    &PhoneNumber{NameStatus: NameExpired},
			want: Decision{State: StateDisplayNameActionRequired},
		},
		{
			name: "name NONE needs action",
			p:    &PhoneNumber{NameStatus: NameNone},
			want: Decision{State: StateDisplayNameActionRequired},
		},
		{
			name: "name NON_EXISTS needs action",
			p:    &PhoneNumber{NameStatus: NameNonExists},
			want: Decision{State: StateDisplayNameActionRequired},
		},
		{
			name: "name in review beats on-premise",
			p:    &PhoneNumber{NameStatus: NamePendingReview, PlatformType: PlatformOnPremise},
			want: Decision{State: StateWaitingForDisplayName, ManualRegister: true, NeedsConfirmation: true},
		},
		{
			name: "name available without review can register",
			p:    &PhoneNumber{NameStatus: NameAvailableWithoutReview, CodeVerificationStatus: VerificationVerified, PlatformType: PlatformNotApplicable},
			want: Decision{State: StatePendingRegistration, AutoRegister: true, ManualRegister: true},
		},

		// Row 5 edge cases.
		{
			name: "number not verified is pending registration, not retried by machines",
			p:    &PhoneNumber{CodeVerificationStatus: VerificationNotVerified, NameStatus: NameApproved},
			want: Decision{State: StatePendingRegistration, ManualRegister: true},
		},
		{
			name: "verification expired is pending registration, not retried by machines",
			p:    &PhoneNumber{CodeVerificationStatus: VerificationExpired, NameStatus: NameApproved},
			want: Decision{State: StatePendingRegistration, ManualRegister: true},
		},
		{
			name: "every field empty is pending registration",
			p:    &PhoneNumber{},
			want: Decision{State: StatePendingRegistration, AutoRegister: true, ManualRegister: true},
		},
		{
			name: "unknown enum values fall through to pending registration",
			p:    &PhoneNumber{NameStatus: "SOMETHING_NEW", PlatformType: "SATELLITE", Throughput: cloud("WARP")},
			want: Decision{State: StatePendingRegistration, AutoRegister: true, ManualRegister: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.p)
			if withFacts := DecideWith(tt.p, RegistrationFacts{}); withFacts != got {
				t.Errorf("Decide() = %+v but DecideWith(zero facts) = %+v; want the same", got, withFacts)
			}
			if got.Reason == "" {
				t.Errorf("Decide() Reason is empty, want plain words for the customer")
			}
			got.Reason = ""
			if got != tt.want {
				t.Errorf("Decide() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecideWithNameChangeApproved(t *testing.T) {
	registered := PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: Throughput{Level: ThroughputStandard}, NameStatus: NameApproved, NewNameStatus: NameApproved}
	approved := RegistrationFacts{NameChangeApproved: true}
	tests := []struct {
		name string
		p    *PhoneNumber
		f    RegistrationFacts
		want Decision
	}{
		{"table row 2: registered with an approved name change registers once with the stored PIN", &registered, approved,
			Decision{State: StateNameChangeNeedsRegister, AutoRegister: true, ManualRegister: true, NeedsStoredPIN: true}},
		{"registered without the fact stays registered", &registered, RegistrationFacts{}, Decision{State: StateRegistered}},
		{"coexistence beats an approved name change", &PhoneNumber{IsOnBizApp: ptrTrue(), PlatformType: PlatformCloudAPI, Throughput: Throughput{Level: ThroughputHigh}}, approved,
			Decision{State: StateCoexistence}},
		{"unregistered number ignores the fact: the normal register picks up the name",
			&PhoneNumber{NameStatus: NameApproved, PlatformType: PlatformNotApplicable}, approved,
			Decision{State: StatePendingRegistration, AutoRegister: true, ManualRegister: true}},
		{"unknown health ignores the fact", nil, approved, Decision{State: StateUnknown, ManualRegister: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DecideWith(tt.p, tt.f)
			if got.Reason == "" {
				t.Error("DecideWith() Reason is empty, want plain words for the customer")
			}
			got.Reason = ""
			if got != tt.want {
				t.Errorf("DecideWith() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNameChangeApproved(t *testing.T) {
	reg := func(newName string) *PhoneNumber {
		return &PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: Throughput{Level: ThroughputStandard}, NameStatus: NameApproved, NewNameStatus: newName}
	}
	unregistered := &PhoneNumber{PlatformType: PlatformNotApplicable, NewNameStatus: NameApproved}
	tests := []struct {
		name       string
		prev, next *PhoneNumber
		want       bool
	}{
		{"review turns approved", reg(NamePendingReview), reg(NameApproved), true},
		{"no change in progress turns approved", reg(""), reg(NameApproved), true},
		{"already approved before", reg(NameApproved), reg(NameApproved), false},
		{"still in review", reg(NamePendingReview), reg(NamePendingReview), false},
		{"declined", reg(NamePendingReview), reg(NameDeclined), false},
		{"unregistered number", &PhoneNumber{NewNameStatus: NamePendingReview}, unregistered, false},
		{"first read of an approved change waiting for its register call", nil, reg(NameApproved), true},
		{"first read without a change", nil, reg(""), false},
		{"no next read", reg(NamePendingReview), nil, false},
	}
	for _, tt := range tests {
		if got := NameChangeApproved(tt.prev, tt.next); got != tt.want {
			t.Errorf("NameChangeApproved(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDecideFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		want    RegistrationState
		auto    bool
	}{
		{"phone_connected.json", StateRegistered, false},
		{"phone_flagged_blocked.json", StateRegistered, false},
		{"phone_name_in_review.json", StateWaitingForDisplayName, false},
		{"phone_pending_provisioning.json", StatePendingRegistration, true},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			p := readDomainPhoneFixture(t, tt.fixture)
			got := Decide(&p)
			if got.State != tt.want || got.AutoRegister != tt.auto {
				t.Errorf("Decide(%s) = state %q auto %v, want state %q auto %v", tt.fixture, got.State, got.AutoRegister, tt.want, tt.auto)
			}
		})
	}
}

func TestDecideAllowsManual(t *testing.T) {
	tests := []struct {
		name      string
		p         *PhoneNumber
		confirmed bool
		want      bool
	}{
		{"pending registration without confirmation", &PhoneNumber{}, false, true},
		{"name in review without confirmation", &PhoneNumber{NameStatus: NamePendingReview}, false, false},
		{"name in review after Try anyway", &PhoneNumber{NameStatus: NamePendingReview}, true, true},
		{"registered even when confirmed", &PhoneNumber{PlatformType: PlatformCloudAPI, Throughput: Throughput{Level: ThroughputStandard}}, true, false},
		{"name declined even when confirmed", &PhoneNumber{NameStatus: NameDeclined}, true, false},
		{"unknown health", nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.p).AllowsManual(tt.confirmed); got != tt.want {
				t.Errorf("Decide().AllowsManual(%v) = %v, want %v", tt.confirmed, got, tt.want)
			}
		})
	}
}

func ptrTrue() *bool { t := true; return &t }
