package graphsim

import (
	"fmt"
	"slices"
	"strings"
)

// nodeFields is the one place that lists the fields of a Graph node type the simulator
// knows, and the default set Meta answers when a request names none. Meta refuses a
// request that names a field its node type does not have, with one error for the whole
// request (see errNonexistingField), so anything not listed here is refused.
type nodeFields struct {
	nodeType string
	known    []string
	defaults []string
}

// phoneNumberNode lists the WhatsApp Business phone number node's fields, from
// https://developers.facebook.com/documentation/business-messaging/whatsapp/reference/whatsapp-business-phone-number/whatsapp-business-account-phone-number-api
// (is_on_biz_app: https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users;
// webhook_configuration: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override).
var phoneNumberNode = nodeFields{
	nodeType: "WhatsAppBusinessPhoneNumber",
	known: []string{
		"id", "display_phone_number", "verified_name", "code_verification_status",
		"name_status", "new_name_status", "platform_type", "throughput", "status",
		"quality_rating", "messaging_limit_tier", "whatsapp_business_manager_messaging_limit",
		"account_mode", "last_onboarded_time", "is_official_business_account",
		"health_status", "is_on_biz_app", "webhook_configuration",
	},
	defaults: []string{
		"id", "verified_name", "code_verification_status", "display_phone_number",
		"quality_rating", "platform_type", "throughput", "last_onboarded_time",
	},
}

// businessAccountNode lists the WhatsApp Business Account node's fields, from
// https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account
var businessAccountNode = nodeFields{
	nodeType: "WhatsAppBusinessAccount",
	known:    []string{"id", "name", "health_status", "account_review_status", "owner_business_info"},
	defaults: []string{"id", "name"},
}

// selectFields reads a Graph "fields" parameter and checks every top-level name against
// the node's known fields minus retired ones. Nested selections
// ("health_status{can_send_message}") and modifiers ("x.limit(5)") are reduced to their
// top-level names. Without "fields" the node's defaults are answered.
func (nf nodeFields) selectFields(raw string, retired map[string]bool) (map[string]bool, failure, bool) {
	if strings.TrimSpace(raw) == "" {
		return fieldSet(nf.defaults...), failure{}, true
	}
	out := map[string]bool{"id": true}
	for _, name := range topLevelFieldNames(raw) {
		if !slices.Contains(nf.known, name) || retired[name] {
			return nil, errNonexistingField(name, nf.nodeType), false
		}
		out[name] = true
	}
	return out, failure{}, true
}

func topLevelFieldNames(raw string) []string {
	var names []string
	depth := 0
	var cur strings.Builder
	flush := func() {
		name := strings.TrimSpace(cur.String())
		if i := strings.IndexAny(name, ".("); i >= 0 {
			name = name[:i]
		}
		if name != "" {
			names = append(names, name)
		}
		cur.Reset()
	}
	for _, c := range raw {
		switch {
		case c == '{' || c == '(':
			depth++
		case c == '}' || c == ')':
			if depth > 0 {
				depth--
			}
		case depth > 0:
		case c == ',':
			flush()
		default:
			cur.WriteRune(c)
		}
	}
	flush()
	return names
}

func fieldSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// RetireField makes a known phone-number field nonexisting from now on, as when Meta
// retires a field in a new Graph API version: a request naming it fails with
// "(#100) Tried accessing nonexisting field (...)". "id" cannot be retired.
func (s *Server) RetireField(field string) error {
	if field == "id" || !slices.Contains(phoneNumberNode.known, field) {
		return fmt.Errorf("graphsim: %q is not a retirable phone-number field", field)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retiredFields[field] = true
	return nil
}
