// Package graphsim is a stateful simulator of the parts of Meta's Graph API (WhatsApp
// Cloud API) this product uses, for demo mode, tests and benchmarks.
//
// A Server is an http.Handler that answers under a version prefix ("/v24.0" by default)
// with Meta's JSON shapes and error envelopes, so a real client configured with the base
// URL "http://HOST:PORT/v24.0" runs against it unchanged. It plays Meta's side: it never
// imports the product's whatsapp package and keeps its own wire structs.
//
// Endpoints:
//
//	GET    /{phone-number-id}?fields=...            the phone-number node
//	POST   /{phone-number-id}                       {"pin":"123456"} or {"webhook_configuration":{...}}
//	POST   /{phone-number-id}/register              {"messaging_product":"whatsapp","pin":"123456"}
//	POST   /{phone-number-id}/deregister
//	POST   /{phone-number-id}/request_code          {"code_method":"SMS","language":"en_US"} (or query/form)
//	POST   /{phone-number-id}/verify_code           {"code":"123456"}
//	GET    /{waba-id}?fields=...                    the WABA node (id, name, health_status, ...)
//	GET    /{waba-id}/phone_numbers?fields=&limit=&after=&before=
//	POST   /{waba-id}/subscribed_apps               no body; or {"override_callback_uri","verify_token"}
//	GET    /{waba-id}/subscribed_apps
//	DELETE /{waba-id}/subscribed_apps
//	GET    /{app-id}/subscriptions                  app access token "APP_ID|APP_SECRET" only
//
// Outside the version prefix, GET /_sim/codes (CodesPath) is an HTML page listing each
// number's valid verification code: the simulator's stand-in for Meta's SMS or call,
// for demo visitors. It needs no token and is not in the request log.
//
// Every rule cites the Meta page it comes from, next to the code that plays it.
//
// Authentication is "Authorization: Bearer <token>" only; a token in the query string is
// ignored on purpose (the product must never put one in a URL). Each token belongs to
// the business accounts that list it. A missing or unknown token is HTTP 401 code 190, an
// expired one 401 code 190 subcode 463, one without a permission
// (Business.TokenLacksPermission) HTTP 403 code 200. A valid token asking for an object
// of another business gets what Meta answers for objects a token may not see: HTTP 400
// code 100 subcode 33 (GraphMethodException) "Unsupported get request. Object with ID
// ... does not exist, cannot be loaded due to missing permissions, ...", the same as for
// an id that does not exist. A phone-number node does not name its business account: a
// number of another WABA that the token can see reads fine, and is missing from the
// WABA's phone_numbers list, as on Meta.
//
// Fields are strict, as Meta's are: each node type has one list of known fields
// (fields.go), and a request naming any other, or one retired with RetireField, fails
// as a whole with HTTP 400 code 100 "(#100) Tried accessing nonexisting field (X) on
// node type (WhatsAppBusinessPhoneNumber)" (or WhatsAppBusinessAccount). Nested
// selections and modifiers are allowed on known fields. Without "fields", Meta's
// default set is answered (no health_status).
//
// Webhooks go where Meta sends them (destinationLocked): only when the app is
// subscribed to the WABA (POST /{waba-id}/subscribed_apps) and the app's callback
// (SetAppCallback, as in the App Dashboard) subscribes the field. Message-type fields
// listed on Meta's "Webhook overrides" page go to the phone number's override, else the
// WABA's, else the app callback; every other field (phone_number_name_update,
// phone_number_quality_update, account_update, ...) always goes to the app callback. An
// override is refused (#100) before the app is subscribed and stored only after Meta's
// challenge GET succeeds. Deliveries are signed X-Hub-Signature-256 with the app secret
// and recorded; Redeliver replays one byte for byte, as Meta's retries do.
//
// State comes from named scenarios (LoadScenario, embedded from scenarios/*.json) or
// from AddBusiness/AddNumber. Time-based behaviour reads Config.Clock: the moving 72 h
// window shared by register and deregister, display-name reviews that complete after a
// delay (checked on every request, by Tick, and by Start's ticker) and per-WABA rate
// limits. A completed review sends phone_number_name_update; an approved change of an
// already registered number's name takes effect at its next register call. Events
// (QualityEvent, AccountEvent, AccountAlert, BusinessCapabilityEvent,
// AccountReviewEvent) change the state as Meta's does and send their webhook. Faults
// (latency, 5xx, hangs, rate limits), FailNext and Inject inject trouble; the request
// log, Deliveries and Number/Business copies let tests see what happened.
package graphsim

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config configures a Server. The zero value works: version v24.0, the wall clock, an
// empty app secret, http.Client with a 10 s timeout, and no logging.
type Config struct {
	// Version is the Graph API version prefix, e.g. "v24.0".
	Version string
	// AppSecret signs webhook deliveries (X-Hub-Signature-256).
	AppSecret string
	// Clock drives every time-based behaviour; RealClock when nil.
	Clock Clock
	// HTTPClient delivers webhooks.
	HTTPClient *http.Client
	// Logger receives one debug line per request and info lines for state changes.
	// Tokens and PINs are never logged.
	Logger *slog.Logger
	// Seed seeds the random source of fault injection and of verification codes, so
	// runs are repeatable.
	// Zero means 1.
	Seed uint64
	// AppID is the id of the app the simulator pretends to be (subscribed_apps, the APP
	// health entity); default AppID.
	AppID string
	// WebhookTimeout bounds one webhook delivery; default 10 s.
	WebhookTimeout time.Duration
	// MaxRequests bounds the request log; when it is full the oldest half is dropped.
	// Zero means 100,000; negative means unbounded.
	MaxRequests int
}

// Server is the simulator. Create it with New, and Close it when done.
type Server struct {
	prefix         string
	secret         []byte
	clock          Clock
	logger         *slog.Logger
	client         *http.Client
	appID          string
	webhookTimeout time.Duration
	maxRequests    int

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // webhook deliveries and the background ticker

	mu         sync.Mutex
	closed     bool
	rng        *rand.Rand
	businesses map[string]*bizState
	numbers    map[string]*numState
	tokens     map[string]*tokenEntry
	reviews    map[string]*numState // numbers with a scheduled review
	faults     Faults
	rateLimits map[string]time.Time // WABA id -> limited until
	injected   map[string][]injection
	holds      map[string]*hold
	heldNext   map[string][]*hold // "METHOD /path" -> answers to withhold (HoldNext)
	budget     Budget
	bizCalls   map[string][]time.Time // WABA id -> calls counted in the budget window
	appCalls   []time.Time
	requests   []*Request
	deliveries []Delivery
	delivered  chan struct{} // closed and replaced whenever a delivery is recorded
	traceSeq   uint64

	app           appCallback     // the App Dashboard's webhook configuration
	retiredFields map[string]bool // phone-number fields made nonexisting by RetireField
}

// New returns a Server with no businesses or numbers; add them with Load, AddBusiness
// and AddNumber.
func New(cfg Config) *Server {
	version := strings.Trim(cfg.Version, "/")
	if version == "" {
		version = "v24.0"
	}
	s := &Server{
		prefix:         "/" + version,
		secret:         []byte(cfg.AppSecret),
		clock:          cfg.Clock,
		logger:         cfg.Logger,
		client:         cfg.HTTPClient,
		appID:          cfg.AppID,
		webhookTimeout: cfg.WebhookTimeout,
		maxRequests:    cfg.MaxRequests,
		businesses:     map[string]*bizState{},
		numbers:        map[string]*numState{},
		tokens:         map[string]*tokenEntry{},
		reviews:        map[string]*numState{},
		rateLimits:     map[string]time.Time{},
		injected:       map[string][]injection{},
		holds:          map[string]*hold{},
		heldNext:       map[string][]*hold{},
		bizCalls:       map[string][]time.Time{},
		delivered:      make(chan struct{}),
		retiredFields:  map[string]bool{},
	}
	if s.clock == nil {
		s.clock = RealClock{}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.appID == "" {
		s.appID = AppID
	}
	if s.webhookTimeout <= 0 {
		s.webhookTimeout = 10 * time.Second
	}
	if s.maxRequests == 0 {
		s.maxRequests = 100_000
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Prefix is the version path prefix the server answers under, e.g. "/v24.0".
func (s *Server) Prefix() string { return s.prefix }

// Close cancels webhook deliveries in flight, held and hanging requests and the
// background ticker, and waits for its goroutines to end. The handler keeps answering
// afterwards, but sends no more webhooks.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Start runs a background ticker calling Tick every second until ctx is done or the
// server is closed, so name reviews complete on time even when nobody asks (demo mode).
func (s *Server) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.ctx.Done():
				return
			case <-t.C:
				s.Tick()
			}
		}
	})
}

// result is what a handler decided while holding the lock; it is written after unlock.
type result struct {
	status int
	body   any
	header http.Header
	fail   *GraphError
	hold   chan struct{} // non-nil: withhold the answer until closed
	// finish, when set, completes the request after the lock is released: Meta makes
	// some calls of its own (a callback verification GET) before it answers. finish
	// takes the lock itself when it needs it.
	finish func(ctx context.Context) result
}

func ok(body any) result { return result{status: http.StatusOK, body: body} }

func (s *Server) failed(f failure) result {
	e := f.err
	if e.FBTraceID == "" {
		s.traceSeq++
		e.FBTraceID = traceID(s.traceSeq)
	}
	return result{status: f.status, body: ErrorEnvelope{Error: e}, header: f.header, fail: &e}
}

// traceID makes a deterministic fbtrace_id-looking string from a sequence number.
func traceID(seq uint64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	x := seq*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	b := []byte("A")
	for range 16 {
		x ^= x >> 29
		x *= 0xbf58476d1ce4e5b9
		b = append(b, alphabet[x%uint64(len(alphabet))])
	}
	return string(b)
}

const maxBody = 1 << 20

// ServeHTTP answers one Graph API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == CodesPath {
		s.serveCodes(w, r)
		return
	}
	path, versionOK := strings.CutPrefix(r.URL.Path, s.prefix)
	if !versionOK || (path != "" && path[0] != '/') {
		path, versionOK = r.URL.Path, false
	}
	segs := splitPath(path)
	rec := &Request{Method: r.Method, Path: path, Time: s.clock.Now()}
	if len(segs) > 0 {
		rec.ObjectID = segs[0]
	}
	s.Tick() // name reviews complete lazily on every request

	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			b = nil
		}
		body = b
	}

	s.mu.Lock()
	s.appendRequestLocked(rec)
	f := s.faults
	hang := f.HangRate > 0 && s.rng.Float64() < f.HangRate
	serverErr := f.ServerErrorRate > 0 && s.rng.Float64() < f.ServerErrorRate
	serverCode := CodeUnknown
	if serverErr && s.rng.IntN(2) == 1 {
		serverCode = CodeServiceUnavailable
	}
	s.mu.Unlock()

	ctx := r.Context()
	if f.Latency > 0 && !s.sleep(ctx, f.Latency) {
		s.abandon(rec, "latency")
		return
	}
	if hang {
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
		s.abandon(rec, "hang")
		return
	}

	var res result
	s.mu.Lock()
	switch {
	case serverErr:
		rec.Fault = "server_error"
		res = s.failed(errServer(serverCode))
	case !versionOK:
		res = s.failed(errUnknownPath(r.URL.Path))
	default:
		res = s.routeLocked(r, segs, body, rec)
	}
	if h := s.takeHoldLocked(r.Method, path); h != nil && res.hold == nil {
		res.hold = h.ch
	}
	if rec.WABAID != "" {
		res.header = s.usageHeadersLocked(rec.WABAID, res.header)
	}
	s.mu.Unlock()
	if res.finish != nil {
		res = res.finish(ctx)
	}

	if res.hold != nil {
		select {
		case <-res.hold:
		case <-ctx.Done():
			s.abandon(rec, "held")
			return
		case <-s.ctx.Done():
			s.abandon(rec, "held")
			return
		}
	}
	s.respond(w, rec, res)
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

func (s *Server) respond(w http.ResponseWriter, rec *Request, res result) {
	data, err := json.Marshal(res.body)
	if err != nil {
		res = s.lockedFailed(errServer(CodeUnknown))
		data, _ = json.Marshal(res.body)
	}
	for k, vs := range res.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if res.fail != nil {
		w.Header().Set("X-Fb-Trace-Id", res.fail.FBTraceID)
	}
	s.mu.Lock()
	rec.Status = res.status
	if res.fail != nil {
		rec.ErrorCode, rec.ErrorSubcode = res.fail.Code, res.fail.ErrorSubcode
	}
	s.mu.Unlock()
	w.WriteHeader(res.status)
	_, _ = w.Write(data)
	s.logger.Debug("graphsim request", "method", rec.Method, "path", rec.Path, "status", res.status, "code", rec.ErrorCode)
}

func (s *Server) lockedFailed(f failure) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed(f)
}

// abandon records that no answer was written because the client or the server gave up.
func (s *Server) abandon(rec *Request, fault string) {
	s.mu.Lock()
	if rec.Fault == "" {
		rec.Fault = fault
	}
	s.mu.Unlock()
	s.logger.Debug("graphsim request abandoned", "method", rec.Method, "path", rec.Path, "fault", fault)
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// routeLocked authenticates, resolves the object and dispatches. Called with s.mu held.
func (s *Server) routeLocked(r *http.Request, segs []string, body []byte, rec *Request) result {
	now := s.clock.Now()
	token, hasToken := bearerToken(r)
	if len(segs) == 2 && segs[0] == s.appID && segs[1] == "subscriptions" && r.Method == http.MethodGet {
		return s.appSubscriptionsLocked(token, hasToken)
	}
	if !hasToken {
		return s.failed(errTokenMissing())
	}
	te := s.tokens[token]
	if te == nil {
		return s.failed(errTokenInvalid())
	}
	if te.expired {
		return s.failed(errTokenExpired(now))
	}
	if te.lacks != "" {
		return s.failed(errAPIPermission(te.lacks))
	}
	rec.ValidToken = true
	if len(segs) == 0 || len(segs) > 2 {
		return s.failed(errUnknownPath(rec.Path))
	}
	id := segs[0]
	edge := ""
	if len(segs) == 2 {
		edge = segs[1]
	}
	ns := s.numbers[id]
	bs := s.businesses[id]
	switch {
	case ns != nil && te.wabas[ns.biz.b.WABAID]:
		rec.WABAID = ns.biz.b.WABAID
	case bs != nil && te.wabas[id]:
		rec.WABAID = id
	default:
		return s.failed(errUnknownObject(r.Method, id))
	}
	if f, limited := s.rateLimitLocked(rec.WABAID, now); limited {
		rec.Fault = "rate_limit"
		return s.failed(f)
	}
	if f, over := s.spendBudgetLocked(rec.WABAID, now); over {
		rec.Fault = "budget"
		return s.failed(f)
	}
	if f, injected := s.takeInjectionLocked(r.Method, rec.Path); injected {
		rec.Fault = "injected"
		return s.failed(f)
	}
	q := r.URL.Query()
	if ns != nil {
		switch {
		case edge == "" && r.Method == http.MethodGet:
			fields, f, valid := phoneNumberNode.selectFields(q.Get("fields"), s.retiredFields)
			if !valid {
				return s.failed(f)
			}
			return ok(s.numberNodeLocked(ns, fields))
		case edge == "" && r.Method == http.MethodPost:
			return s.updateNumberLocked(ns, r, body, rec)
		case edge == "register" && r.Method == http.MethodPost:
			return s.registerLocked(ns, r, body, now)
		case edge == "deregister" && r.Method == http.MethodPost:
			return s.deregisterLocked(ns, now)
		case edge == "request_code" && r.Method == http.MethodPost:
			return s.requestCodeLocked(ns, r, body, now)
		case edge == "verify_code" && r.Method == http.MethodPost:
			return s.verifyCodeLocked(ns, r, body, now)
		case edge == "" || edge == "register" || edge == "deregister" || edge == "request_code" || edge == "verify_code":
			return s.failed(errUnknownObject(r.Method, id))
		default:
			return s.failed(errNonexistingField(edge, phoneNumberNode.nodeType))
		}
	}
	switch {
	case edge == "" && r.Method == http.MethodGet:
		fields, f, valid := businessAccountNode.selectFields(q.Get("fields"), nil)
		if !valid {
			return s.failed(f)
		}
		return ok(s.businessNodeLocked(bs, fields))
	case edge == "phone_numbers" && r.Method == http.MethodGet:
		return s.listNumbersLocked(bs, r, q)
	case edge == "subscribed_apps" && r.Method == http.MethodGet:
		return s.subscribedAppsLocked(bs)
	case edge == "subscribed_apps" && r.Method == http.MethodPost:
		return s.subscribeLocked(bs, r, body, rec, now)
	case edge == "subscribed_apps" && r.Method == http.MethodDelete:
		bs.sub = nil
		return ok(map[string]bool{"success": true})
	case edge == "" || edge == "phone_numbers" || edge == "subscribed_apps":
		return s.failed(errUnknownObject(r.Method, id))
	default:
		return s.failed(errNonexistingField(edge, businessAccountNode.nodeType))
	}
}

// requestPath is the path the client used, before any http.StripPrefix in front of the
// handler, so paging links point where the client can follow them.
func requestPath(r *http.Request) string {
	if r.RequestURI != "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
			return u.Path
		}
	}
	return r.URL.Path
}
