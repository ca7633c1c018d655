package alerts_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/db"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/graphsim"
)

// --- a real SMTP server in the test process ---

type mailMessage struct {
	From string
	To   []string
	Data string
}

type mailBackend struct {
	mu       sync.Mutex
	messages []mailMessage
}

func (b *mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b: b}, nil }

func (b *mailBackend) received() []mailMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]mailMessage(nil), b.messages...)
}

type mailSession struct {
	b   *mailBackend
	msg mailMessage
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error { s.msg.From = from; return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = string(data)
	s.b.mu.Lock()
	s.b.messages = append(s.b.messages, s.msg)
	s.b.mu.Unlock()
	s.msg = mailMessage{}
	return nil
}
func (s *mailSession) Reset()        { s.msg = mailMessage{} }
func (s *mailSession) Logout() error { return nil }

// startSMTPServer runs go-smtp's server on 127.0.0.1 and returns its port.
func startSMTPServer(t *testing.T) (*mailBackend, int) {
	t.Helper()
	be := &mailBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return be, ln.Addr().(*net.TCPAddr).Port
}

func TestQualityDropIsEmailedThroughARealSMTPServer(t *testing.T) {
	t.Parallel()
	mailbox, port := startSMTPServer(t)
	env := newAlertEnv(t, "connected")
	smtpCfg, err := alerts.ParseSMTPURL("smtp://127.0.0.1:"+strconv.Itoa(port), "alerts@health.test")
	if err != nil {
		t.Fatal(err)
	}
	env.smtp = smtpCfg
	env.startAlerts()
	dest := env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelEmail, Recipients: []string{"ops@example.test"},
		Kinds: []string{string(alerts.KindQuality)}})
	in := env.inbox("Padaria Central — Support")

	env.sweep() // baseline: GREEN
	if got := env.deliver(); got != 0 {
		t.Fatalf("the first sweep is a baseline and must alert nothing, made %d deliveries", got)
	}
	env.setNumber(in.Name, func(n *graphsim.Number) { n.QualityRating = "RED" })
	env.sweep()
	if got := env.deliver(); got != 1 {
		t.Fatalf("quality GREEN → RED: want 1 delivery attempt, got %d", got)
	}
	msgs := mailbox.received()
	if len(msgs) != 1 {
		t.Fatalf("want 1 email at the SMTP server, got %d", len(msgs))
	}
	m := msgs[0]
	if m.From != "alerts@health.test" || len(m.To) != 1 || m.To[0] != "ops@example.test" {
		t.Errorf("envelope: from %q to %v, want alerts@health.test to [ops@example.test]", m.From, m.To)
	}
	subject, parts := parseEmail(t, m.Data)
	if want := "[Problem] Padaria Central — Support (+12125550199): quality dropped (GREEN → RED)"; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	link := fmt.Sprintf("https://health.example.test/accounts/%d/inboxes/%d/health", env.accountID, in.ID)
	for _, ct := range []string{"text/plain", "text/html"} {
		body, ok := parts[ct]
		if !ok {
			t.Fatalf("email has no %s part (parts: %v)", ct, parts)
		}
		for _, want := range []string{link, "Quality changed from Green to Red.", "What to do:"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", ct, want, body)
			}
		}
	}
	if strings.Contains(m.Data, "EAAsim") {
		t.Error("the email carries the inbox's access token")
	}
	log, err := env.store.AlertDeliveryLog(context.Background(), dest.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Outcome != db.AttemptDelivered || !strings.HasPrefix(log[0].Detail, "SMTP 250") {
		t.Errorf("delivery log: %+v, want one delivered attempt with the SMTP reply", log)
	}
}

// parseEmail reads an email as a mail client does: the decoded subject and each part's
// decoded body by content type.
func parseEmail(t *testing.T, data string) (string, map[string]string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, err := io.ReadAll(p) // multipart decodes quoted-printable itself
		if err != nil {
			t.Fatal(err)
		}
		parts[ct] = string(body)
	}
	return subject, parts
}

// webhookReceiver records what it is sent; fail says how many requests to answer 500 first.
type webhookReceiver struct {
	mu       sync.Mutex
	fail     int
	requests int
	bodies   [][]byte
	headers  []http.Header
	srv      *httptest.Server
}

func newWebhookReceiver(t *testing.T, failFirst int) *webhookReceiver {
	r := &webhookReceiver{fail: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		if r.requests <= r.fail {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		r.bodies = append(r.bodies, body)
		r.headers = append(r.headers, req.Header.Clone())
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) accepted() ([][]byte, []http.Header, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]http.Header(nil), r.headers...), r.requests
}

const testSigningSecret = "receiver-shared-secret-0123"

// checkSignature verifies a delivery the way docs/API.md tells receivers to.
func checkSignature(t *testing.T, h http.Header, body []byte, now time.Time) {
	t.Helper()
	ts := h.Get("X-InboxHealth-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("timestamp header %q is not unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d < -time.Minute || d > time.Minute {
		t.Errorf("timestamp %s is %s from the send time", ts, d)
	}
	mac := hmac.New(sha256.New, []byte(testSigningSecret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := h.Get("X-InboxHealth-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("signature %q, want %q", got, want)
	}
}

func TestWebhookDestinationGetsTheSignedVersionedPayload(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 0)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: recv.srv.URL + "/hook", Secret: testSigningSecret})
	in := env.inbox("Padaria Central — Support")

	env.sweep()
	env.setNumber(in.Name, func(n *graphsim.Number) { n.Status = "FLAGGED" })
	env.sweep()
	env.deliver()

	bodies, headers, _ := recv.accepted()
	if len(bodies) != 1 {
		t.Fatalf("want 1 delivery, got %d", len(bodies))
	}
	checkSignature(t, headers[0], bodies[0], env.clock.Now())
	if got := headers[0].Get("X-InboxHealth-Event"); got != "status.problem" {
		t.Errorf("X-InboxHealth-Event = %q, want status.problem", got)
	}
	var p map[string]any
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"version", "type", "account", "inbox", "from", "to", "reason", "remedy", "occurred_at", "url"} {
		if _, ok := p[key]; !ok {
			t.Errorf("payload lacks %q: %s", key, bodies[0])
		}
	}
	if p["version"] != float64(1) || p["type"] != "status.problem" || p["from"] != "CONNECTED" || p["to"] != "FLAGGED" {
		t.Errorf("payload = %s", bodies[0])
	}
	if inbox, _ := p["inbox"].(map[string]any); inbox["name"] != in.Name || inbox["phone_number"] != in.PhoneNumber {
		t.Errorf("payload inbox = %v", p["inbox"])
	}
	if account, _ := p["account"].(map[string]any); account["name"] != "Alerts Co" {
		t.Errorf("payload account = %v", p["account"])
	}
	if want := fmt.Sprintf("https://health.example.test/accounts/%d/inboxes/%d/health", env.accountID, in.ID); p["url"] != want {
		t.Errorf("url = %v, want %s", p["url"], want)
	}
	if r, _ := p["reason"].(string); !strings.Contains(r, "Flagged") {
		t.Errorf("reason %q does not say the number was flagged", r)
	}
	if strings.Contains(string(bodies[0]), testSigningSecret) || strings.Contains(string(bodies[0]), "EAAsim") {
		t.Error("the payload carries a secret or a token")
	}
	// A wrong secret must not verify.
	if err := alerts.VerifySignature("another-secret-0123456", headers[0].Get("X-InboxHealth-Signature"),
		headers[0].Get("X-InboxHealth-Timestamp"), bodies[0], env.clock.Now(), 5*time.Minute); err == nil {
		t.Error("a signature verified under the wrong secret")
	}
	if err := alerts.VerifySignature(testSigningSecret, headers[0].Get("X-InboxHealth-Signature"),
		headers[0].Get("X-InboxHealth-Timestamp"), bodies[0], env.clock.Now().Add(time.Hour), 5*time.Minute); err == nil {
		t.Error("an hour-old delivery verified: replays are not refused")
	}
}

func TestSlackDestinationGetsTextAndBlocks(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 0)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelSlack, URL: recv.srv.URL + "/services/T000/B000/XXXX"})
	in := env.inbox("Padaria Central — Orders")

	env.sweep()
	env.setNumber(in.Name, func(n *graphsim.Number) { n.QualityRating = "RED" })
	env.sweep()
	env.deliver()

	bodies, _, _ := recv.accepted()
	if len(bodies) != 1 {
		t.Fatalf("want 1 Slack message, got %d", len(bodies))
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string `json:"type"`
			Text     *struct{ Type, Text string }
			Elements []struct{ Type, Text string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal(bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "quality dropped (YELLOW → RED)") {
		t.Errorf("text %q lacks the headline", msg.Text)
	}
	types := []string{}
	for _, b := range msg.Blocks {
		types = append(types, b.Type)
	}
	if len(msg.Blocks) < 3 || msg.Blocks[0].Type != "header" || msg.Blocks[len(msg.Blocks)-1].Type != "context" {
		t.Fatalf("blocks %v: want a header first and a context with the link last", types)
	}
	link := fmt.Sprintf("/accounts/%d/inboxes/%d/health|Open in Inbox Health>", env.accountID, in.ID)
	if last := msg.Blocks[len(msg.Blocks)-1]; len(last.Elements) == 0 || !strings.Contains(last.Elements[0].Text, link) {
		t.Errorf("context block %+v lacks the link %s", last, link)
	}
}

func TestReceiverFailingThreeTimesGetsExactlyOneDelivery(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 3)
	dest := env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: recv.srv.URL, Secret: testSigningSecret})
	in := env.inbox("Padaria Central — Support")
	env.sweep()
	env.setNumber(in.Name, func(n *graphsim.Number) { n.Status = "RESTRICTED" })
	env.sweep()

	for attempt := 1; attempt <= 4; attempt++ {
		if got := env.deliver(); got != 1 {
			t.Fatalf("attempt %d: want 1 attempt due, got %d", attempt, got)
		}
		if got := env.deliver(); got != 0 {
			t.Fatalf("attempt %d: a retry was made before its backoff ended (%d attempts)", attempt, got)
		}
		env.clock.Advance(alerts.RetryDelay(attempt))
	}
	if got := env.deliver(); got != 0 {
		t.Fatalf("a delivered alert was sent again (%d attempts)", got)
	}
	bodies, _, requests := recv.accepted()
	if len(bodies) != 1 || requests != 4 {
		t.Fatalf("receiver accepted %d deliveries in %d requests, want exactly 1 in 4", len(bodies), requests)
	}
	log, err := env.store.AlertDeliveryLog(context.Background(), dest.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for i := len(log) - 1; i >= 0; i-- {
		outcomes = append(outcomes, log[i].Outcome+" "+log[i].Detail)
	}
	want := "failed HTTP 500,failed HTTP 500,failed HTTP 500,delivered HTTP 200"
	if got := strings.Join(outcomes, ","); got != want {
		t.Errorf("delivery log %q, want %q", got, want)
	}
}

func TestDeliveryGivesUpAfterADay(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 1000)
	dest := env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: recv.srv.URL, Secret: testSigningSecret})
	env.sweep()
	env.setNumber("Padaria Central — Support", func(n *graphsim.Number) { n.Status = "BANNED" })
	env.sweep()
	for i := 1; i <= 60; i++ {
		env.deliver()
		env.clock.Advance(alerts.RetryDelay(i))
	}
	log, err := env.store.AlertDeliveryLog(context.Background(), dest.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Outcome != db.AttemptGaveUp {
		t.Fatalf("last attempt %+v, want gave_up after a day", log)
	}
	_, _, requests := recv.accepted()
	if requests < 10 || requests > 40 {
		t.Errorf("%d attempts in a day of backoff (30 s doubling to 1 h): want between 10 and 40", requests)
	}
}

func TestRestartMidRetryStillDelivers(t *testing.T) {
	t.Parallel()
	env := newAlertEnv(t, "connected")
	recv := newWebhookReceiver(t, 1)
	env.addDestination(db.NewAlertDestination{Channel: alerts.ChannelWebhook, URL: recv.srv.URL, Secret: testSigningSecret})
	env.sweep()
	env.setNumber("Padaria Central — Support", func(n *graphsim.Number) { n.Status = "FLAGGED" })
	env.sweep()
	if got := env.deliver(); got != 1 {
		t.Fatalf("want the first attempt, got %d", got)
	}

	// The process stops: the store is closed, and a new one opens the same file with
	// a new dispatcher, as at the next start.
	if err := env.store.Close(); err != nil {
		t.Fatal(err)
	}
	env.store = env.openStore()
	env.startAlerts()
	env.clock.Advance(alerts.RetryDelay(1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go env.dispatcher.Run(ctx) // the worker as the server runs it, not a single pass

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if bodies, _, _ := recv.accepted(); len(bodies) == 1 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, _, requests := recv.accepted()
	t.Fatalf("after the restart the pending delivery was not delivered (%d requests)", requests)
}
