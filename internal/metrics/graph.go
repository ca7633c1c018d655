package metrics

import (
	"context"
	"time"

	"github.com/inboxhealth/inboxhealth/internal/whatsapp"
	"github.com/inboxhealth/inboxhealth/internal/whatsapp/health"
)

// Graph wraps the Graph API client so every call is counted by endpoint and outcome
// and timed; register calls are also counted on their own.
func (m *Metrics) Graph(g health.Graph) health.Graph { return &measuredGraph{g: g, m: m} }

type measuredGraph struct {
	g health.Graph
	m *Metrics
}

func (mg *measuredGraph) observe(endpoint string, start time.Time, err error) {
	mg.m.graphLatency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	mg.m.graphCalls.WithLabelValues(endpoint, outcomeOf(err)).Inc()
}

func (mg *measuredGraph) PhoneNumber(ctx context.Context, token, id string) (*whatsapp.PhoneNumber, error) {
	start := time.Now()
	p, err := mg.g.PhoneNumber(ctx, token, id)
	mg.observe("phone_number", start, err)
	return p, err
}

func (mg *measuredGraph) BusinessPhoneNumbers(ctx context.Context, token, wabaID string) ([]whatsapp.PhoneNumber, error) {
	start := time.Now()
	ps, err := mg.g.BusinessPhoneNumbers(ctx, token, wabaID)
	mg.observe("business_phone_numbers", start, err)
	return ps, err
}

func (mg *measuredGraph) Register(ctx context.Context, token, id, pin string) error {
	start := time.Now()
	err := mg.g.Register(ctx, token, id, pin)
	mg.observe("register", start, err)
	mg.m.registerCalls.WithLabelValues(outcomeOf(err)).Inc()
	return err
}

func (mg *measuredGraph) SubscribeApp(ctx context.Context, token, wabaID string) error {
	start := time.Now()
	err := mg.g.SubscribeApp(ctx, token, wabaID)
	mg.observe("subscribe_app", start, err)
	return err
}

func (mg *measuredGraph) SubscribedApps(ctx context.Context, token, wabaID string) ([]whatsapp.SubscribedApp, error) {
	start := time.Now()
	apps, err := mg.g.SubscribedApps(ctx, token, wabaID)
	mg.observe("subscribed_apps", start, err)
	return apps, err
}

func (mg *measuredGraph) BusinessOwner(ctx context.Context, token, wabaID string) (string, error) {
	start := time.Now()
	id, err := mg.g.BusinessOwner(ctx, token, wabaID)
	mg.observe("business_owner", start, err)
	return id, err
}

func (mg *measuredGraph) SetTwoStepPIN(ctx context.Context, token, id, pin string) error {
	start := time.Now()
	err := mg.g.SetTwoStepPIN(ctx, token, id, pin)
	mg.observe("set_pin", start, err)
	return err
}

func (mg *measuredGraph) Deregister(ctx context.Context, token, id string) error {
	start := time.Now()
	err := mg.g.Deregister(ctx, token, id)
	mg.observe("deregister", start, err)
	return err
}

func (mg *measuredGraph) AppSubscriptions(ctx context.Context, appID, appSecret string) ([]whatsapp.AppSubscription, error) {
	start := time.Now()
	subs, err := mg.g.AppSubscriptions(ctx, appID, appSecret)
	mg.observe("app_subscriptions", start, err)
	return subs, err
}

func (mg *measuredGraph) RequestCode(ctx context.Context, token, id, method, language string) error {
	start := time.Now()
	err := mg.g.RequestCode(ctx, token, id, method, language)
	mg.observe("request_code", start, err)
	return err
}

func (mg *measuredGraph) VerifyCode(ctx context.Context, token, id, code string) error {
	start := time.Now()
	err := mg.g.VerifyCode(ctx, token, id, code)
	mg.observe("verify_code", start, err)
	return err
}
