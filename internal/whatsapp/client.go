package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one Client method call, retries included, and is the timeout
// of the HTTP client NewClient creates when given none.
const DefaultTimeout = 10 * time.Second

const (
	maxResponseBytes = 1 << 20 // larger bodies are refused (success) or cut (errors)
	maxPages         = 100     // paging.next is followed at most this many times
	phoneNumbersPage = 100     // numbers asked for per page
)

var (
	errForeignPagingURL = errors.New("paging.next points outside the Graph API base URL; refused")
	errTooManyPages     = fmt.Errorf("more than %d pages of results", maxPages)
	errResponseTooLarge = fmt.Errorf("response body larger than %d bytes", maxResponseBytes)
)

// Client calls the Graph API endpoints the product uses. It holds no credentials:
// every method takes the inbox's access token, which is sent only in the
// Authorization header and never appears in URLs, errors or logs.
//
// GET calls are retried on transient failures (HTTP 5xx, timeouts, network errors,
// Graph codes 1, 2, 131000 and 133004) with exponential backoff and jitter, within the
// call's timeout. POST calls are made exactly once: a register call spends one of the
// ten Meta allows per number in 72 hours, so the caller decides about repeating it.
// A Client is safe for concurrent use.
type Client struct {
	base        *url.URL
	baseErr     error
	http        *http.Client
	timeout     time.Duration
	retry       retryPolicy
	log         *slog.Logger
	phoneFields *fieldList
}

type retryPolicy struct {
	attempts  int
	baseDelay time.Duration
	maxDelay  time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout bounds each method call, retries and paging included, through its
// context. d <= 0 leaves only the caller's context and the HTTP client's timeout.
// The default is DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithRetry sets how GET calls are retried on transient failures: at most maxAttempts
// attempts in all (1 disables retries), waiting baseDelay doubled after each failure,
// at most maxDelay, with random jitter. A retry that would not fit in the call's
// remaining time is not started. The default is 3 attempts, 200ms, 2s.
func WithRetry(maxAttempts int, baseDelay, maxDelay time.Duration) Option {
	return func(c *Client) {
		c.retry = retryPolicy{
			attempts:  max(maxAttempts, 1),
			baseDelay: max(baseDelay, 0),
			maxDelay:  max(maxDelay, baseDelay, 0),
		}
	}
}

// WithLogger sets the logger for per-call debug records (method, path, status,
// duration, attempt) and the warning when a field Meta retired is dropped. The
// default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// DefaultIdleConnsPerHost is how many idle connections to Meta the client NewClient
// makes keeps open: more than the monitor's sweep has calls in flight.
const DefaultIdleConnsPerHost = 64

// CloseIdleConnections closes the connections kept open for the next call (they are
// not in use): at shutdown, or to count what is left running.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// NewClient returns a client for the Graph API at baseURL, such as
// "https://graph.facebook.com/v24.0" (a trailing slash is fine). A nil httpClient
// means a new one with DefaultTimeout that keeps DefaultIdleConnsPerHost idle
// connections. An invalid baseURL makes every call fail.
func NewClient(baseURL string, httpClient *http.Client, opts ...Option) *Client {
	if httpClient == nil {
		// Go's default transport keeps 2 idle connections per host: a sweep with more
		// business accounts in flight than that would close a connection after every
		// answer and open (TCP and TLS) a new one for the next call.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = DefaultIdleConnsPerHost
		httpClient = &http.Client{Timeout: DefaultTimeout, Transport: t}
	}
	c := &Client{
		http:    httpClient,
		timeout: DefaultTimeout,
		retry:   retryPolicy{attempts: 3, baseDelay: 200 * time.Millisecond, maxDelay: 2 * time.Second},
		log:     slog.New(slog.DiscardHandler),

		phoneFields: newFieldList(PhoneNumberFields),
	}
	c.base, c.baseErr = parseBaseURL(baseURL)
	for _, opt := range opts {
		opt(c)
	}
	return c
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid Graph API base URL %q: want an absolute http(s) URL", raw)
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u, nil
}

// PhoneNumber fetches one phone-number node with PhoneNumberFields (less any field
// Meta has refused to this client; see withPhoneFields).
func (c *Client) PhoneNumber(ctx context.Context, token, phoneNumberID string) (*PhoneNumber, error) {
	const op = "get phone number"
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	var body []byte
	err := c.withPhoneFields(ctx, func(fields string) error {
		u, err := c.endpoint(url.Values{"fields": {fields}}, phoneNumberID)
		if err != nil {
			return err
		}
		body, err = c.get(ctx, token, u)
		return err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	p, err := parsePhoneNumber(body)
	if err != nil {
		return nil, wrap(op, err)
	}
	return p, nil
}

// BusinessPhoneNumbers lists every phone number of a WhatsApp Business Account with
// PhoneNumberFields, following Meta's paging. A paging.next URL is followed only on the
// scheme and host of the base URL, and at most 100 pages are read; either limit turns
// into an error rather than a silently short list. A field Meta refuses is dropped and
// the listing starts again from the first page.
func (c *Client) BusinessPhoneNumbers(ctx context.Context, token, wabaID string) ([]PhoneNumber, error) {
	const op = "list business phone numbers"
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	var numbers []PhoneNumber
	err := c.withPhoneFields(ctx, func(fields string) error {
		var err error
		numbers, err = c.listPhoneNumbers(ctx, token, wabaID, fields)
		return err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return numbers, nil
}

func (c *Client) listPhoneNumbers(ctx context.Context, token, wabaID, fields string) ([]PhoneNumber, error) {
	query := url.Values{"fields": {fields}, "limit": {strconv.Itoa(phoneNumbersPage)}}
	u, err := c.endpoint(query, wabaID, "phone_numbers")
	if err != nil {
		return nil, err
	}
	var numbers []PhoneNumber
	for page := 1; ; page++ {
		body, err := c.get(ctx, token, u)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		batch, next, err := parsePhoneNumberPage(body)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		numbers = append(numbers, batch...)
		if next == "" {
			return numbers, nil
		}
		if page >= maxPages {
			return nil, errTooManyPages
		}
		if u, err = c.pagingURL(next); err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
	}
}

// BusinessHealth fetches the health_status of a WhatsApp Business Account.
func (c *Client) BusinessHealth(ctx context.Context, token, wabaID string) (*HealthStatus, error) {
	const op = "get business health"
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	u, err := c.endpoint(url.Values{"fields": {"health_status"}}, wabaID)
	if err != nil {
		return nil, wrap(op, err)
	}
	body, err := c.get(ctx, token, u)
	if err != nil {
		return nil, wrap(op, err)
	}
	h, err := parseBusinessHealth(body)
	if err != nil {
		return nil, wrap(op, err)
	}
	return h, nil
}

// Register registers a verified phone number on the Cloud API with its 6-digit
// two-step verification PIN. It is never retried here: Meta allows 10 register calls
// per number in a moving 72 hours. A PIN that is not 6 digits fails before any call.
// The PIN, like the token, never appears in errors or logs, even when Meta echoes it.
func (c *Client) Register(ctx context.Context, token, phoneNumberID, pin string) error {
	const op = "register phone number"
	if !isSixDigits(pin) {
		return wrap(op, errPINFormat)
	}
	payload := struct {
		MessagingProduct string `json:"messaging_product"`
		PIN              string `json:"pin"`
	}{"whatsapp", pin}
	return wrap(op, c.postExpectingSuccess(ctx, token, payload, []string{pin}, phoneNumberID, "register"))
}

// SetTwoStepPIN sets a new two-step verification PIN on a phone number: POST
// /{phone-number-id} {"pin":"NNNNNN"}, Meta's answer to a forgotten PIN
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/two-step-verification/).
// It is never retried, and a PIN that is not 6 digits fails before any call. The PIN
// never appears in errors or logs.
func (c *Client) SetTwoStepPIN(ctx context.Context, token, phoneNumberID, pin string) error {
	const op = "set two-step verification PIN"
	if !isSixDigits(pin) {
		return wrap(op, errPINFormat)
	}
	payload := struct {
		PIN string `json:"pin"`
	}{pin}
	return wrap(op, c.postExpectingSuccess(ctx, token, payload, []string{pin}, phoneNumberID))
}

// Ways Meta can deliver a verification code, for RequestCode.
const (
	CodeMethodSMS   = "SMS"
	CodeMethodVoice = "VOICE"
)

var (
	errCodeMethod     = errors.New(`verification code method must be "SMS" or "VOICE"`)
	errCodeLanguage   = errors.New(`verification code language must be a locale such as "en_US" or "en"`)
	errCodeFormat     = errors.New("verification code must be exactly 6 digits")
	localeCodePattern = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)
)

// RequestCode asks Meta to send a phone number's verification code by SMS or voice
// call (method CodeMethodSMS or CodeMethodVoice) in a language such as "en_US": POST
// /{phone-number-id}/request_code, whose reference makes both parameters required and
// lists 136024 (KindCodeNotSent) as its own error
// (https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/request_code/).
// It is step 2 of "Registering business phone numbers"
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/).
// It is never retried: each call sends a real SMS or call, and Meta refuses too many. A
// method or language that does not fit fails before any call.
func (c *Client) RequestCode(ctx context.Context, token, phoneNumberID, method, language string) error {
	const op = "request verification code"
	if method != CodeMethodSMS && method != CodeMethodVoice {
		return wrap(op, errCodeMethod)
	}
	if !localeCodePattern.MatchString(language) {
		return wrap(op, errCodeLanguage)
	}
	payload := struct {
		CodeMethod string `json:"code_method"`
		Language   string `json:"language"`
	}{method, language}
	return wrap(op, c.postExpectingSuccess(ctx, token, payload, nil, phoneNumberID, "request_code"))
}

// VerifyCode sends the 6-digit code Meta delivered after RequestCode: POST
// /{phone-number-id}/verify_code {"code":"NNNNNN"}, step 3 of "Registering business
// phone numbers"
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/).
// On success the number's code_verification_status is VERIFIED and Register may follow;
// a wrong, used or expired code is 136025 (KindCodeWrong). It is never retried, and a
// code that is not 6 digits fails before any call. The code, like a PIN, never appears
// in errors or logs, even when Meta echoes it.
func (c *Client) VerifyCode(ctx context.Context, token, phoneNumberID, code string) error {
	const op = "verify phone number code"
	if !isSixDigits(code) {
		return wrap(op, errCodeFormat)
	}
	payload := struct {
		Code string `json:"code"`
	}{code}
	return wrap(op, c.postExpectingSuccess(ctx, token, payload, []string{code}, phoneNumberID, "verify_code"))
}

// Deregister undoes a phone number's registration: POST
// /{phone-number-id}/deregister. It is never retried here: register and deregister
// share Meta's limit of 10 calls per number in 72 hours.
func (c *Client) Deregister(ctx context.Context, token, phoneNumberID string) error {
	const op = "deregister phone number"
	return wrap(op, c.postExpectingSuccess(ctx, token, nil, nil, phoneNumberID, "deregister"))
}

// SubscribeApp subscribes the app to a WhatsApp Business Account's webhooks: POST
// /{waba-id}/subscribed_apps with no body, as Meta's "Managing webhooks" page shows
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/manage-webhooks).
// Meta then sends the account's webhooks to the app's own callback URL. It never sends
// override_callback_uri: an override would redirect the customer's message webhooks
// away from the platform that handles their chats. It is never retried here.
func (c *Client) SubscribeApp(ctx context.Context, token, wabaID string) error {
	const op = "subscribe app"
	return wrap(op, c.postExpectingSuccess(ctx, token, nil, nil, wabaID, "subscribed_apps"))
}

// BusinessOwner returns the id of the business portfolio that owns a WhatsApp Business
// Account: GET /{waba-id}?fields=owner_business_info, owner_business_info.id. The WABA
// id is not the portfolio id; WhatsApp Manager links need the latter.
func (c *Client) BusinessOwner(ctx context.Context, token, wabaID string) (string, error) {
	const op = "get business owner"
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	u, err := c.endpoint(url.Values{"fields": {"owner_business_info"}}, wabaID)
	if err != nil {
		return "", wrap(op, err)
	}
	body, err := c.get(ctx, token, u)
	if err != nil {
		return "", wrap(op, err)
	}
	id, err := parseOwnerBusinessID(body)
	if err != nil {
		return "", wrap(op, err)
	}
	return id, nil
}

// AppSubscription is one object the app subscribes to in the App Dashboard's Webhooks
// settings, from GET /{app-id}/subscriptions.
type AppSubscription struct {
	Object      string // e.g. "whatsapp_business_account"
	CallbackURL string
	Active      bool
	Fields      []string // the subscribed fields' names
}

// AppSubscriptions lists the app's webhook subscriptions: GET /{app-id}/subscriptions,
// which needs an app access token, "APPID|APPSECRET"
// (https://developers.facebook.com/docs/graph-api/reference/app/subscriptions/). That
// token is sent only in the Authorization header, never in the URL, and neither it nor
// the secret alone appears in errors or logs.
func (c *Client) AppSubscriptions(ctx context.Context, appID, appSecret string) ([]AppSubscription, error) {
	const op = "list app subscriptions"
	if appSecret == "" || strings.Contains(appSecret, "|") {
		return nil, wrap(op, errors.New("app secret is missing or malformed"))
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	u, err := c.endpoint(nil, appID, "subscriptions")
	if err != nil {
		return nil, wrap(op, err)
	}
	body, err := c.get(ctx, appID+"|"+appSecret, u, appSecret)
	if err != nil {
		return nil, wrap(op, err)
	}
	subs, err := parseAppSubscriptions(body)
	if err != nil {
		return nil, wrap(op, err)
	}
	return subs, nil
}

var errPINFormat = errors.New("two-step verification PIN must be exactly 6 digits")

// SubscribedApp is an app subscribed to a WhatsApp Business Account's webhooks.
type SubscribedApp struct {
	AppID               string
	Name                string
	OverrideCallbackURI string // empty when the app's default callback is used
}

// SubscribedApps lists the apps subscribed to a WhatsApp Business Account's webhooks.
func (c *Client) SubscribedApps(ctx context.Context, token, wabaID string) ([]SubscribedApp, error) {
	const op = "list subscribed apps"
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	u, err := c.endpoint(nil, wabaID, "subscribed_apps")
	if err != nil {
		return nil, wrap(op, err)
	}
	body, err := c.get(ctx, token, u)
	if err != nil {
		return nil, wrap(op, err)
	}
	apps, err := parseSubscribedApps(body)
	if err != nil {
		return nil, wrap(op, err)
	}
	return apps, nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("whatsapp: %s: %w", op, err)
}

func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// endpoint builds base/segment/segment?query. Segments are ids or fixed names; an id
// that could change the path (empty, ".", "..", slashes, odd characters) is refused.
func (c *Client) endpoint(query url.Values, id string, rest ...string) (*url.URL, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	if !isGraphID(id) {
		return nil, fmt.Errorf("invalid Graph id %q", id)
	}
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + "/" + strings.Join(append([]string{id}, rest...), "/")
	u.RawPath = ""
	u.RawQuery = query.Encode()
	return &u, nil
}

// pagingURL checks and cleans a paging.next URL from Meta: it must stay on the base
// URL's scheme and host, and any access_token Meta echoed into it is dropped (the
// token travels in the header). The URL itself is never put in an error.
func (c *Client) pagingURL(next string) (*url.URL, error) {
	ref, err := url.Parse(next)
	if err != nil {
		return nil, errors.New("paging.next is not a valid URL")
	}
	u := c.base.ResolveReference(ref)
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return nil, fmt.Errorf("%w (host %q, want %q)", errForeignPagingURL, u.Host, c.base.Host)
	}
	q := u.Query()
	q.Del("access_token")
	u.RawQuery, u.User, u.Fragment = q.Encode(), nil, ""
	return u, nil
}

// postExpectingSuccess POSTs payload as JSON (no body at all when payload is nil) and
// checks Meta's {"success":true}. sensitive lists values besides the token to keep out
// of errors and logs, such as a PIN.
func (c *Client) postExpectingSuccess(ctx context.Context, token string, payload any, sensitive []string, id string, rest ...string) error {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	u, err := c.endpoint(nil, id, rest...)
	if err != nil {
		return err
	}
	var data []byte
	if payload != nil {
		if data, err = json.Marshal(payload); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	body, err := c.send(ctx, token, http.MethodPost, u, data, 1, sensitive...)
	if err != nil {
		return err
	}
	return parseSuccess(body)
}

// get performs a GET, retrying transient failures within the retry policy and the
// context's deadline. Rate limits and all other errors are returned at once.
func (c *Client) get(ctx context.Context, token string, u *url.URL, sensitive ...string) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		body, err := c.send(ctx, token, http.MethodGet, u, nil, attempt, sensitive...)
		if err == nil {
			return body, nil
		}
		if attempt >= c.retry.attempts || KindOf(err) != KindTransient || ctx.Err() != nil {
			return nil, err
		}
		delay := c.backoff(attempt)
		if ge, ok := errors.AsType[*GraphError](err); ok && ge.RetryAfter > delay {
			delay = ge.RetryAfter
		}
		if delay > c.retry.maxDelay {
			return nil, err // Meta asks for a longer wait than we hold a call open for
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
			return nil, err
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
	}
}

// backoff is the wait after the given failed attempt: baseDelay doubled per attempt,
// capped at maxDelay, then drawn at random from its upper half.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.baseDelay
	for i := 1; i < attempt && d < c.retry.maxDelay; i++ {
		d *= 2
	}
	d = min(d, c.retry.maxDelay)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// send makes one HTTP request and returns the body of a 2xx response, or an error:
// a *GraphError for any other status, or the transport error (without the URL). The
// token and every sensitive value are removed from errors and log records.
func (c *Client) send(ctx context.Context, token, method string, u *url.URL, payload []byte, attempt int, sensitive ...string) ([]byte, error) {
	secrets := append([]string{token}, sensitive...)
	if err := checkToken(token); err != nil {
		return nil, err
	}
	var reqBody io.Reader
	if payload != nil {
		reqBody = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reqBody)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, u.Path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	attrs := []slog.Attr{slog.String("method", method), slog.String("path", u.Path), slog.Int("attempt", attempt)}
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error repeats the full URL; keep only its cause and name the path.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		err = fmt.Errorf("%s %s: %w", method, u.Path, err)
		c.log.LogAttrs(ctx, slog.LevelDebug, "whatsapp graph call failed", append(attrs,
			slog.Duration("duration", time.Since(start)),
			slog.String("error", redact(err.Error(), secrets...)))...)
		return nil, redactedError{err, secrets}
	}
	defer resp.Body.Close()
	reportUsage(ctx, resp.Header)
	body, readErr := readLimited(resp.Body)
	attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.Duration("duration", time.Since(start)))

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if readErr != nil {
			err := fmt.Errorf("%s %s: read response: %w", method, u.Path, readErr)
			c.log.LogAttrs(ctx, slog.LevelDebug, "whatsapp graph call failed", append(attrs, slog.String("error", redact(err.Error(), secrets...)))...)
			return nil, err
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "whatsapp graph call", attrs...)
		return body, nil
	}
	ge := parseGraphError(resp.StatusCode, resp.Header, body)
	redactGraphError(ge, secrets...)
	c.log.LogAttrs(ctx, slog.LevelDebug, "whatsapp graph call failed", append(attrs,
		slog.Int64("code", ge.Code), slog.Int64("subcode", ge.Subcode),
		slog.String("kind", string(ge.Kind)), slog.Duration("retry_after", ge.RetryAfter),
		slog.String("fbtrace_id", ge.FBTraceID))...)
	return nil, ge
}

// checkToken refuses an empty token or one that cannot be sent in a header, without
// repeating it.
func checkToken(token string) error {
	if token == "" {
		return errors.New("missing access token")
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return errors.New("access token contains characters not allowed in an HTTP header")
		}
	}
	return nil
}

func readLimited(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxResponseBytes+1))
	if len(body) > maxResponseBytes {
		return body[:maxResponseBytes], errResponseTooLarge
	}
	return body, err
}

// isGraphID accepts Graph node ids (digits in practice) and simple names, nothing that
// could add or climb a path segment or start a query.
func isGraphID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func isSixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Wire shapes. They embed the public types and override the fields Meta is known to
// send in more than one JSON type, so the public types stay plain.

type wirePhoneNumber struct {
	PhoneNumber
	IsOfficialBusinessAccount flexBool          `json:"is_official_business_account"`
	IsOnBizApp                *flexBool         `json:"is_on_biz_app"`
	HealthStatus              *wireHealthStatus `json:"health_status"`
}

type wireHealthStatus struct {
	CanSendMessage string             `json:"can_send_message"`
	Entities       []wireHealthEntity `json:"entities"`
}

type wireHealthEntity struct {
	HealthEntity
	Errors []wireHealthError `json:"errors"`
}

type wireHealthError struct {
	HealthError
	ErrorCode flexInt64 `json:"error_code"`
}

func (w wirePhoneNumber) phoneNumber() PhoneNumber {
	p := w.PhoneNumber
	p.IsOfficialBusinessAccount = bool(w.IsOfficialBusinessAccount)
	if w.IsOnBizApp != nil {
		onBizApp := bool(*w.IsOnBizApp)
		p.IsOnBizApp = &onBizApp
	}
	p.HealthStatus = w.HealthStatus.healthStatus()
	return p
}

func (w *wireHealthStatus) healthStatus() *HealthStatus {
	if w == nil {
		return nil
	}
	h := &HealthStatus{CanSendMessage: w.CanSendMessage}
	for _, we := range w.Entities {
		e := we.HealthEntity
		e.Errors = nil
		for _, wr := range we.Errors {
			he := wr.HealthError
			he.ErrorCode = int64(wr.ErrorCode)
			e.Errors = append(e.Errors, he)
		}
		h.Entities = append(h.Entities, e)
	}
	return h
}

// parsePhoneNumber decodes a phone-number node. Unknown fields are ignored and enum
// values are kept as sent; a node without an id is refused.
func parsePhoneNumber(body []byte) (*PhoneNumber, error) {
	var w wirePhoneNumber
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode phone number: %w", err)
	}
	if w.ID == "" {
		return nil, errors.New("decode phone number: response has no id")
	}
	p := w.phoneNumber()
	return &p, nil
}

// parsePhoneNumberPage decodes one page of /{waba-id}/phone_numbers and its
// paging.next URL ("" on the last page).
func parsePhoneNumberPage(body []byte) ([]PhoneNumber, string, error) {
	var page struct {
		Data   []wirePhoneNumber `json:"data"`
		Paging struct {
			Next string `json:"next"`
		} `json:"paging"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", fmt.Errorf("decode phone numbers: %w", err)
	}
	numbers := make([]PhoneNumber, 0, len(page.Data))
	for _, w := range page.Data {
		numbers = append(numbers, w.phoneNumber())
	}
	return numbers, page.Paging.Next, nil
}

// parseBusinessHealth decodes {"health_status": {...}, "id": ...}.
func parseBusinessHealth(body []byte) (*HealthStatus, error) {
	var node struct {
		HealthStatus *wireHealthStatus `json:"health_status"`
	}
	if err := json.Unmarshal(body, &node); err != nil {
		return nil, fmt.Errorf("decode health status: %w", err)
	}
	if node.HealthStatus == nil {
		return nil, errors.New("decode health status: response has no health_status")
	}
	return node.HealthStatus.healthStatus(), nil
}

func parseSubscribedApps(body []byte) ([]SubscribedApp, error) {
	var list struct {
		Data []struct {
			App struct {
				ID   flexString `json:"id"`
				Name string     `json:"name"`
			} `json:"whatsapp_business_api_data"`
			OverrideCallbackURI string `json:"override_callback_uri"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decode subscribed apps: %w", err)
	}
	apps := make([]SubscribedApp, 0, len(list.Data))
	for _, d := range list.Data {
		apps = append(apps, SubscribedApp{AppID: string(d.App.ID), Name: d.App.Name, OverrideCallbackURI: d.OverrideCallbackURI})
	}
	return apps, nil
}

// parseOwnerBusinessID reads owner_business_info.id from a WABA node.
func parseOwnerBusinessID(body []byte) (string, error) {
	var node struct {
		Owner *struct {
			ID flexString `json:"id"`
		} `json:"owner_business_info"`
	}
	if err := json.Unmarshal(body, &node); err != nil {
		return "", fmt.Errorf("decode business owner: %w", err)
	}
	if node.Owner == nil || node.Owner.ID == "" {
		return "", errors.New("decode business owner: response has no owner_business_info.id")
	}
	return string(node.Owner.ID), nil
}

// parseAppSubscriptions decodes {"data":[{"object","callback_url","active","fields":[{"name","version"}]}]}.
func parseAppSubscriptions(body []byte) ([]AppSubscription, error) {
	var list struct {
		Data []struct {
			Object      string   `json:"object"`
			CallbackURL string   `json:"callback_url"`
			Active      flexBool `json:"active"`
			Fields      []struct {
				Name string `json:"name"`
			} `json:"fields"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decode app subscriptions: %w", err)
	}
	subs := make([]AppSubscription, 0, len(list.Data))
	for _, d := range list.Data {
		s := AppSubscription{Object: d.Object, CallbackURL: d.CallbackURL, Active: bool(d.Active)}
		for _, f := range d.Fields {
			s.Fields = append(s.Fields, f.Name)
		}
		subs = append(subs, s)
	}
	return subs, nil
}

// parseSuccess checks a {"success": true} answer.
func parseSuccess(body []byte) error {
	var r struct {
		Success flexBool `json:"success"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	if !r.Success {
		return errors.New(`response did not confirm success (want {"success":true})`)
	}
	return nil
}

// flexInt64 accepts a JSON number or a string holding one (fractions truncated, out of
// range saturated); anything else reads as 0.
type flexInt64 int64

func (n *flexInt64) UnmarshalJSON(b []byte) error {
	*n = flexInt64(rawInt64(b))
	return nil
}

// flexBool accepts true/false, "true"/"false" and numbers (non-zero is true).
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	*v = flexBool(rawBool(b))
	return nil
}

// flexString accepts a JSON string or a number (kept as its digits).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	*s = flexString(rawString(b))
	return nil
}

func rawInt64(raw json.RawMessage) int64 {
	s := unquoted(raw)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case math.IsInf(f, 1) || f >= math.MaxInt64:
		return math.MaxInt64 // out of range: saturate, so a huge wait stays huge
	case math.IsInf(f, -1) || f <= math.MinInt64:
		return math.MinInt64
	case err != nil || math.IsNaN(f):
		return 0
	}
	return int64(f)
}

func rawBool(raw json.RawMessage) bool {
	s := unquoted(raw)
	if b, err := strconv.ParseBool(s); err == nil {
		return b
	}
	return rawInt64(raw) != 0
}

// rawString reads a JSON string, or the literal text of a JSON number; other values
// read as "".
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		return string(raw)
	}
	return ""
}

// unquoted is a JSON scalar as text, with a string's quotes and spaces removed.
func unquoted(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		return strings.TrimSpace(rawString(raw))
	}
	return string(raw)
}
