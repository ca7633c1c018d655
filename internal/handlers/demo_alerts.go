package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/alerts"
	"github.com/inboxhealth/inboxhealth/internal/views"
)

// The demo's "Demo inbox for alerts": a built-in receiver for a signed JSON webhook
// destination, so a visitor sees the alerts the simulator's events produce without a
// mail server. It exists only in demo mode and keeps the last few messages in memory.

// DemoAlertInboxPath is where the demo's webhook destination posts.
const DemoAlertInboxPath = "/demo/alert-inbox"

const demoCatcherKeep = 50

// demoCatcher keeps the newest alerts the demo destination received.
type demoCatcher struct {
	mu     sync.Mutex
	caught []views.CaughtAlert
}

func (d *demoCatcher) add(a views.CaughtAlert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.caught = append([]views.CaughtAlert{a}, d.caught...)
	if len(d.caught) > demoCatcherKeep {
		d.caught = d.caught[:demoCatcherKeep]
	}
}

func (d *demoCatcher) list() []views.CaughtAlert {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]views.CaughtAlert(nil), d.caught...)
}

// catchDemoAlert receives a delivery as any receiver should: it checks the signature
// and the timestamp before it reads the body.
func (h *Handler) catchDemoAlert(c echo.Context) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, 256<<10))
	if err != nil {
		return &APIError{Status: http.StatusBadRequest, Type: "bad_request", Message: "The body could not be read."}
	}
	req := c.Request()
	if err := alerts.VerifySignature(h.cfg.DemoAlertSecret, req.Header.Get(alerts.HeaderSignature),
		req.Header.Get(alerts.HeaderTimestamp), body, h.now(), 5*time.Minute); err != nil {
		return &APIError{Status: http.StatusUnauthorized, Type: "unauthorized", Message: err.Error()}
	}
	var p alerts.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return &APIError{Status: http.StatusBadRequest, Type: "bad_request", Message: "The body is not an alert payload."}
	}
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, body, "", "  ")
	h.demoAlerts.add(views.CaughtAlert{At: h.now().UTC().Format("2006-01-02 15:04:05 UTC"), Headline: p.Headline,
		Reason: p.Reason, Remedy: p.Remedy, URL: p.URL, Signature: "verified", Body: pretty.String()})
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) showDemoAlertInbox(c echo.Context) error {
	return h.render(c, http.StatusOK, views.DemoAlertInboxPage(currentMembership(c).AccountID, h.demoAlerts.list()))
}
