package whatsapp

import "strings"

// DescribeWebhookChange says in plain words what a webhook change from Meta means for
// a customer, for the list of events on the Account Health tab. Fields this version
// does not describe are named as Meta sent them.
func DescribeWebhookChange(c WebhookChange) string {
	switch c.Field {
	case WebhookFieldNameUpdate:
		u, err := c.NameUpdate()
		if err != nil {
			break
		}
		name := strings.TrimSpace(u.RequestedVerifiedName)
		if name != "" {
			name = " “" + name + "”"
		}
		switch u.Decision {
		case NameDecisionApproved:
			return "Meta approved the display name" + name + "."
		case NameDecisionRejected:
			return "Meta declined the display name" + name + ". " + ExplainRejectionReason(u.RejectionReason)
		case NameDecisionPending, NameDecisionDeferred:
			return "Meta's review of the display name" + name + " is still open."
		}
		return "Meta sent a display-name decision " + quoted(u.Decision) + "."
	case WebhookFieldQualityUpdate:
		u, err := c.QualityUpdate()
		if err != nil {
			break
		}
		return describeQualityEvent(u)
	case WebhookFieldAccountUpdate:
		u, err := c.AccountUpdate()
		if err != nil {
			break
		}
		return ExplainAccountEvent(u.Event)
	case WebhookFieldAccountReviewUpdate:
		u, err := c.AccountReviewUpdate()
		if err != nil {
			break
		}
		return "Meta's review of the WhatsApp Business Account: " + strings.ToLower(u.Decision) + "."
	case WebhookFieldAccountAlerts:
		a, err := c.AccountAlert()
		if err != nil {
			break
		}
		return a.Describe()
	case WebhookFieldBusinessCapabilityUpdate:
		u, err := c.BusinessCapabilityUpdate()
		if err != nil {
			break
		}
		return u.Describe()
	}
	return "Meta sent " + quoted(c.Field) + "."
}

func describeQualityEvent(u QualityUpdate) string {
	limit := LimitTierOf(u.MaxDailyConversationsPerBusiness)
	if limit == "" {
		limit = LimitTierOf(u.CurrentLimit)
	}
	withLimit := func(s string) string {
		if limit == "" {
			return s + "."
		}
		return s + "; the messaging limit is now " + FieldBadge("messaging_limit_tier", limit).Text + "."
	}
	switch u.Event {
	case QualityEventFlagged:
		return withLimit("Meta flagged the number for low quality: fix what customers complain about, or its limit goes down")
	case QualityEventUnflagged:
		return withLimit("Meta lifted the low-quality flag")
	case QualityEventDowngrade:
		return withLimit("Meta lowered the number's messaging limit because of low quality")
	case QualityEventUpgrade:
		return withLimit("Meta raised the number's messaging limit")
	case QualityEventOnboarding:
		return withLimit("The number is new to the platform and starts at its first messaging limit")
	case QualityEventThroughputUpgrade:
		return "Meta raised the number's throughput (messages per second)."
	}
	return withLimit("Meta sent the quality event " + quoted(u.Event))
}

func quoted(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(nothing)"
	}
	return "“" + s + "”"
}
