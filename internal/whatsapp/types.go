// Package whatsapp talks to Meta's WhatsApp Cloud API (the Graph API) and holds the
// product's domain rules about phone-number health and registration.
package whatsapp

// PhoneNumber is one WhatsApp Business phone-number node as the Graph API returns it.
// Enum fields are plain strings on purpose: Meta adds values without notice, and an
// unknown value must be shown as it came, never rejected.
type PhoneNumber struct {
	ID                        string     `json:"id"`
	DisplayPhoneNumber        string     `json:"display_phone_number,omitempty"`
	VerifiedName              string     `json:"verified_name,omitempty"`
	CodeVerificationStatus    string     `json:"code_verification_status,omitempty"`
	NameStatus                string     `json:"name_status,omitempty"`
	NewNameStatus             string     `json:"new_name_status,omitempty"`
	PlatformType              string     `json:"platform_type,omitempty"`
	Throughput                Throughput `json:"throughput"`
	Status                    string     `json:"status,omitempty"`
	QualityRating             string     `json:"quality_rating,omitempty"`
	MessagingLimitTier        string     `json:"messaging_limit_tier,omitempty"`
	BusinessMessagingLimit    string     `json:"whatsapp_business_manager_messaging_limit,omitempty"`
	AccountMode               string     `json:"account_mode,omitempty"`
	LastOnboardedTime         string     `json:"last_onboarded_time,omitempty"`
	IsOfficialBusinessAccount bool       `json:"is_official_business_account,omitempty"`
	// IsOnBizApp is true for a coexistence number: one also in use with the WhatsApp
	// Business app. Registering it would move it off the app (see Decide). Nil when
	// Meta did not report it (e.g. the field was retired): read it with OnBizApp.
	IsOnBizApp *bool `json:"is_on_biz_app,omitempty"`
	// WebhookConfiguration says where Meta sends this number's webhooks; nil when Meta
	// did not report it.
	WebhookConfiguration *WebhookConfiguration `json:"webhook_configuration,omitempty"`
	HealthStatus         *HealthStatus         `json:"health_status,omitempty"`
}

// WebhookConfiguration is the phone node's webhook_configuration: the app's callback
// URL, and any override set on the WhatsApp Business Account or on the number itself.
// An override only redirects message-type fields; health fields (name, quality,
// account updates) always go to Application. See Meta's "Webhook overrides" page,
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override/
type WebhookConfiguration struct {
	Application             string `json:"application,omitempty"`
	WhatsAppBusinessAccount string `json:"whatsapp_business_account,omitempty"`
	PhoneNumber             string `json:"phone_number,omitempty"`
}

// Throughput is the number's message throughput level.
type Throughput struct {
	Level string `json:"level,omitempty"`
}

// HealthStatus is Meta's can-send-message verdict for a number or business account,
// with one entry per entity (phone number, WABA, business, app) on the path.
type HealthStatus struct {
	CanSendMessage string         `json:"can_send_message,omitempty"`
	Entities       []HealthEntity `json:"entities,omitempty"`
}

// HealthEntity is one entity's verdict, with Meta's reasons when it is limited or blocked.
type HealthEntity struct {
	EntityType     string        `json:"entity_type"`
	ID             string        `json:"id"`
	CanSendMessage string        `json:"can_send_message,omitempty"`
	AdditionalInfo []string      `json:"additional_info,omitempty"`
	Errors         []HealthError `json:"errors,omitempty"`
}

// HealthError is a reason Meta gives for an entity being limited or blocked.
type HealthError struct {
	ErrorCode        int64  `json:"error_code"`
	ErrorDescription string `json:"error_description,omitempty"`
	PossibleSolution string `json:"possible_solution,omitempty"`
}

// OnBizApp reports whether Meta says the number is also used in the WhatsApp Business
// app (a coexistence number).
func (p PhoneNumber) OnBizApp() bool { return p.IsOnBizApp != nil && *p.IsOnBizApp }

// LimitTier reads the messaging limit from the field Meta currently fills:
// whatsapp_business_manager_messaging_limit from v24 on, messaging_limit_tier before.
func (p PhoneNumber) LimitTier() string {
	if p.BusinessMessagingLimit != "" {
		return p.BusinessMessagingLimit
	}
	return p.MessagingLimitTier
}

// EffectiveNameStatus is the status of the display name that matters now: during a name
// change Meta reports the new name's review in new_name_status.
func (p PhoneNumber) EffectiveNameStatus() string {
	if p.NewNameStatus != "" && p.NewNameStatus != "NONE" {
		return p.NewNameStatus
	}
	return p.NameStatus
}

// Enum values the product reasons about. Others are kept as Meta sent them.
const (
	VerificationVerified    = "VERIFIED"
	VerificationNotVerified = "NOT_VERIFIED"
	VerificationExpired     = "EXPIRED"

	NameApproved               = "APPROVED"
	NameAvailableWithoutReview = "AVAILABLE_WITHOUT_REVIEW"
	NamePendingReview          = "PENDING_REVIEW"
	NameDeclined               = "DECLINED"
	NameExpired                = "EXPIRED"
	NameNone                   = "NONE"
	NameNonExists              = "NON_EXISTS"

	PlatformCloudAPI      = "CLOUD_API"
	PlatformOnPremise     = "ON_PREMISE"
	PlatformNotApplicable = "NOT_APPLICABLE"

	ThroughputStandard      = "STANDARD"
	ThroughputHigh          = "HIGH"
	ThroughputNotApplicable = "NOT_APPLICABLE"

	CanSendAvailable = "AVAILABLE"
	CanSendLimited   = "LIMITED"
	CanSendBlocked   = "BLOCKED"
)

// PhoneNumberFields is the field list requested for a phone-number node: every field
// the health model reads, both messaging-limit fields, health_status, the coexistence
// flag and the webhook configuration. It is the one place the list is written; a
// Client drops from its own copy any field Meta says it no longer knows.
const PhoneNumberFields = "id,display_phone_number,verified_name,code_verification_status," +
	"name_status,new_name_status,platform_type,throughput,status,quality_rating," +
	"messaging_limit_tier,whatsapp_business_manager_messaging_limit,account_mode," +
	"last_onboarded_time,is_official_business_account,is_on_biz_app,webhook_configuration," +
	"health_status"
