package whatsapp

// TEMPORARY stand-ins for the API built on branch "client"; removed at its merge.

import (
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
