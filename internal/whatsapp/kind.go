package whatsapp

// Kind classifies a Graph API failure by what the product should do about it.
// Each kind maps to a row of the error table in DESIGN.md; the codes are Meta's, from
// https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/
// and, for the Graph API's own codes (0, 10, 190, 200, 368), Graph API error handling;
// 136024 is listed on the request_code reference,
// https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/request_code/
// and 136025 answers verify_code (step 3 of
// https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/).
type Kind string

const (
	KindNone                     Kind = ""                          // no error
	KindDisplayNameNotReady      Kind = "display_name_not_ready"    // 100 / 2388001
	KindPINMismatch              Kind = "pin_mismatch"              // 133005; 131031 when Meta's text names the PIN
	KindNeedsVerification        Kind = "needs_verification"        // 133006
	KindTooManyPINAttempts       Kind = "too_many_pin_attempts"     // 133008, 133009
	KindRecentlyDeleted          Kind = "recently_deleted"          // 133015
	KindRegisterRateLimited      Kind = "register_rate_limited"     // 133016
	KindDeregistrationIncomplete Kind = "deregistration_incomplete" // 133000
	KindNotRegistered            Kind = "not_registered"            // 133010
	KindCodeNotSent              Kind = "code_not_sent"             // 136024 (request_code)
	KindCodeWrong                Kind = "code_wrong"                // 136025 (verify_code)
	KindAccountLocked            Kind = "account_locked"            // 131031 (business account locked)
	KindTokenExpired             Kind = "token_expired"             // 0, 190
	KindPermissionMissing        Kind = "permission_missing"        // 10, 200
	KindPolicyBlocked            Kind = "policy_blocked"            // 368
	KindRateLimited              Kind = "rate_limited"              // 4, 80007, 80008, 130429
	KindTransient                Kind = "transient"                 // 1, 2, 131000, 133004, HTTP 5xx, timeouts, network
	KindInvalidRequest           Kind = "invalid_request"           // 100 without a known subcode; a 4xx without a Graph code
	KindUnknown                  Kind = "unknown"                   // 131056, any code not above, anything else
)
