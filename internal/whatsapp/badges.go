package whatsapp

// Badge is one health field ready to draw: what Meta sent, what it means in plain
// words, and a tone.
//
// Tone choices, per field (see fieldBadgeSpec for every value):
//   - green: the field is as it should be for a working number (GREEN, APPROVED,
//     AVAILABLE_WITHOUT_REVIEW, VERIFIED, CLOUD_API, STANDARD, HIGH, CONNECTED, LIVE,
//     AVAILABLE, every TIER_* with a number and TIER_UNLIMITED).
//   - amber: in progress or degraded, usually resolves or needs watching (YELLOW,
//     PENDING_REVIEW, NOT_VERIFIED, NOT_APPLICABLE for platform and throughput,
//     PENDING, FLAGGED, RESTRICTED, RATE_LIMITED, UNVERIFIED, LIMITED).
//   - red: broken, someone must act (RED, DECLINED, EXPIRED, NONE and NON_EXISTS for
//     the display name — the registration decision treats all of these as "display
//     name needs action" — BANNED, DISCONNECTED, DELETED, BLOCKED).
//   - grey: informative, not applicable or not known (NA, UNKNOWN, ON_PREMISE,
//     MIGRATED, SANDBOX — a test account is a choice, not a fault —, is_on_biz_app
//     true — coexistence with the WhatsApp Business app is a choice too —, UNTIERED,
//     TIER_NOT_SET, an empty field, and any value this version does not know).
type Badge struct {
	Field   string // Graph API field name, e.g. "quality_rating"
	Label   string // field label, e.g. "Quality"
	Value   string // as Meta sent it, or "—" when empty
	Text    string // human text, e.g. "Green"; the raw value when unknown
	Tone    Tone
	Tooltip string // what the field means, then what this value means
}

// emptyBadgeValue stands in for a field Meta did not send, so a table cell is never blank.
const emptyBadgeValue = "—"

// unknownValueNote is appended to the tooltip of values missing from DESIGN.md's enum
// lists: Meta adds values without notice, and the row must still be shown.
const unknownValueNote = "Meta sent a value this version does not know yet."

// FieldBadge describes one value of one phone-number health field. field is the
// Graph API field name ("quality_rating", "name_status", "code_verification_status",
// "platform_type", "throughput", "status", "account_mode", "messaging_limit_tier",
// "can_send_message", "is_on_biz_app" with "true"/"false"); an unknown field or value
// yields a grey badge showing the raw value.
func FieldBadge(field, value string) Badge {
	vocab, known := badgeFields[field]
	if !known {
		vocab = newBadgeVocabulary(field, badgeFieldSpec{})
	}
	if value == "" {
		return vocab.empty
	}
	if b, ok := vocab.byValue[value]; ok {
		return b
	}
	b := vocab.unknown
	b.Value, b.Text = value, value
	return b
}

// HealthBadges returns the badges of a number in display order: can it work at all
// first (status, can send), then why not (display name, verification, platform,
// throughput), then how well (quality, limit), then the account mode, and last, for a
// coexistence number only, that it is also on the WhatsApp Business app.
func HealthBadges(p PhoneNumber) []Badge {
	canSend := ""
	if p.HealthStatus != nil {
		canSend = p.HealthStatus.CanSendMessage
	}
	name := FieldBadge("name_status", p.EffectiveNameStatus())
	if p.EffectiveNameStatus() != p.NameStatus {
		name.Tooltip = joinSentences(name.Tooltip, "This is the status of the new name requested in a name change.")
	}
	badges := []Badge{
		FieldBadge("status", p.Status),
		FieldBadge("can_send_message", canSend),
		name,
		FieldBadge("code_verification_status", p.CodeVerificationStatus),
		FieldBadge("platform_type", p.PlatformType),
		FieldBadge("throughput", p.Throughput.Level),
		FieldBadge("quality_rating", p.QualityRating),
		FieldBadge("messaging_limit_tier", p.LimitTier()),
		FieldBadge("account_mode", p.AccountMode),
	}
	if p.OnBizApp() {
		badges = append(badges, FieldBadge("is_on_biz_app", "true"))
	}
	return badges
}

type badgeValueSpec struct {
	value   string
	text    string
	tone    Tone
	meaning string
}

type badgeFieldSpec struct {
	label   string
	meaning string
	values  []badgeValueSpec
}

// badgeVocabulary is every badge one field can show, built once: one per known value,
// one for a value Meta did not send, and the start of one for a value this version does
// not know (FieldBadge fills in the value).
type badgeVocabulary struct {
	byValue map[string]Badge
	empty   Badge
	unknown Badge
}

func newBadgeVocabulary(field string, spec badgeFieldSpec) badgeVocabulary {
	label := spec.label
	if label == "" {
		label = field
	}
	v := badgeVocabulary{
		byValue: make(map[string]Badge, len(spec.values)),
		empty: Badge{Field: field, Label: label, Value: emptyBadgeValue, Text: "Not reported", Tone: ToneGrey,
			Tooltip: joinSentences(spec.meaning, "Meta did not report this field.")},
		unknown: Badge{Field: field, Label: label, Tone: ToneGrey, Tooltip: joinSentences(spec.meaning, unknownValueNote)},
	}
	for _, val := range spec.values {
		v.byValue[val.value] = Badge{Field: field, Label: label, Value: val.value, Text: val.text, Tone: val.tone,
			Tooltip: joinSentences(spec.meaning, val.meaning)}
	}
	return v
}

// badgeFields holds each field's badges by Graph API field name, built once with their
// tooltips: every page shows about ten badges per number, and building them on each
// call was a tenth of the Account Health page's allocations. Only FieldBadge reads it;
// its types are unexported, so nothing outside this package can change it.
var badgeFields = func() map[string]badgeVocabulary {
	fields := map[string]badgeVocabulary{}
	for _, f := range []string{"status", "can_send_message", "name_status", "code_verification_status", "platform_type",
		"throughput", "quality_rating", "messaging_limit_tier", "is_on_biz_app", "account_mode"} {
		fields[f] = newBadgeVocabulary(f, fieldBadgeSpec(f))
	}
	return fields
}()

// fieldBadgeSpec writes out the vocabulary of one field (see badgeFields).
func fieldBadgeSpec(field string) badgeFieldSpec {
	switch field {
	case "status":
		return badgeFieldSpec{"Status", "Meta's connection status for this number.", []badgeValueSpec{
			{"CONNECTED", "Connected", ToneGreen, "The number is connected and can send messages."},
			{"PENDING", "Pending", ToneAmber, "The number is not fully set up yet, usually because registration has not finished."},
			{"FLAGGED", "Flagged", ToneAmber, "Quality has dropped; the messaging limit will be lowered if it does not improve within 7 days."},
			{"RESTRICTED", "Restricted", ToneAmber, "Meta has restricted what this number may send for a while."},
			{"RATE_LIMITED", "Rate limited", ToneAmber, "Meta is slowing down messages from this number for now."},
			{"BANNED", "Banned", ToneRed, "Meta has banned this number; it cannot send messages."},
			{"DISCONNECTED", "Disconnected", ToneRed, "The number is disconnected from WhatsApp and cannot send messages."},
			{"DELETED", "Deleted", ToneRed, "The number was deleted from the WhatsApp Business account."},
			{"MIGRATED", "Migrated", ToneGrey, "The number was moved to another WhatsApp Business account or API."},
			{"UNVERIFIED", "Unverified", ToneAmber, "The number has not been verified with a one-time code yet."},
			{"UNKNOWN", "Unknown", ToneGrey, "Meta does not know the status right now."},
		}}
	case "can_send_message":
		return badgeFieldSpec{"Can send messages", "Meta's verdict on whether messages from this number get through.", []badgeValueSpec{
			{CanSendAvailable, "Available", ToneGreen, "Messages can be sent."},
			{CanSendLimited, "Limited", ToneAmber, "Messages can be sent, but with limits Meta explains in the details."},
			{CanSendBlocked, "Blocked", ToneRed, "No messages can be sent until the problem Meta names is fixed."},
		}}
	case "name_status":
		return badgeFieldSpec{"Display name", "Meta's review of the name customers see.", []badgeValueSpec{
			{NameApproved, "Approved", ToneGreen, "Meta approved the display name."},
			{NameAvailableWithoutReview, "Available without review", ToneGreen, "The name can be used before Meta reviews it."},
			{NamePendingReview, "Pending review", ToneAmber, "Meta is still reviewing the name; registration can only succeed afterwards."},
			{NameDeclined, "Declined", ToneRed, "Meta declined the name; edit it in WhatsApp Manager."},
			{NameExpired, "Expired", ToneRed, "The name's approval expired; submit it again in WhatsApp Manager."},
			{NameNone, "None", ToneRed, "No display name has been submitted; add one in WhatsApp Manager."},
			{NameNonExists, "Missing", ToneRed, "The number has no display name; add one in WhatsApp Manager."},
		}}
	case "code_verification_status":
		return badgeFieldSpec{"Verification", "Whether the number was verified with a one-time code.", []badgeValueSpec{
			{VerificationVerified, "Verified", ToneGreen, "The number was verified."},
			{VerificationNotVerified, "Not verified", ToneAmber, "The number still needs to be verified with a one-time code."},
			{VerificationExpired, "Expired", ToneRed, "The verification expired; verify the number again in WhatsApp Manager."},
		}}
	case "platform_type":
		return badgeFieldSpec{"Platform", "Which WhatsApp API the number is registered with.", []badgeValueSpec{
			{PlatformCloudAPI, "Cloud API", ToneGreen, "The number is registered with the Cloud API."},
			{PlatformOnPremise, "On-Premises API", ToneGrey, "The number is registered with the On-Premises API, which this product does not manage."},
			{PlatformNotApplicable, "Not registered", ToneAmber, "The number is not registered with any API yet; Meta limits what it can send until it is."},
		}}
	case "throughput":
		return badgeFieldSpec{"Throughput", "How many messages per second the number may send.", []badgeValueSpec{
			{ThroughputStandard, "Standard", ToneGreen, "Standard throughput."},
			{ThroughputHigh, "High", ToneGreen, "High throughput."},
			{ThroughputNotApplicable, "Not applicable", ToneAmber, "No throughput yet, because the number is not registered."},
		}}
	case "quality_rating":
		return badgeFieldSpec{"Quality", "How recipients received recent messages (blocks, reports, feedback).", []badgeValueSpec{
			{"GREEN", "Green", ToneGreen, "High quality."},
			{"YELLOW", "Yellow", ToneAmber, "Medium quality: some recipients block or report messages."},
			{"RED", "Red", ToneRed, "Low quality: Meta may lower the messaging limit or restrict the number."},
			{"NA", "Not rated", ToneGrey, "Not rated yet, usually because few messages were sent."},
			{"UNKNOWN", "Unknown", ToneGrey, "Meta does not know the quality right now."},
		}}
	case "messaging_limit_tier":
		const perDay = "Business-initiated conversations with up to "
		return badgeFieldSpec{"Messaging limit", "How many customers the business may start conversations with in 24 hours.", []badgeValueSpec{
			{"TIER_50", "50 a day", ToneGreen, perDay + "50 customers a day."},
			{"TIER_250", "250 a day", ToneGreen, perDay + "250 customers a day."},
			{"TIER_1K", "1,000 a day", ToneGreen, perDay + "1,000 customers a day."},
			{"TIER_2K", "2,000 a day", ToneGreen, perDay + "2,000 customers a day."},
			{"TIER_10K", "10,000 a day", ToneGreen, perDay + "10,000 customers a day."},
			{"TIER_100K", "100,000 a day", ToneGreen, perDay + "100,000 customers a day."},
			{"TIER_UNLIMITED", "Unlimited", ToneGreen, "No limit on business-initiated conversations."},
			{"UNTIERED", "Untiered", ToneGrey, "Meta has not placed the number in a tier."},
			{"TIER_NOT_SET", "Not set", ToneGrey, "Meta has not set a limit yet, usually because the number is new."},
		}}
	case "is_on_biz_app":
		return badgeFieldSpec{"WhatsApp Business app", "Whether the number is also used in the WhatsApp Business app (coexistence).", []badgeValueSpec{
			{"true", "Also on the Business app", ToneGrey, "The number works in the WhatsApp Business app and the Cloud API at once; it is never registered from here, because that would move it off the app."},
			{"false", "Cloud API only", ToneGreen, "The number is not used in the WhatsApp Business app."},
		}}
	case "account_mode":
		return badgeFieldSpec{"Account mode", "Whether the account sends real messages or is a test account.", []badgeValueSpec{
			{"LIVE", "Live", ToneGreen, "The account sends real messages."},
			{"SANDBOX", "Sandbox", ToneGrey, "A test account, limited to test recipients."},
		}}
	}
	return badgeFieldSpec{}
}

// joinSentences joins tooltip parts with one space, skipping empty parts.
func joinSentences(parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += " "
		}
		out += p
	}
	return out
}

// EntityTitle names a health_status entity for a person: "WhatsApp Business Account
// 209876543210001". An entity type this version does not know is named as Meta sent it.
func EntityTitle(entityType, id string) string {
	name := map[string]string{
		"PHONE_NUMBER": "Phone number",
		"WABA":         "WhatsApp Business Account",
		"BUSINESS":     "Business portfolio",
		"APP":          "App",
	}[entityType]
	if name == "" {
		name = entityType
	}
	if id == "" {
		return name
	}
	return name + " " + id
}
