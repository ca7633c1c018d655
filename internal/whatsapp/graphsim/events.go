package graphsim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Account-level webhook events. Each method changes the simulated state the way Meta's
// state changes, then sends the event synchronously to the app callback (these fields
// are never redirected by an override, see destinationLocked). The state change happens
// even when the event has no destination; the error then wraps ErrNoDestination.

// Quality events of phone_number_quality_update, from
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_quality_update
var qualityEvents = []string{"FLAGGED", "UNFLAGGED", "DOWNGRADE", "UPGRADE", "ONBOARDING", "THROUGHPUT_UPGRADE"}

// QualityEvent sends phone_number_quality_update for a number with event (FLAGGED,
// UNFLAGGED, DOWNGRADE, UPGRADE, ONBOARDING or THROUGHPUT_UPGRADE) and, when not "",
// the new limit maxDaily (e.g. "TIER_2K"), which becomes the number's
// whatsapp_business_manager_messaging_limit. FLAGGED makes the number FLAGGED with
// quality RED, UNFLAGGED makes it CONNECTED again, THROUGHPUT_UPGRADE raises throughput
// to HIGH. The payload carries display_phone_number, event,
// max_daily_conversations_per_business, the deprecated current_limit with the same
// value, and old_limit for limit changes (DOWNGRADE, UPGRADE).
func (s *Server) QualityEvent(id, event, maxDaily string) error {
	if !slices.Contains(qualityEvents, event) {
		return fmt.Errorf("graphsim: quality event %q is not one of %s", event, strings.Join(qualityEvents, ", "))
	}
	s.mu.Lock()
	ns := s.numbers[id]
	if ns == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphsim: number %s does not exist", id)
	}
	n := &ns.n
	oldLimit := n.BusinessMessagingLimit
	switch event {
	case "FLAGGED":
		n.Status, n.QualityRating = "FLAGGED", "RED"
	case "UNFLAGGED":
		if n.Status == "FLAGGED" {
			n.Status = "CONNECTED"
		}
		n.QualityRating = "GREEN"
	case "THROUGHPUT_UPGRADE":
		n.ThroughputLevel = "HIGH"
	}
	value := map[string]any{"display_phone_number": strings.TrimPrefix(n.PhoneNumber, "+"), "event": event}
	if maxDaily != "" {
		n.BusinessMessagingLimit = maxDaily
		value["max_daily_conversations_per_business"] = maxDaily
		value["current_limit"] = maxDaily
		if (event == "DOWNGRADE" || event == "UPGRADE") && oldLimit != "" {
			value["old_limit"] = oldLimit
		}
	}
	ev := webhookEvent{wabaID: ns.biz.b.WABAID, phoneNumberID: id, field: "phone_number_quality_update", value: value}
	s.mu.Unlock()
	return s.send(ev)
}

// Events of account_update the simulator models, from
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/account_update
var accountEvents = []string{
	"ACCOUNT_DELETED", "PARTNER_ADDED", "PARTNER_REMOVED", "ACCOUNT_OFFBOARDED",
	"ACCOUNT_RECONNECTED", "DISABLED_UPDATE", "VIOLATION", "RESTRICTION",
}

// AccountEvent sends account_update for a WABA. value holds the event's extra members
// and replaces the defaults: VIOLATION gets violation_info {violation_type},
// DISABLED_UPDATE ban_info {waba_ban_state, waba_ban_date}, RESTRICTION
// restriction_info [{restriction_type, expiration}], PARTNER_* waba_info. State changes:
// DISABLED_UPDATE with waba_ban_state DISABLE locks the account (its WABA entity
// BLOCKED; REINSTATE unlocks it); RESTRICTION limits the WABA entity; ACCOUNT_DELETED,
// PARTNER_REMOVED and ACCOUNT_OFFBOARDED end the app's subscription to the WABA after
// this last event is sent.
func (s *Server) AccountEvent(wabaID, event string, value map[string]any) error {
	if !slices.Contains(accountEvents, event) {
		return fmt.Errorf("graphsim: account event %q is not one of %s", event, strings.Join(accountEvents, ", "))
	}
	now := s.clock.Now()
	s.mu.Lock()
	bs := s.businesses[wabaID]
	if bs == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphsim: business %s does not exist", wabaID)
	}
	v := map[string]any{"event": event}
	switch event {
	case "VIOLATION":
		v["violation_info"] = map[string]any{"violation_type": "SCAM"}
	case "DISABLED_UPDATE":
		v["ban_info"] = map[string]any{"waba_ban_state": []string{"DISABLE"}, "waba_ban_date": now.UTC().Format("2006-01-02")}
	case "RESTRICTION":
		v["restriction_info"] = []map[string]any{{
			"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
			"expiration":       now.Add(RegisterWindow).UTC().Format("2006-01-02T15:04:05-0700"),
		}}
	case "PARTNER_ADDED", "PARTNER_REMOVED":
		v["waba_info"] = map[string]any{"waba_id": wabaID, "owner_business_id": bs.b.BusinessID}
	}
	maps.Copy(v, value)
	switch event {
	case "DISABLED_UPDATE":
		switch banState(v["ban_info"]) {
		case "DISABLE":
			bs.b.Locked = true
			bs.waba.CanSendMessage = CanSendBlocked
		case "REINSTATE":
			bs.b.Locked = false
			bs.waba.CanSendMessage = CanSendAvailable
		}
	case "RESTRICTION":
		bs.waba.CanSendMessage = CanSendLimited
	}
	ev := webhookEvent{wabaID: wabaID, field: "account_update", value: v}
	endsSubscription := event == "ACCOUNT_DELETED" || event == "PARTNER_REMOVED" || event == "ACCOUNT_OFFBOARDED"
	s.mu.Unlock()
	err := s.send(ev)
	if endsSubscription {
		s.mu.Lock()
		bs.sub = nil
		s.mu.Unlock()
	}
	return err
}

// banState reads ban_info.waba_ban_state, a list of states on Meta's page (a single
// string is accepted too).
func banState(banInfo any) string {
	info, _ := banInfo.(map[string]any)
	switch st := info["waba_ban_state"].(type) {
	case string:
		return st
	case []string:
		if len(st) > 0 {
			return st[0]
		}
	case []any:
		if len(st) > 0 {
			v, _ := st[0].(string)
			return v
		}
	}
	return ""
}

// AlertInfo is the alert_info of an account_alerts webhook.
type AlertInfo struct {
	Severity    string `json:"alert_severity"` // CRITICAL, WARNING or INFORMATIONAL
	Status      string `json:"alert_status"`   // ACTIVE or NONE
	Type        string `json:"alert_type"`     // e.g. OBA_APPROVED, INCREASED_CAPABILITIES_ELIGIBILITY_FAILED
	Description string `json:"alert_description"`
}

// AccountAlert sends account_alerts for a WABA about one entity (entityType BUSINESS or
// PHONE_NUMBER, entityID its id), as
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/account_alerts
// describes it. OBA_APPROVED on a phone number makes it an Official Business Account.
func (s *Server) AccountAlert(wabaID, entityType, entityID string, info AlertInfo) error {
	s.mu.Lock()
	if s.businesses[wabaID] == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphsim: business %s does not exist", wabaID)
	}
	if ns := s.numbers[entityID]; entityType == "PHONE_NUMBER" && ns != nil && info.Type == "OBA_APPROVED" {
		ns.n.IsOfficialBusinessAccount = true
	}
	ev := webhookEvent{wabaID: wabaID, field: "account_alerts", value: map[string]any{
		"entity_type": entityType,
		"entity_id":   entityID,
		"alert_info":  info,
	}}
	s.mu.Unlock()
	return s.send(ev)
}

// Capability is the value of a business_capability_update webhook. A limit of -1 means
// unlimited.
type Capability struct {
	MaxDailyConversationPerPhone     int `json:"max_daily_conversation_per_phone,omitempty"` // deprecated by Meta
	MaxDailyConversationsPerBusiness int `json:"max_daily_conversations_per_business"`
	MaxPhoneNumbersPerBusiness       int `json:"max_phone_numbers_per_business,omitempty"`
	MaxPhoneNumbersPerWABA           int `json:"max_phone_numbers_per_waba,omitempty"`
}

// BusinessCapabilityEvent sends business_capability_update for a WABA
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/business_capability_update).
// Messaging limits are set per business portfolio and shared by all its numbers
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits),
// so every number of the WABA gets the matching
// whatsapp_business_manager_messaging_limit tier (250 TIER_250, 2000 TIER_2K, 10000
// TIER_10K, 100000 TIER_100K, -1 TIER_UNLIMITED).
func (s *Server) BusinessCapabilityEvent(wabaID string, c Capability) error {
	tiers := map[int]string{250: "TIER_250", 2000: "TIER_2K", 10000: "TIER_10K", 100000: "TIER_100K", -1: "TIER_UNLIMITED"}
	s.mu.Lock()
	bs := s.businesses[wabaID]
	if bs == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphsim: business %s does not exist", wabaID)
	}
	if tier, known := tiers[c.MaxDailyConversationsPerBusiness]; known {
		for _, ns := range bs.numbers {
			ns.n.BusinessMessagingLimit = tier
		}
	}
	ev := webhookEvent{wabaID: wabaID, field: "business_capability_update", value: c}
	s.mu.Unlock()
	return s.send(ev)
}

// Decisions of account_review_update, from
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/account_review_update
var reviewDecisions = []string{"APPROVED", "REJECTED", "PENDING", "DEFERRED"}

// AccountReviewEvent sends account_review_update for a WABA with decision APPROVED,
// REJECTED, PENDING or DEFERRED; the WABA's account_review_status becomes the decision.
func (s *Server) AccountReviewEvent(wabaID, decision string) error {
	if !slices.Contains(reviewDecisions, decision) {
		return fmt.Errorf("graphsim: review decision %q is not one of %s", decision, strings.Join(reviewDecisions, ", "))
	}
	s.mu.Lock()
	bs := s.businesses[wabaID]
	if bs == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphsim: business %s does not exist", wabaID)
	}
	bs.reviewStatus = decision
	ev := webhookEvent{wabaID: wabaID, field: "account_review_update", value: map[string]string{"decision": decision}}
	s.mu.Unlock()
	return s.send(ev)
}
