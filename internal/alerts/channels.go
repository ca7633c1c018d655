package alerts

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// Channels a destination can be.
const (
	ChannelEmail   = "email"
	ChannelSlack   = "slack"
	ChannelWebhook = "webhook"
)

// sender delivers one alert to one destination. detail is what the other side
// answered ("HTTP 200", "SMTP 250 ...") or why nothing was answered; err is set when
// the delivery failed.
type sender interface {
	send(ctx context.Context, d db.AlertDestination, p Payload, deliveryID int64) (detail string, err error)
}

// httpPost posts a JSON body and reads the answer: 2xx is delivered.
func httpPost(ctx context.Context, client *http.Client, rawURL string, body []byte, headers http.Header) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return "bad URL", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "InboxHealth-Alerts/1")
	for k, v := range headers {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return connectionProblem(err), err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	detail := "HTTP " + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return detail, fmt.Errorf("alerts: destination answered %s", detail)
	}
	return detail, nil
}

// connectionProblem words a failed connection without the URL (a Slack URL's path is
// its secret, and Go's url.Error repeats the whole URL).
func connectionProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, ErrDestinationRefused):
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer in time"
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return "connection failed: " + msg
}

// webhookSender posts the signed JSON payload.
type webhookSender struct {
	client *http.Client
	now    func() time.Time
}

func (s webhookSender) send(ctx context.Context, d db.AlertDestination, p Payload, deliveryID int64) (string, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return "could not encode the payload", err
	}
	ts := s.now().Unix()
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(d.Secret, ts, body))
	h.Set(HeaderEvent, p.Type)
	h.Set(HeaderDelivery, strconv.FormatInt(deliveryID, 10))
	return httpPost(ctx, s.client, d.URL, body, h)
}

// slackSender posts a Slack incoming-webhook message: text (what Mattermost and
// Rocket.Chat show) and blocks (what Slack shows).
type slackSender struct{ client *http.Client }

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

// SlackMessage is the body posted to a Slack-compatible incoming webhook.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackEscape escapes what Slack's mrkdwn reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func slackMessageOf(p Payload) SlackMessage {
	m := SlackMessage{Text: p.Headline + " — " + p.URL}
	m.Blocks = append(m.Blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(p.Headline, 150)}})
	if p.Reason != "" {
		m.Blocks = append(m.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: slackEscape(p.Reason)}})
	}
	if p.From != "" || p.To != "" {
		m.Blocks = append(m.Blocks, slackBlock{Type: "section", Fields: []slackText{
			{Type: "mrkdwn", Text: "*Was*\n" + slackEscape(orDash(p.From))},
			{Type: "mrkdwn", Text: "*Now*\n" + slackEscape(orDash(p.To))},
		}})
	}
	if p.Remedy != "" {
		m.Blocks = append(m.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "*What to do:* " + slackEscape(p.Remedy)}})
	}
	m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn",
		Text: fmt.Sprintf("<%s|Open in Inbox Health> · %s · %s", p.URL, slackEscape(p.Account.Name), p.Occurred.Format(time.RFC3339))}}})
	return m
}

func (s slackSender) send(ctx context.Context, d db.AlertDestination, p Payload, _ int64) (string, error) {
	body, err := json.Marshal(slackMessageOf(p))
	if err != nil {
		return "could not encode the message", err
	}
	return httpPost(ctx, s.client, d.URL, body, nil)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// SMTPConfig is the mail server alerts are sent through (SMTP_URL, SMTP_FROM).
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	// ImplicitTLS: smtps:// (TLS from the first byte); otherwise STARTTLS, required
	// unless the host is a loopback address.
	ImplicitTLS bool
	From        string
	// TLSConfig overrides the TLS settings (tests trust their own certificate).
	TLSConfig *tls.Config
}

// ParseSMTPURL reads SMTP_URL (smtp://user:pass@host:587 or smtps://user:pass@host:465)
// and SMTP_FROM. The error never repeats the password.
func ParseSMTPURL(raw, from string) (*SMTPConfig, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("SMTP_URL: want smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465")
	}
	c := &SMTPConfig{Host: u.Hostname(), From: strings.TrimSpace(from)}
	switch u.Scheme {
	case "smtp":
		c.Port = 587
	case "smtps":
		c.Port, c.ImplicitTLS = 465, true
	default:
		return nil, fmt.Errorf("SMTP_URL: scheme %q: want smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if c.Port, err = strconv.Atoi(p); err != nil || c.Port <= 0 || c.Port > 65535 {
			return nil, fmt.Errorf("SMTP_URL: port %q is not a port number", p)
		}
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if c.From == "" {
		return nil, errors.New("SMTP_FROM: set the sender address of alert emails (e.g. alerts@example.com) with SMTP_URL")
	}
	if err := mail.NewMsg().From(c.From); err != nil {
		return nil, fmt.Errorf("SMTP_FROM=%q is not an email address", c.From)
	}
	return c, nil
}

// loopback reports whether the mail server is on this machine, the one case where
// STARTTLS is not required.
func (c *SMTPConfig) loopback() bool {
	if strings.EqualFold(c.Host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(c.Host)
	return err == nil && a.IsLoopback()
}

// emailSender sends a plain-text email with a small HTML part.
type emailSender struct{ cfg *SMTPConfig }

var emailHTML = template.Must(template.New("alert").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif;max-width:40em">
<h2 style="margin:0 0 .5em">{{.Headline}}</h2>
{{if .Reason}}<p style="white-space:pre-line">{{.Reason}}</p>{{end}}
{{if or .From .To}}<p><strong>Was:</strong> {{if .From}}{{.From}}{{else}}—{{end}} &nbsp; <strong>Now:</strong> {{if .To}}{{.To}}{{else}}—{{end}}</p>{{end}}
{{if .Remedy}}<p><strong>What to do:</strong> {{.Remedy}}</p>{{end}}
<p><a href="{{.URL}}">Open in Inbox Health</a></p>
<p style="color:#666;font-size:.9em">{{.Account.Name}} · {{.Occurred.Format "2006-01-02 15:04 UTC"}}</p>
</body></html>`))

func emailText(p Payload) string {
	var b strings.Builder
	b.WriteString(p.Headline + "\n\n")
	if p.Reason != "" {
		b.WriteString(p.Reason + "\n\n")
	}
	if p.From != "" || p.To != "" {
		fmt.Fprintf(&b, "Was: %s\nNow: %s\n\n", orDash(p.From), orDash(p.To))
	}
	if p.Remedy != "" {
		b.WriteString("What to do: " + p.Remedy + "\n\n")
	}
	fmt.Fprintf(&b, "Open in Inbox Health: %s\n\n-- \n%s · %s\n", p.URL, p.Account.Name, p.Occurred.Format("2006-01-02 15:04 UTC"))
	return b.String()
}

func (s emailSender) send(ctx context.Context, d db.AlertDestination, p Payload, _ int64) (string, error) {
	if s.cfg == nil {
		return "no mail server configured (set SMTP_URL and SMTP_FROM)", errors.New("alerts: SMTP_URL is not set")
	}
	m := mail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return "bad SMTP_FROM", err
	}
	if err := m.To(d.Recipients...); err != nil {
		return "bad recipient address", err
	}
	m.Subject(p.Headline)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(mail.TypeTextPlain, emailText(p))
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, p); err != nil {
		return "could not render the email", err
	}
	m.AddAlternativeString(mail.TypeTextHTML, html.String())

	opts := []mail.Option{mail.WithPort(s.cfg.Port), mail.WithTimeout(deliveryTimeout)}
	switch {
	case s.cfg.ImplicitTLS:
		opts = append(opts, mail.WithSSL())
	case s.cfg.loopback():
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(s.cfg.TLSConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(s.cfg.Username), mail.WithPassword(s.cfg.Password))
	}
	client, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return "bad mail server settings", err
	}
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return smtpProblem(err), err
	}
	return fmt.Sprintf("SMTP 250: accepted for %d recipient(s)", len(d.Recipients)), nil
}

// smtpProblem is the mail server's reply to a failed send, or why there was none.
func smtpProblem(err error) string {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() > 0 {
		return truncate(fmt.Sprintf("SMTP %d: %s", se.ErrorCode(), se.Error()), 300)
	}
	return truncate("SMTP: "+err.Error(), 300)
}
