package graphsim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// appCallback is the webhook configuration of the app in the App Dashboard (WhatsApp >
// Configuration): one callback URL, its verify token and the fields it subscribes to.
type appCallback struct {
	url         string
	verifyToken string
	fields      []string
}

// DefaultAppFields are the webhook fields SetAppCallback subscribes when given none:
// the messages field and every account-level field the product reads.
var DefaultAppFields = []string{
	"messages",
	"phone_number_name_update",
	"phone_number_quality_update",
	"account_update",
	"account_review_update",
	"account_alerts",
	"business_capability_update",
}

// SetAppCallback sets the app's callback URL as the App Dashboard does. Meta first
// verifies the URL with a GET carrying hub.mode=subscribe, hub.challenge and
// hub.verify_token, and accepts it only when the answer is HTTP 200 with the challenge
// as its body; otherwise the callback is not changed. nil or empty fields mean
// DefaultAppFields. See https://developers.facebook.com/docs/graph-api/webhooks/getting-started
// and https://developers.facebook.com/docs/graph-api/webhooks/subscriptions-edge
func (s *Server) SetAppCallback(ctx context.Context, callbackURL, verifyToken string, fields []string) error {
	if err := validCallbackURL(callbackURL); err != nil {
		return fmt.Errorf("graphsim: app callback: %w", err)
	}
	if verifyToken == "" {
		return fmt.Errorf("graphsim: app callback: verify token is required")
	}
	if len(fields) == 0 {
		fields = DefaultAppFields
	}
	if err := s.verifyCallback(ctx, callbackURL, verifyToken); err != nil {
		return fmt.Errorf("graphsim: app callback: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app = appCallback{url: callbackURL, verifyToken: verifyToken, fields: slices.Clone(fields)}
	s.logger.Info("graphsim app callback set", "callback", callbackURL, "fields", strings.Join(fields, ","))
	return nil
}

// AppCallback is the app's callback URL and subscribed fields ("" and nil when unset).
func (s *Server) AppCallback() (callbackURL string, fields []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.app.url, slices.Clone(s.app.fields)
}

func validCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return nil
}

// verifyCallback makes Meta's verification request to a callback URL and checks the
// answer echoes the challenge. It must be called without s.mu held.
// See https://developers.facebook.com/docs/graph-api/webhooks/getting-started
func (s *Server) verifyCallback(ctx context.Context, callbackURL, verifyToken string) error {
	ctx, cancel := context.WithTimeout(ctx, s.webhookTimeout)
	defer cancel()
	u, err := url.Parse(callbackURL)
	if err != nil {
		return fmt.Errorf("parse callback URL: %w", err)
	}
	challenge := rand.Text()
	q := u.Query()
	q.Set("hub.mode", "subscribe")
	q.Set("hub.challenge", challenge)
	q.Set("hub.verify_token", verifyToken)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("verification request: %w", err)
	}
	req.Header.Set("User-Agent", "facebookplatform/1.0 (+http://developers.facebook.com)")
	resp, err := s.client.Do(req)
	if err != nil {
		// The error text holds the URL with the verify token: say less.
		return fmt.Errorf("verification request to %s failed", callbackURL)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("read verification answer from %s: %w", callbackURL, err)
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("callback %s did not answer the verification challenge: HTTP %d", callbackURL, resp.StatusCode)
	case strings.TrimSpace(string(got)) != challenge:
		return fmt.Errorf("callback %s did not answer the verification challenge", callbackURL)
	}
	return nil
}

// appSubscriptionsLocked answers GET /{app-id}/subscriptions: the app's webhook
// subscriptions, readable only with an app access token ("APP_ID|APP_SECRET").
// See https://developers.facebook.com/docs/graph-api/reference/app/subscriptions/
func (s *Server) appSubscriptionsLocked(token string, hasToken bool) result {
	if !hasToken {
		return s.failed(errAccessTokenRequired())
	}
	appID, secret, isAppToken := strings.Cut(token, "|")
	if !isAppToken || appID != s.appID {
		return s.failed(errAppTokenRequired())
	}
	if subtle.ConstantTimeCompare([]byte(secret), s.secret) != 1 {
		return s.failed(errTokenInvalid())
	}
	type field struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	type subscription struct {
		Object      string  `json:"object"`
		CallbackURL string  `json:"callback_url"`
		Active      bool    `json:"active"`
		Fields      []field `json:"fields"`
	}
	data := []subscription{}
	if s.app.url != "" {
		sub := subscription{Object: "whatsapp_business_account", CallbackURL: s.app.url, Active: true}
		for _, f := range s.app.fields {
			sub.Fields = append(sub.Fields, field{Name: f, Version: strings.TrimPrefix(s.prefix, "/")})
		}
		data = append(data, sub)
	}
	return ok(map[string]any{"data": data})
}

// subscribeLocked plays POST /{waba-id}/subscribed_apps. Without override_callback_uri
// it subscribes the app to the WABA's webhooks, with no override
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/manage-webhooks).
// With one, Meta refuses (#100) unless the app is already subscribed, then verifies the
// override URL with a challenge before storing it
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override).
// Parameters come as a JSON body, a form body or the query string, as Meta accepts.
func (s *Server) subscribeLocked(bs *bizState, r *http.Request, body []byte, rec *Request, now time.Time) result {
	params, f, valid := requestParams(r, body)
	if !valid {
		return s.failed(f)
	}
	uri, token := params["override_callback_uri"], params["verify_token"]
	rec.OverrideCallbackURI = uri
	if uri == "" {
		bs.sub = &Subscription{SubscribedAt: now}
		s.logger.Info("graphsim app subscribed", "waba_id", bs.b.WABAID)
		return ok(map[string]bool{"success": true})
	}
	if f, valid := s.checkOverrideLocked(bs, uri, token); !valid {
		return s.failed(f)
	}
	return s.afterVerifyingOverride(uri, token, func() result {
		if bs.sub == nil { // unsubscribed while Meta verified
			return s.failed(errOverrideBeforeSubscription())
		}
		bs.sub.OverrideCallbackURI, bs.sub.VerifyToken = uri, token
		s.logger.Info("graphsim WABA webhook override set", "waba_id", bs.b.WABAID, "callback", uri)
		return ok(map[string]bool{"success": true})
	})
}

// afterVerifyingOverride answers an override request the way Meta does: the callback is
// verified with a challenge first (without holding the lock), and only then is set
// applied, under the lock.
func (s *Server) afterVerifyingOverride(uri, token string, set func() result) result {
	return result{finish: func(ctx context.Context) result {
		verifyErr := s.verifyCallback(ctx, uri, token)
		s.mu.Lock()
		defer s.mu.Unlock()
		if verifyErr != nil {
			return s.failed(errCallbackVerification(verifyErr))
		}
		return set()
	}}
}

// checkOverrideLocked applies Meta's rules for an override before it is verified: a
// valid URL, a verify token, and the app already subscribed to the WABA.
func (s *Server) checkOverrideLocked(bs *bizState, uri, token string) (failure, bool) {
	switch {
	case validCallbackURL(uri) != nil:
		return errParam("Param override_callback_uri must be a valid URL", ""), false
	case token == "":
		return errParam("The parameter verify_token is required.", ""), false
	case bs.sub == nil:
		return errOverrideBeforeSubscription(), false
	}
	return failure{}, true
}

// updateNumberLocked plays POST /{phone-number-id}, which takes either a new two-step
// verification PIN ({"pin":"123456"},
// https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/two-step-verification)
// or the number's webhook override ({"webhook_configuration":{"override_callback_uri",
// "verify_token"}}, https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override).
func (s *Server) updateNumberLocked(ns *numState, r *http.Request, body []byte, rec *Request) result {
	var in struct {
		PIN                  *string `json:"pin"`
		WebhookConfiguration *struct {
			OverrideCallbackURI string `json:"override_callback_uri"`
			VerifyToken         string `json:"verify_token"`
		} `json:"webhook_configuration"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return s.failed(errParam("Invalid parameter", "Request body is not a valid form."))
		}
		if form.Has("pin") {
			pin := form.Get("pin")
			in.PIN = &pin
		}
		if raw := form.Get("webhook_configuration"); raw != "" {
			if err := json.Unmarshal([]byte(raw), &in.WebhookConfiguration); err != nil {
				return s.failed(errParam("Param webhook_configuration must be a JSON object", ""))
			}
		}
	} else if err := json.Unmarshal(body, &in); err != nil {
		return s.failed(errParam("Invalid parameter", "Request body is not valid JSON."))
	}
	switch {
	case in.PIN != nil:
		// There is no endpoint to disable two-step verification: an empty PIN is refused.
		if !isPIN(*in.PIN) {
			return s.failed(errParam("Invalid parameter", "Param pin must be a 6-digit number."))
		}
		ns.n.PIN = *in.PIN
		s.logger.Info("graphsim two-step PIN set", "phone_number_id", ns.n.PhoneNumberID)
		return ok(map[string]bool{"success": true})
	case in.WebhookConfiguration != nil:
		uri, token := in.WebhookConfiguration.OverrideCallbackURI, in.WebhookConfiguration.VerifyToken
		rec.OverrideCallbackURI = uri
		if f, valid := s.checkOverrideLocked(ns.biz, uri, token); !valid {
			return s.failed(f)
		}
		return s.afterVerifyingOverride(uri, token, func() result {
			ns.overrideURI = uri
			s.logger.Info("graphsim phone number webhook override set", "phone_number_id", ns.n.PhoneNumberID, "callback", uri)
			return ok(map[string]bool{"success": true})
		})
	default:
		return s.failed(errParam("The parameter pin is required.", ""))
	}
}

// requestParams reads string parameters from the query string and a JSON or form body.
func requestParams(r *http.Request, body []byte) (map[string]string, failure, bool) {
	params := map[string]string{}
	for k := range r.URL.Query() {
		params[k] = r.URL.Query().Get(k)
	}
	trimmed := strings.TrimSpace(string(body))
	switch {
	case trimmed == "":
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		form, err := url.ParseQuery(trimmed)
		if err != nil {
			return nil, errParam("Invalid parameter", "Request body is not a valid form."), false
		}
		for k := range form {
			params[k] = form.Get(k)
		}
	default:
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, errParam("Invalid parameter", "Request body is not valid JSON."), false
		}
		for k, v := range in {
			sv, isString := v.(string)
			if !isString {
				return nil, errParam("Param "+k+" must be a string", ""), false
			}
			params[k] = sv
		}
	}
	return params, failure{}, true
}
