package whatsapp

// TEMPORARY stand-ins for the API built on branch "client"; removed at its merge.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

var AppWebhookFields = []string{WebhookFieldNameUpdate, WebhookFieldQualityUpdate, WebhookFieldAccountUpdate,
	WebhookFieldAccountReviewUpdate, "account_alerts", "business_capability_update"}

func IsWABALevelField(field string) bool {
	switch field {
	case WebhookFieldAccountUpdate, WebhookFieldAccountReviewUpdate, "account_alerts", "business_capability_update":
		return true
	}
	return false
}

func (c WebhookChange) PhoneNumberID() string {
	var wire struct {
		PhoneNumberID webhookString `json:"phone_number_id"`
	}
	if len(c.Value) == 0 || json.Unmarshal(c.Value, &wire) != nil {
		return ""
	}
	return string(wire.PhoneNumberID)
}

func WebhookChangeKey(entryID string, entryTime int64, c WebhookChange) string {
	h := sha256.New()
	h.Write([]byte(entryID + "\x00" + strconv.FormatInt(entryTime, 10) + "\x00" + c.Field + "\x00"))
	var v any
	if json.Unmarshal(c.Value, &v) == nil {
		canonical, _ := json.Marshal(v)
		h.Write(canonical)
	}
	return hex.EncodeToString(h.Sum(nil))
}

const (
	StateCoexistence             RegistrationState = "coexistence"
	StateNameChangeNeedsRegister RegistrationState = "name_change_needs_register"

	KindDeregistrationIncomplete Kind = "deregistration_incomplete"
	KindNotRegistered            Kind = "not_registered"
	KindPermissionMissing        Kind = "permission_missing"
	KindPolicyBlocked            Kind = "policy_blocked"
)

type RegistrationFacts struct{ NameChangeApproved bool }

func DecideWith(p *PhoneNumber, f RegistrationFacts) Decision {
	d := Decide(p)
	if d.State == StateRegistered && f.NameChangeApproved {
		return Decision{State: StateNameChangeNeedsRegister, AutoRegister: true, ManualRegister: true, NeedsStoredPIN: true,
			Reason: "Meta approved the new display name. The number must be registered again for it to show."}
	}
	return d
}

func (c *Client) SetTwoStepPIN(ctx context.Context, token, phoneNumberID, pin string) error {
	return wrap("set pin", c.postExpectingSuccess(ctx, token, map[string]string{"pin": pin}, phoneNumberID))
}

func (c *Client) Deregister(ctx context.Context, token, phoneNumberID string) error {
	return wrap("deregister", c.postExpectingSuccess(ctx, token, struct{}{}, phoneNumberID, "deregister"))
}

func (c *Client) BusinessOwner(ctx context.Context, token, wabaID string) (string, error) {
	return "", nil
}

func NameChangeApproved(prev, next *PhoneNumber) bool {
	if prev == nil || next == nil || !isRegisteredOnCloudAPI(*next) {
		return false
	}
	return prev.NewNameStatus != "" && prev.NewNameStatus != NameNone && prev.NewNameStatus != NameApproved &&
		next.NewNameStatus == NameApproved
}
