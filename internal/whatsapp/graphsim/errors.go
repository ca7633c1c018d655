package graphsim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// GraphError is Meta's error object, the value of "error" in the envelope
// {"error":{...}}. Empty optional fields are left out of the JSON, as Meta does.
type GraphError struct {
	Message        string     `json:"message"`
	Type           string     `json:"type"`
	Code           int        `json:"code"`
	ErrorSubcode   int        `json:"error_subcode,omitempty"`
	ErrorUserTitle string     `json:"error_user_title,omitempty"`
	ErrorUserMsg   string     `json:"error_user_msg,omitempty"`
	IsTransient    *bool      `json:"is_transient,omitempty"`
	ErrorData      *ErrorData `json:"error_data,omitempty"`
	FBTraceID      string     `json:"fbtrace_id,omitempty"`
}

// ErrorData is the error_data member of Meta's error object.
type ErrorData struct {
	MessagingProduct string `json:"messaging_product,omitempty"`
	Details          string `json:"details,omitempty"`
}

// ErrorEnvelope is the whole error body Meta answers: {"error":{...}}.
type ErrorEnvelope struct {
	Error GraphError `json:"error"`
}

// Error codes and subcodes the simulator answers on its own.
const (
	CodeUnknown            = 1       // transient "unknown error" (fault injection)
	CodeServiceUnavailable = 2       // transient "unexpected error" (fault injection)
	CodeInvalidParameter   = 100     // bad parameter, unknown object or route
	CodeAccessToken        = 190     // missing, unknown or expired access token
	CodeBusinessRateLimit  = 80008   // WhatsApp Business account rate limit
	CodeAccountLocked      = 131031  // business account locked
	CodePINMismatch        = 133005  // two-step verification PIN mismatch
	CodeNeedsVerification  = 133006  // phone number needs re-verification
	CodeRegisterRateLimit  = 133016  // 10 register calls per number per moving 72 h
	SubcodeUnknownObject   = 33      // object does not exist or is not visible to the token
	SubcodeTokenExpired    = 463     // access token has expired
	SubcodeDisplayName     = 2388001 // display name not processed yet ("Cannot Create Certificate")
)

const oauthException = "OAuthException"

// failure is an error answer: an HTTP status, the error object, and extra headers.
type failure struct {
	status int
	err    GraphError
	header http.Header
}

func boolPtr(b bool) *bool { return &b }

func whatsappDetails(details string) *ErrorData {
	return &ErrorData{MessagingProduct: "whatsapp", Details: details}
}

func errParam(message, details string) failure {
	e := GraphError{Message: "(#100) " + message, Type: oauthException, Code: CodeInvalidParameter}
	if details != "" {
		e.ErrorData = whatsappDetails(details)
	}
	return failure{status: http.StatusBadRequest, err: e}
}

// errUnknownObject is Meta's answer for an id that does not exist and for an object the
// token may not see alike: it never tells the two apart.
func errUnknownObject(method, id string) failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message: fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, "+
			"cannot be loaded due to missing permissions, or does not support this operation. "+
			"Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
			strings.ToLower(method), id),
		Type:         oauthException,
		Code:         CodeInvalidParameter,
		ErrorSubcode: SubcodeUnknownObject,
	}}
}

func errUnknownPath(path string) failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message: "Unknown path components: " + path,
		Type:    oauthException,
		Code:    CodeInvalidParameter,
	}}
}

func errNonexistingField(field, nodeType string) failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message: fmt.Sprintf("(#100) Tried accessing nonexisting field (%s) on node type (%s)", field, nodeType),
		Type:    oauthException,
		Code:    CodeInvalidParameter,
	}}
}

func errTokenMissing() failure {
	return tokenFailure(GraphError{
		Message: "An active access token must be used to query information about the current user.",
		Type:    oauthException,
		Code:    CodeAccessToken,
	})
}

func errTokenInvalid() failure {
	return tokenFailure(GraphError{
		Message: "Invalid OAuth access token - Cannot parse access token",
		Type:    oauthException,
		Code:    CodeAccessToken,
	})
}

func errTokenExpired(now time.Time) failure {
	expiredAt := now.Add(-24 * time.Hour).UTC().Format("Monday, 02-Jan-06 15:04:05 MST")
	return tokenFailure(GraphError{
		Message:      "Error validating access token: Session has expired on " + expiredAt + ".",
		Type:         oauthException,
		Code:         CodeAccessToken,
		ErrorSubcode: SubcodeTokenExpired,
	})
}

func tokenFailure(e GraphError) failure {
	h := http.Header{}
	h.Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_token" "`+e.Message+`"`)
	return failure{status: http.StatusUnauthorized, err: e, header: h}
}

func errDisplayNameNotReady() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:        "(#100) Invalid parameter",
		Type:           oauthException,
		Code:           CodeInvalidParameter,
		ErrorSubcode:   SubcodeDisplayName,
		IsTransient:    boolPtr(false),
		ErrorUserTitle: "Cannot Create Certificate",
		ErrorUserMsg:   "Your display name could not be processed. Please edit your display name and try again.",
	}}
}

func errPINMismatch() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#133005) Two step verification PIN Mismatch",
		Type:      oauthException,
		Code:      CodePINMismatch,
		ErrorData: whatsappDetails("The PIN you entered does not match the two-step verification PIN for this phone number."),
	}}
}

func errRegisterRateLimited() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#133016) Account register deregister rate limit exceeded",
		Type:      oauthException,
		Code:      CodeRegisterRateLimit,
		ErrorData: whatsappDetails("Registration blocked for 72 hours: too many register or deregister requests for this phone number."),
	}}
}

func errAccountLocked() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#131031) Account has been locked",
		Type:      oauthException,
		Code:      CodeAccountLocked,
		ErrorData: whatsappDetails("The WhatsApp Business Account this phone number belongs to is locked and cannot register numbers or send messages."),
	}}
}

func errNeedsVerification() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#133006) Phone number re-verification needed",
		Type:      oauthException,
		Code:      CodeNeedsVerification,
		ErrorData: whatsappDetails("Phone number needs to be verified before registering."),
	}}
}

func errBusinessRateLimited(wabaID string, minutes int) failure {
	h := http.Header{}
	h.Set("X-Business-Use-Case-Usage", fmt.Sprintf(
		`{%q:[{"type":"whatsapp_business_management","call_count":100,"total_cputime":12,"total_time":18,"estimated_time_to_regain_access":%d}]}`,
		wabaID, minutes))
	return failure{status: http.StatusBadRequest, header: h, err: GraphError{
		Message:     "(#80008) There have been too many calls to this WhatsApp Business account. Wait a bit and try again.",
		Type:        oauthException,
		Code:        CodeBusinessRateLimit,
		IsTransient: boolPtr(true),
	}}
}

func errServer(code int) failure {
	msg := "An unknown error occurred"
	if code == CodeServiceUnavailable {
		msg = "An unexpected error has occurred. Please retry your request later."
	}
	return failure{status: http.StatusInternalServerError, err: GraphError{
		Message:     msg,
		Type:        oauthException,
		Code:        code,
		IsTransient: boolPtr(true),
	}}
}
