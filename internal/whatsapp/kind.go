package whatsapp

// Kind classifies a Graph API failure by what the product should do about it.
// Each kind maps to a row of the error table in DESIGN.md.
type Kind string

const (
	KindNone                Kind = ""                       // no error
	KindDisplayNameNotReady Kind = "display_name_not_ready" // 100 / 2388001
	KindPINMismatch         Kind = "pin_mismatch"           // 133005
	KindNeedsVerification   Kind = "needs_verification"     // 133006
	KindTooManyPINAttempts  Kind = "too_many_pin_attempts"  // 133008, 133009
	KindRecentlyDeleted     Kind = "recently_deleted"       // 133015
	KindRegisterRateLimited Kind = "register_rate_limited"  // 133016
	KindAccountLocked       Kind = "account_locked"         // 131031
	KindTokenExpired        Kind = "token_expired"          // 190
	KindRateLimited         Kind = "rate_limited"           // 4, 80007, 80008, 130429
	KindTransient           Kind = "transient"              // 1, 2, 131000, 133004, HTTP 5xx, timeouts, network
	KindInvalidRequest      Kind = "invalid_request"        // any other 4xx from Meta (bad id, permissions, ...)
	KindUnknown             Kind = "unknown"                // anything else
)
