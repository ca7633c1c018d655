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
	CodeAuthException      = 0       // the app user could not be authenticated
	CodePermissionDenied   = 10      // permission not granted or removed
	CodeAppTokenRequired   = 15      // the method needs an app access token
	CodeAccessTokenMissing = 104     // no access token at all (app-token endpoints)
	CodeAccessToken        = 190     // missing, unknown or expired access token
	CodeAPIPermission      = 200     // API permission (200-299) missing on the token
	CodePolicyBlocked      = 368     // temporarily blocked for policy violations
	CodeCallbackVerify     = 2200    // callback verification failed
	CodePairRateLimit      = 131056  // (business, consumer) pair rate limit hit
	CodeIncompleteDereg    = 133000  // a previous deregistration did not finish
	CodeNotRegistered      = 133010  // phone number not registered on the Cloud API
	CodeBusinessRateLimit  = 80008   // WhatsApp Business account rate limit
	CodeAppRateLimit       = 4       // application request limit reached
	CodeAccountLocked      = 131031  // business account locked
	CodePINMismatch        = 133005  // two-step verification PIN mismatch
	CodeNeedsVerification  = 133006  // phone number needs re-verification
	CodeRegisterRateLimit  = 133016  // 10 register calls per number per moving 72 h
	CodeRequestCode        = 136024  // request_code: the code could not be sent
	CodeVerifyCode         = 136025  // verify_code: the code is wrong, used or expired
	SubcodeUnknownObject   = 33      // object does not exist or is not visible to the token
	SubcodeTokenExpired    = 463     // access token has expired
	SubcodeDisplayName     = 2388001 // display name not processed yet ("Cannot Create Certificate")
)

// Meta's error types: OAuthException for most errors, GraphMethodException for a
// request the object does not support (errUnknownObject).
const (
	oauthException       = "OAuthException"
	graphMethodException = "GraphMethodException"
)

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
// token may not see alike: it never tells the two apart. A phone-number id or WABA id
// mistyped, a WABA the token's system user was not given, and a number of another
// business all get it; Meta answers it as a GraphMethodException (code 100, "Invalid
// parameter" on the Graph API's "Handling Errors" page,
// https://developers.facebook.com/docs/graph-api/guides/error-handling, and the first
// code in the error table of the WABA's phone_numbers edge,
// https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/phone_numbers/).
func errUnknownObject(method, id string) failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message: fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, "+
			"cannot be loaded due to missing permissions, or does not support this operation. "+
			"Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
			strings.ToLower(method), id),
		Type:         graphMethodException,
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

// Codes and messages below follow Meta's table on
// https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
// (titles in the message, the explanation in error_data.details) and, for the Graph
// codes 0, 10, 190 and 200, https://developers.facebook.com/docs/graph-api/guides/error-handling

// errPINLocked is 131031 as a register call meets it when the two-step PIN is wrong:
// Meta's table gives one code for a locked account and for data in the request that
// does not match the WABA's, "e.g. the two-step PIN included in the request is
// incorrect"; only the details tell the two apart.
func errPINLocked() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#131031) Account has been locked",
		Type:      oauthException,
		Code:      CodeAccountLocked,
		ErrorData: whatsappDetails("We were unable to verify data included in the request against data set on the WhatsApp Business Account: the two-step verification PIN included in the request is incorrect."),
	}}
}

func errIncompleteDeregistration() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#133000) Incomplete deregistration",
		Type:      oauthException,
		Code:      CodeIncompleteDereg,
		ErrorData: whatsappDetails("A previous deregistration attempt failed. Deregister the number again before registering."),
	}}
}

func errNotRegistered() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#133010) Phone number Not Registered",
		Type:      oauthException,
		Code:      CodeNotRegistered,
		ErrorData: whatsappDetails("The phone number is not registered on the WhatsApp Business Platform."),
	}}
}

func errAuthException() failure {
	return tokenFailure(GraphError{
		Message: "(#0) AuthException: we were unable to authenticate the app user.",
		Type:    oauthException,
		Code:    CodeAuthException,
	})
}

func errPermissionDenied(permission string) failure {
	return failure{status: http.StatusForbidden, err: GraphError{
		Message: "(#10) Application does not have permission for this action",
		Type:    oauthException,
		Code:    CodePermissionDenied,
		ErrorData: whatsappDetails("Permission is either not granted or has been removed: " + permission +
			" is missing on this access token."),
	}}
}

// errAPIPermission is Meta's answer to a token without a permission the call needs:
// code 200 ("API Permission", 200-299, "Permission is either not granted or has been
// removed"; Graph API "Handling Errors",
// https://developers.facebook.com/docs/graph-api/guides/error-handling; 200 is in the
// error table of https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/phone_numbers/).
func errAPIPermission(permission string) failure {
	return failure{status: http.StatusForbidden, err: GraphError{
		Message:   "(#200) Permissions error",
		Type:      oauthException,
		Code:      CodeAPIPermission,
		ErrorData: whatsappDetails("Permission is either not granted or has been removed: " + permission + "."),
	}}
}

func errPolicyBlocked() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#368) Temporarily blocked for policies violations",
		Type:      oauthException,
		Code:      CodePolicyBlocked,
		ErrorData: whatsappDetails("The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy."),
	}}
}

func errPairRateLimit() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#131056) (Business, Consumer) pair rate limit hit",
		Type:      oauthException,
		Code:      CodePairRateLimit,
		ErrorData: whatsappDetails("Too many messages sent from the sender phone number to the same recipient phone number in a short period of time."),
	}}
}

// errCodeNotSent is 136024, "Request code error" in the error table of Meta's
// request_code reference
// (https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/request_code/);
// the details, the simulator's own words, say which of its causes applies.
func errCodeNotSent(details string) failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#136024) Request code error",
		Type:      oauthException,
		Code:      CodeRequestCode,
		ErrorData: whatsappDetails(details),
	}}
}

// errCodeWrong is 136025, the answer of verify_code
// (step 3 of https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/)
// to a code that is not the one outstanding. The title follows the request_code
// reference's "Request code error"; the pages found give no text of their own for it.
func errCodeWrong() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message:   "(#136025) Verify code error",
		Type:      oauthException,
		Code:      CodeVerifyCode,
		ErrorData: whatsappDetails("The verification code is incorrect, was already used or has expired. Request a new code and try again."),
	}}
}

// errCoexistenceRegister refuses register on a number that is on the WhatsApp Business
// app. Meta's coexistence page
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users)
// onboards such numbers through Embedded Signup and keeps them on the app; it does not
// document what a register call answers. This answer is the simulator's own plausible
// refusal (#100 with details), so a product that registers one is caught in tests.
func errCoexistenceRegister() failure {
	return errParam("Invalid parameter",
		"This phone number is connected to the WhatsApp Business app (coexistence) and is already onboarded to Cloud API; registering it would move it off the app.")
}

// errOverrideBeforeSubscription is Meta's answer to an override_callback_uri sent before
// the app is subscribed to the WABA
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override).
func errOverrideBeforeSubscription() failure {
	return errParam("Before override the current callback uri, your app must be subscribed to receive messages for WhatsApp Business Account", "")
}

// errCallbackVerification is the answer when the callback does not echo Meta's challenge
// (https://developers.facebook.com/docs/graph-api/webhooks/getting-started).
func errCallbackVerification(cause error) failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message: "(#2200) Callback verification failed with the following errors: " + cause.Error(),
		Type:    oauthException,
		Code:    CodeCallbackVerify,
	}}
}

// errAccessTokenRequired and errAppTokenRequired are Graph's answers on an endpoint that
// needs an app access token ("An app access token is required to return subscriptions
// for that app", https://developers.facebook.com/docs/graph-api/reference/app/subscriptions/).
func errAccessTokenRequired() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message: "An access token is required to request this resource.",
		Type:    oauthException,
		Code:    CodeAccessTokenMissing,
	}}
}

func errAppTokenRequired() failure {
	return failure{status: http.StatusBadRequest, err: GraphError{
		Message: "(#15) This method must be called with an app access_token.",
		Type:    oauthException,
		Code:    CodeAppTokenRequired,
	}}
}

// Failure is an error answer the product must handle, ready for Inject: the HTTP status
// and Meta's error object.
type Failure struct {
	Status int
	Error  GraphError
}

func exported(f failure) Failure { return Failure{Status: f.status, Error: f.err} }

// Error answers for Inject, one per code the product must tell apart.
func FailureAccountLocked() Failure             { return exported(errAccountLocked()) }
func FailurePINIncorrect() Failure              { return exported(errPINLocked()) }
func FailureIncompleteDeregistration() Failure  { return exported(errIncompleteDeregistration()) }
func FailureNotRegistered() Failure             { return exported(errNotRegistered()) }
func FailureAuthException() Failure             { return exported(errAuthException()) }
func FailureTokenExpired(now time.Time) Failure { return exported(errTokenExpired(now)) }
func FailurePermissionDenied(permission string) Failure {
	return exported(errPermissionDenied(permission))
}
func FailureAPIPermission(permission string) Failure { return exported(errAPIPermission(permission)) }
func FailurePolicyBlocked() Failure                  { return exported(errPolicyBlocked()) }
func FailurePairRateLimit() Failure                  { return exported(errPairRateLimit()) }
func FailurePINMismatch() Failure                    { return exported(errPINMismatch()) }
func FailureDisplayNameNotReady() Failure            { return exported(errDisplayNameNotReady()) }
func FailureCodeNotSent() Failure {
	return exported(errCodeNotSent("A verification code cannot be sent to this phone number."))
}
func FailureCodeWrong() Failure { return exported(errCodeWrong()) }
