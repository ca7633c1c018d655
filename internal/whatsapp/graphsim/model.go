package graphsim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Health entity types and verdicts, as Meta spells them.
const (
	EntityPhoneNumber = "PHONE_NUMBER"
	EntityWABA        = "WABA"
	EntityBusiness    = "BUSINESS"
	EntityApp         = "APP"

	CanSendAvailable = "AVAILABLE"
	CanSendLimited   = "LIMITED"
	CanSendBlocked   = "BLOCKED"
)

// HealthStatus is Meta's health_status object.
type HealthStatus struct {
	CanSendMessage string         `json:"can_send_message,omitempty"`
	Entities       []HealthEntity `json:"entities,omitempty"`
}

// HealthEntity is one entity of a health_status.
type HealthEntity struct {
	EntityType     string        `json:"entity_type"`
	ID             string        `json:"id"`
	CanSendMessage string        `json:"can_send_message,omitempty"`
	AdditionalInfo []string      `json:"additional_info,omitempty"`
	Errors         []HealthError `json:"errors,omitempty"`
}

// HealthError is a reason Meta gives for an entity being limited or blocked.
type HealthError struct {
	ErrorCode        int64  `json:"error_code"`
	ErrorDescription string `json:"error_description,omitempty"`
	PossibleSolution string `json:"possible_solution,omitempty"`
}

// Business is a WhatsApp Business Account (WABA) and the access token that may act on it.
//
// HealthStatus describes the WABA's own verdict: the WABA entity (entity_type WABA, or
// else CanSendMessage, default AVAILABLE) and optionally BUSINESS/APP entities that
// replace the derived ones. Tokens may be shared by several businesses (a system-user
// token); a token counts as expired when any business holding it says TokenExpired.
type Business struct {
	WABAID       string `json:"waba_id"`
	BusinessID   string `json:"business_id,omitempty"` // business portfolio id
	Name         string `json:"name"`
	AccessToken  string `json:"access_token"`
	TokenExpired bool   `json:"token_expired,omitempty"`
	// TokenLacksPermission names a permission the token was not granted (e.g.
	// whatsapp_business_management): every call with the token is then refused with
	// (#200) Permissions error, as Meta refuses a system-user token created without it.
	TokenLacksPermission string        `json:"token_lacks_permission,omitempty"`
	Locked               bool          `json:"locked,omitempty"` // register answers 131031
	HealthStatus         *HealthStatus `json:"health_status,omitempty"`
}

// Number is a phone number as a scenario describes it, plus the inbox the product would
// make for it (InboxName, PhoneNumber) and Meta-side state the product cannot see
// (PIN, register calls already spent, a pending display-name review). A number without
// an InboxName exists at Meta only: demo and test seeding connect no inbox to it, so an
// import from its business account finds it.
//
// Zero fields get defaults of a verified, name-approved, not yet registered number:
// code_verification_status VERIFIED, name_status APPROVED, platform_type and
// throughput_level NOT_APPLICABLE, status PENDING, quality_rating UNKNOWN, account_mode
// LIVE, display_phone_number = phone_number, verified_name = the business name.
//
// HealthStatus is the number's own verdict: the PHONE_NUMBER entity (entity_type
// PHONE_NUMBER, or else CanSendMessage; default AVAILABLE once registered on the Cloud
// API, LIMITED before) and optionally WABA/BUSINESS/APP entities that replace those
// derived from the Business. The answered health_status always lists PHONE_NUMBER, WABA,
// BUSINESS (when the business has a portfolio id) and APP, and its top-level
// can_send_message is the worst of them (BLOCKED > LIMITED > AVAILABLE).
type Number struct {
	InboxName                 string        `json:"inbox_name,omitempty"`
	PhoneNumber               string        `json:"phone_number"` // E.164: "+" then digits
	PhoneNumberID             string        `json:"phone_number_id"`
	WABAID                    string        `json:"waba_id"`
	DisplayPhoneNumber        string        `json:"display_phone_number,omitempty"`
	VerifiedName              string        `json:"verified_name,omitempty"`
	CodeVerificationStatus    string        `json:"code_verification_status,omitempty"`
	NameStatus                string        `json:"name_status,omitempty"`
	NewNameStatus             string        `json:"new_name_status,omitempty"`
	PlatformType              string        `json:"platform_type,omitempty"`
	ThroughputLevel           string        `json:"throughput_level,omitempty"`
	Status                    string        `json:"status,omitempty"`
	QualityRating             string        `json:"quality_rating,omitempty"`
	MessagingLimitTier        string        `json:"messaging_limit_tier,omitempty"`
	BusinessMessagingLimit    string        `json:"whatsapp_business_manager_messaging_limit,omitempty"`
	AccountMode               string        `json:"account_mode,omitempty"`
	LastOnboardedTime         string        `json:"last_onboarded_time,omitempty"`
	IsOfficialBusinessAccount bool          `json:"is_official_business_account,omitempty"`
	HealthStatus              *HealthStatus `json:"health_status,omitempty"`
	// PIN is the two-step verification PIN Meta already holds; "" if none.
	PIN string `json:"pin,omitempty"`
	// RegisterCallsInWindow is how many register calls were already spent in the moving
	// 72 h window; they are dated at load time, so they free 72 h after loading.
	RegisterCallsInWindow int `json:"register_calls_in_window,omitempty"`
	// NameReviewDelay (a Go duration such as "90s") makes a PENDING_REVIEW name complete
	// its review this long after loading; "" means only ApproveName/DeclineName end it.
	NameReviewDelay string `json:"name_review_delay,omitempty"`
	// NameReviewOutcome is APPROVED (default) or DECLINED.
	NameReviewOutcome string `json:"name_review_outcome,omitempty"`
	// IsOnBizApp marks a coexistence number: onboarded from the WhatsApp Business app,
	// still used there, and answered as is_on_biz_app true. Register refuses it.
	IsOnBizApp bool `json:"is_on_biz_app,omitempty"`
	// RequestedVerifiedName is a display-name change in review on an already registered
	// number: set it with new_name_status PENDING_REVIEW (and name_review_delay to end
	// the review by itself), or with new_name_status APPROVED for a change approved and
	// waiting for its register call. verified_name stays the old name until a register
	// call made after approval.
	RequestedVerifiedName string `json:"requested_verified_name,omitempty"`
	// DeregistrationIncomplete makes register answer 133000 until a deregister call.
	DeregistrationIncomplete bool `json:"deregistration_incomplete,omitempty"`
	// CodeRequestFails makes request_code answer 136024 for the number, as Meta does
	// when it cannot send a code to it (a number type that cannot receive SMS or calls).
	CodeRequestFails bool `json:"code_request_fails,omitempty"`
}

// NumberState is a copy of a number's current state, for tests and tools.
// Number.PIN is the PIN Meta holds now, Number.RegisterCallsInWindow the calls counted in
// the moving 72 h window at the clock's now, Number.HealthStatus the composed
// health_status the API answers.
type NumberState struct {
	Number
	ReceivedPIN     string    // PIN of the last well-formed register call, "" if none
	RegisterCalls   int       // register calls counted since loading (all time, not only the window)
	Registrations   int       // register calls that succeeded
	Deregistrations int       // deregister calls that succeeded
	NameReviewDue   time.Time // when a pending review completes by itself; zero if not scheduled
	// NameChangeAwaitingRegister is true when a display-name change was approved and
	// the register call that makes it take effect has not come yet.
	NameChangeAwaitingRegister bool
	// OverrideCallbackURI is the number's own webhook override ("" if none).
	OverrideCallbackURI string
	// CodeRequests counts request_code calls that sent a code, since loading.
	CodeRequests int
	// CodeMethod and CodeLanguage are those of the last code sent ("" if none).
	CodeMethod, CodeLanguage string
}

// BusinessState is a copy of a business account's current state.
type BusinessState struct {
	Business
	NumberIDs        []string      // in insertion order (the order of /phone_numbers)
	Subscription     *Subscription // nil when no app is subscribed
	RateLimitedUntil time.Time     // per-WABA rate limit set by RateLimitBusiness; zero if none
}

// Subscription is the app's webhook subscription on one WABA.
type Subscription struct {
	OverrideCallbackURI string
	VerifyToken         string
	SubscribedAt        time.Time
}

// RegisterLimit register calls are allowed per number in any RegisterWindow.
const (
	RegisterLimit  = 10
	RegisterWindow = 72 * time.Hour
)

// Defaults for the app the simulator pretends to be.
const (
	AppID   = "409876543210001"
	AppName = "Inbox Health"
)

type bizState struct {
	b         Business // HealthStatus always nil; see waba and overrides
	waba      HealthEntity
	overrides []HealthEntity
	numbers   []*numState
	sub       *Subscription
	// reviewStatus is account_review_status; "" reads as APPROVED.
	reviewStatus string
}

type numState struct {
	n             Number // HealthStatus always nil; see phone and overrides
	biz           *bizState
	phone         HealthEntity
	overrides     []HealthEntity
	calls         []time.Time // counted register calls, oldest first
	totalCalls    int
	registrations int
	receivedPIN   string
	reviewDue     time.Time
	reviewOutcome string
	// deregistrations counts successful deregister calls.
	deregistrations int
	// nameChangeApproved: an approved display-name change awaits its register call.
	nameChangeApproved bool
	// override is the number's webhook override (webhook_configuration.phone_number).
	overrideURI string
	// verification is the state of request_code and verify_code (verify.go).
	verification verification
}

type tokenEntry struct {
	wabas   map[string]bool
	expired bool
	lacks   string // a permission the token lacks ("" none)
}

func validateBusiness(b Business) error {
	switch {
	case b.WABAID == "":
		return errors.New("graphsim: business without waba_id")
	case !isDigits(b.WABAID):
		return fmt.Errorf("graphsim: business %q: waba_id must be digits", b.WABAID)
	case b.AccessToken == "":
		return fmt.Errorf("graphsim: business %s: access_token is required", b.WABAID)
	}
	return nil
}

func validateNumber(n Number) error {
	switch {
	case n.PhoneNumberID == "":
		return fmt.Errorf("graphsim: number %q without phone_number_id", n.PhoneNumber)
	case !isDigits(n.PhoneNumberID):
		return fmt.Errorf("graphsim: number %q: phone_number_id must be digits", n.PhoneNumberID)
	case n.WABAID == "":
		return fmt.Errorf("graphsim: number %s without waba_id", n.PhoneNumberID)
	case len(n.PhoneNumber) < 8 || n.PhoneNumber[0] != '+' || !isDigits(n.PhoneNumber[1:]):
		return fmt.Errorf("graphsim: number %s: phone_number %q is not E.164 (+ then digits)", n.PhoneNumberID, n.PhoneNumber)
	case n.PIN != "" && !isPIN(n.PIN):
		return fmt.Errorf("graphsim: number %s: pin must be 6 digits", n.PhoneNumberID)
	case n.RegisterCallsInWindow < 0:
		return fmt.Errorf("graphsim: number %s: register_calls_in_window is negative", n.PhoneNumberID)
	}
	switch n.NameReviewOutcome {
	case "", "APPROVED", "DECLINED":
	default:
		return fmt.Errorf("graphsim: number %s: name_review_outcome %q is neither APPROVED nor DECLINED", n.PhoneNumberID, n.NameReviewOutcome)
	}
	if n.RequestedVerifiedName != "" && n.NewNameStatus != "PENDING_REVIEW" && n.NewNameStatus != "APPROVED" {
		return fmt.Errorf("graphsim: number %s: requested_verified_name needs new_name_status PENDING_REVIEW or APPROVED", n.PhoneNumberID)
	}
	if n.NameReviewDelay != "" {
		d, err := time.ParseDuration(n.NameReviewDelay)
		if err != nil || d < 0 {
			return fmt.Errorf("graphsim: number %s: name_review_delay %q is not a duration", n.PhoneNumberID, n.NameReviewDelay)
		}
		if effectiveNameStatus(n) != "PENDING_REVIEW" {
			return fmt.Errorf("graphsim: number %s: name_review_delay set but the name is %s, not PENDING_REVIEW", n.PhoneNumberID, effectiveNameStatus(n))
		}
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isPIN(s string) bool { return len(s) == 6 && isDigits(s) }

func effectiveNameStatus(n Number) string {
	if n.NewNameStatus != "" && n.NewNameStatus != "NONE" {
		return n.NewNameStatus
	}
	return n.NameStatus
}

func withNumberDefaults(n Number, b Business) Number {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&n.DisplayPhoneNumber, n.PhoneNumber)
	def(&n.VerifiedName, b.Name)
	def(&n.CodeVerificationStatus, "VERIFIED")
	def(&n.NameStatus, "APPROVED")
	def(&n.PlatformType, "NOT_APPLICABLE")
	def(&n.ThroughputLevel, "NOT_APPLICABLE")
	def(&n.Status, "PENDING")
	def(&n.QualityRating, "UNKNOWN")
	def(&n.AccountMode, "LIVE")
	return n
}

func cloneEntity(e HealthEntity) HealthEntity {
	e.AdditionalInfo = slices.Clone(e.AdditionalInfo)
	e.Errors = slices.Clone(e.Errors)
	return e
}

func cloneEntities(es []HealthEntity) []HealthEntity {
	if es == nil {
		return nil
	}
	out := make([]HealthEntity, len(es))
	for i, e := range es {
		out[i] = cloneEntity(e)
	}
	return out
}

// splitHealth separates an input health_status into the entity of the given type (own
// verdict; falling back on the top-level can_send_message) and the other entities.
func splitHealth(hs *HealthStatus, ownType, ownID string) (own HealthEntity, others []HealthEntity) {
	own = HealthEntity{EntityType: ownType, ID: ownID}
	if hs == nil {
		return own, nil
	}
	own.CanSendMessage = hs.CanSendMessage
	for _, e := range hs.Entities {
		if e.EntityType == ownType {
			cs := own.CanSendMessage
			own = cloneEntity(e)
			own.EntityType, own.ID = ownType, ownID
			if own.CanSendMessage == "" {
				own.CanSendMessage = cs
			}
			continue
		}
		others = append(others, cloneEntity(e))
	}
	return own, others
}

// joinHealth is the inverse of splitHealth: the input-shaped health of an entity.
func joinHealth(own HealthEntity, others []HealthEntity) *HealthStatus {
	return &HealthStatus{
		CanSendMessage: own.CanSendMessage,
		Entities:       append([]HealthEntity{cloneEntity(own)}, cloneEntities(others)...),
	}
}

// AddBusiness adds a business account, or replaces the attributes of one with the same
// WABA id (its numbers and webhook subscription stay).
func (s *Server) AddBusiness(b Business) error {
	if err := validateBusiness(b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, clash := s.numbers[b.WABAID]; clash {
		return fmt.Errorf("graphsim: business %s: id already used by a phone number", b.WABAID)
	}
	s.putBusinessLocked(b)
	return nil
}

func (s *Server) putBusinessLocked(b Business) {
	bs := s.businesses[b.WABAID]
	if bs == nil {
		bs = &bizState{}
		s.businesses[b.WABAID] = bs
	} else {
		s.untrackTokenLocked(bs.b.AccessToken, bs.b.WABAID)
	}
	bs.waba, bs.overrides = splitHealth(b.HealthStatus, EntityWABA, b.WABAID)
	b.HealthStatus = nil
	bs.b = b
	s.trackTokenLocked(b.AccessToken, b.WABAID)
}

func (s *Server) trackTokenLocked(token, wabaID string) {
	te := s.tokens[token]
	if te == nil {
		te = &tokenEntry{wabas: map[string]bool{}}
		s.tokens[token] = te
	}
	te.wabas[wabaID] = true
	s.refreshTokenLocked(token)
}

func (s *Server) untrackTokenLocked(token, wabaID string) {
	te := s.tokens[token]
	if te == nil {
		return
	}
	delete(te.wabas, wabaID)
	if len(te.wabas) == 0 {
		delete(s.tokens, token)
		return
	}
	s.refreshTokenLocked(token)
}

func (s *Server) refreshTokenLocked(token string) {
	te := s.tokens[token]
	te.expired, te.lacks = false, ""
	for id := range te.wabas {
		if s.businesses[id].b.TokenExpired {
			te.expired = true
		}
		if p := s.businesses[id].b.TokenLacksPermission; p != "" {
			te.lacks = p
		}
	}
}

// AddNumber adds a phone number to an existing business account, or replaces a number
// with the same phone-number id (all its state, including PIN and register calls, is
// replaced; it keeps its place in the WABA's list when the WABA is unchanged).
func (s *Server) AddNumber(n Number) error {
	if err := validateNumber(n); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.businesses[n.WABAID]; !ok {
		return fmt.Errorf("graphsim: number %s: business %s does not exist", n.PhoneNumberID, n.WABAID)
	}
	if _, clash := s.businesses[n.PhoneNumberID]; clash {
		return fmt.Errorf("graphsim: number %s: id already used by a business", n.PhoneNumberID)
	}
	s.putNumberLocked(n, s.clock.Now())
	return nil
}

func (s *Server) putNumberLocked(n Number, now time.Time) {
	bs := s.businesses[n.WABAID]
	ns := s.numbers[n.PhoneNumberID]
	if ns == nil || ns.biz != bs {
		if ns != nil {
			old := ns.biz
			old.numbers = slices.DeleteFunc(old.numbers, func(x *numState) bool { return x == ns })
		}
		ns = &numState{}
		s.numbers[n.PhoneNumberID] = ns
		bs.numbers = append(bs.numbers, ns)
	}
	n = withNumberDefaults(n, bs.b)
	*ns = numState{biz: bs}
	ns.phone, ns.overrides = splitHealth(n.HealthStatus, EntityPhoneNumber, n.PhoneNumberID)
	n.HealthStatus = nil
	for range n.RegisterCallsInWindow {
		ns.calls = append(ns.calls, now)
	}
	ns.totalCalls = n.RegisterCallsInWindow
	delete(s.reviews, n.PhoneNumberID)
	if n.NameReviewDelay != "" {
		d, _ := time.ParseDuration(n.NameReviewDelay) // validated
		ns.reviewDue = now.Add(d)
		ns.reviewOutcome = n.NameReviewOutcome
		if ns.reviewOutcome == "" {
			ns.reviewOutcome = "APPROVED"
		}
		s.reviews[n.PhoneNumberID] = ns
	}
	ns.nameChangeApproved = n.RequestedVerifiedName != "" && n.NewNameStatus == "APPROVED"
	ns.n = n
}

// Load adds the scenario's businesses and numbers, replacing any with the same ids.
// It checks the whole scenario first and changes nothing when it finds an error.
// Name-review delays and pre-spent register calls are dated from the clock's now.
func (s *Server) Load(sc *Scenario) error {
	if sc == nil {
		return errors.New("graphsim: nil scenario")
	}
	wabas := map[string]bool{}
	for _, b := range sc.Businesses {
		if err := validateBusiness(b); err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		wabas[b.WABAID] = true
	}
	seen := map[string]bool{}
	for _, n := range sc.Numbers {
		if err := validateNumber(n); err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		if seen[n.PhoneNumberID] {
			return fmt.Errorf("scenario %s: phone_number_id %s appears twice", sc.Name, n.PhoneNumberID)
		}
		seen[n.PhoneNumberID] = true
		if wabas[n.PhoneNumberID] {
			return fmt.Errorf("scenario %s: id %s is both a number and a business", sc.Name, n.PhoneNumberID)
		}
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range sc.Numbers {
		if !wabas[n.WABAID] && s.businesses[n.WABAID] == nil {
			return fmt.Errorf("scenario %s: number %s: business %s does not exist", sc.Name, n.PhoneNumberID, n.WABAID)
		}
		if s.businesses[n.PhoneNumberID] != nil {
			return fmt.Errorf("scenario %s: number %s: id already used by a business", sc.Name, n.PhoneNumberID)
		}
	}
	for _, b := range sc.Businesses {
		if s.numbers[b.WABAID] != nil {
			return fmt.Errorf("scenario %s: business %s: id already used by a phone number", sc.Name, b.WABAID)
		}
	}
	for _, b := range sc.Businesses {
		s.putBusinessLocked(b)
	}
	for _, n := range sc.Numbers {
		s.putNumberLocked(n, now)
	}
	return nil
}

// UpdateNumber changes a number's Meta-side attributes in place, e.g. to make its
// quality RED or its status FLAGGED in a test. fn gets the number as it is now (its
// HealthStatus in the input shape described on Number). The WABA cannot change; the
// register window, received PIN and a scheduled review are kept (RegisterCallsInWindow,
// NameReviewDelay and NameReviewOutcome are ignored).
func (s *Server) UpdateNumber(id string, fn func(*Number)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.numbers[id]
	if ns == nil {
		return fmt.Errorf("graphsim: number %s does not exist", id)
	}
	n := ns.n
	n.HealthStatus = joinHealth(ns.phone, ns.overrides)
	fn(&n)
	if n.PhoneNumberID != id || n.WABAID != ns.n.WABAID {
		return fmt.Errorf("graphsim: number %s: UpdateNumber cannot change the id or the WABA", id)
	}
	n.RegisterCallsInWindow, n.NameReviewDelay, n.NameReviewOutcome = 0, "", ""
	if err := validateNumber(n); err != nil {
		return err
	}
	ns.phone, ns.overrides = splitHealth(n.HealthStatus, EntityPhoneNumber, id)
	n.HealthStatus = nil
	n.NameReviewDelay, n.NameReviewOutcome = ns.n.NameReviewDelay, ns.n.NameReviewOutcome
	ns.n = n
	return nil
}

// UpdateBusiness changes a business account's attributes in place (token, expiry, lock,
// health). The WABA id cannot change.
func (s *Server) UpdateBusiness(wabaID string, fn func(*Business)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	bs := s.businesses[wabaID]
	if bs == nil {
		return fmt.Errorf("graphsim: business %s does not exist", wabaID)
	}
	b := bs.b
	b.HealthStatus = joinHealth(bs.waba, bs.overrides)
	fn(&b)
	if b.WABAID != wabaID {
		return fmt.Errorf("graphsim: business %s: UpdateBusiness cannot change the id", wabaID)
	}
	if err := validateBusiness(b); err != nil {
		return err
	}
	s.putBusinessLocked(b)
	return nil
}

// Number returns a copy of a number's current state.
func (s *Server) Number(id string) (NumberState, bool) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.numbers[id]
	if ns == nil {
		return NumberState{}, false
	}
	st := NumberState{
		Number:        ns.n,
		ReceivedPIN:   ns.receivedPIN,
		RegisterCalls: ns.totalCalls,
		Registrations: ns.registrations,
		NameReviewDue: ns.reviewDue,

		Deregistrations:            ns.deregistrations,
		NameChangeAwaitingRegister: ns.nameChangeApproved,
		OverrideCallbackURI:        ns.overrideURI,

		CodeRequests: ns.verification.sent,
		CodeMethod:   ns.verification.method,
		CodeLanguage: ns.verification.language,
	}
	st.RegisterCallsInWindow = ns.callsInWindow(now)
	st.HealthStatus = s.numberHealthLocked(ns)
	return st, true
}

// Numbers returns copies of all numbers, grouped by business in insertion order.
func (s *Server) Numbers() []NumberState {
	s.mu.Lock()
	ids := make([]string, 0, len(s.numbers))
	for _, bs := range s.businessOrderLocked() {
		for _, ns := range bs.numbers {
			ids = append(ids, ns.n.PhoneNumberID)
		}
	}
	s.mu.Unlock()
	out := make([]NumberState, 0, len(ids))
	for _, id := range ids {
		if st, ok := s.Number(id); ok {
			out = append(out, st)
		}
	}
	return out
}

// ReceivedPIN is the PIN of the last well-formed register call for the number ("" if
// none came), whether or not the call succeeded. Number(id).PIN is the PIN Meta holds.
func (s *Server) ReceivedPIN(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ns := s.numbers[id]; ns != nil {
		return ns.receivedPIN
	}
	return ""
}

// Business returns a copy of a business account's current state.
func (s *Server) Business(wabaID string) (BusinessState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bs := s.businesses[wabaID]
	if bs == nil {
		return BusinessState{}, false
	}
	st := BusinessState{Business: bs.b, RateLimitedUntil: s.rateLimits[wabaID]}
	st.HealthStatus = s.businessHealthLocked(bs)
	for _, ns := range bs.numbers {
		st.NumberIDs = append(st.NumberIDs, ns.n.PhoneNumberID)
	}
	if bs.sub != nil {
		sub := *bs.sub
		st.Subscription = &sub
	}
	return st, true
}

// Businesses returns copies of all business accounts, ordered by WABA id.
func (s *Server) Businesses() []BusinessState {
	s.mu.Lock()
	ids := make([]string, 0, len(s.businesses))
	for _, bs := range s.businessOrderLocked() {
		ids = append(ids, bs.b.WABAID)
	}
	s.mu.Unlock()
	out := make([]BusinessState, 0, len(ids))
	for _, id := range ids {
		if st, ok := s.Business(id); ok {
			out = append(out, st)
		}
	}
	return out
}

func (s *Server) businessOrderLocked() []*bizState {
	out := make([]*bizState, 0, len(s.businesses))
	for _, bs := range s.businesses {
		out = append(out, bs)
	}
	slices.SortFunc(out, func(a, b *bizState) int { return strings.Compare(a.b.WABAID, b.b.WABAID) })
	return out
}

func (ns *numState) callsInWindow(now time.Time) int {
	cut := now.Add(-RegisterWindow)
	n := 0
	for _, t := range ns.calls {
		if t.After(cut) {
			n++
		}
	}
	return n
}

// pruneCalls drops calls that left the moving window.
func (ns *numState) pruneCalls(now time.Time) {
	cut := now.Add(-RegisterWindow)
	i := 0
	for i < len(ns.calls) && !ns.calls[i].After(cut) {
		i++
	}
	ns.calls = ns.calls[i:]
}

func rank(canSend string) int {
	switch canSend {
	case CanSendAvailable:
		return 1
	case CanSendBlocked:
		return 3
	default:
		return 2
	}
}

func (s *Server) businessEntitiesLocked(bs *bizState, overrides []HealthEntity) []HealthEntity {
	pick := func(typ string, def HealthEntity) HealthEntity {
		for _, list := range [][]HealthEntity{overrides, bs.overrides} {
			for _, e := range list {
				if e.EntityType == typ {
					e = cloneEntity(e)
					if e.ID == "" {
						e.ID = def.ID
					}
					if e.CanSendMessage == "" {
						e.CanSendMessage = CanSendAvailable
					}
					return e
				}
			}
		}
		return def
	}
	waba := cloneEntity(bs.waba)
	if waba.CanSendMessage == "" {
		waba.CanSendMessage = CanSendAvailable
	}
	ents := []HealthEntity{pick(EntityWABA, waba)}
	if bs.b.BusinessID != "" || hasType(overrides, EntityBusiness) || hasType(bs.overrides, EntityBusiness) {
		ents = append(ents, pick(EntityBusiness, HealthEntity{EntityType: EntityBusiness, ID: bs.b.BusinessID, CanSendMessage: CanSendAvailable}))
	}
	ents = append(ents, pick(EntityApp, HealthEntity{EntityType: EntityApp, ID: s.appID, CanSendMessage: CanSendAvailable}))
	return ents
}

func hasType(es []HealthEntity, typ string) bool {
	return slices.ContainsFunc(es, func(e HealthEntity) bool { return e.EntityType == typ })
}

func worst(ents []HealthEntity) string {
	top := ""
	for _, e := range ents {
		if top == "" || rank(e.CanSendMessage) > rank(top) {
			top = e.CanSendMessage
		}
	}
	return top
}

func (s *Server) numberHealthLocked(ns *numState) *HealthStatus {
	phone := cloneEntity(ns.phone)
	if phone.CanSendMessage == "" {
		phone.CanSendMessage = CanSendLimited
		if ns.n.PlatformType == "CLOUD_API" {
			phone.CanSendMessage = CanSendAvailable
		}
	}
	ents := append([]HealthEntity{phone}, s.businessEntitiesLocked(ns.biz, ns.overrides)...)
	return &HealthStatus{CanSendMessage: worst(ents), Entities: ents}
}

func (s *Server) businessHealthLocked(bs *bizState) *HealthStatus {
	ents := s.businessEntitiesLocked(bs, nil)
	return &HealthStatus{CanSendMessage: worst(ents), Entities: ents}
}
