package whatsapp

import (
	"net/url"
	"strings"
)

// ManagerPhoneNumbersURL links to the phone numbers page of WhatsApp Manager, where a
// customer fixes what this product cannot (display name, verification, payment).
//
// The best link needs both the business portfolio id and the WhatsApp Business
// Account id (they differ; keep both). Without the portfolio id the older WABA page
// still works; without either, WhatsApp Manager's home page lets the person pick.
func ManagerPhoneNumbersURL(businessID, wabaID string) string {
	businessID = strings.TrimSpace(businessID)
	wabaID = strings.TrimSpace(wabaID)
	switch {
	case businessID != "" && wabaID != "":
		// Built by hand rather than with url.Values.Encode, which would sort the keys
		// and so reorder the parameters Meta documents.
		return "https://business.facebook.com/latest/whatsapp_manager/phone_numbers/?business_id=" +
			url.QueryEscape(businessID) + "&asset_id=" + url.QueryEscape(wabaID)
	case wabaID != "":
		return "https://business.facebook.com/wa/manage/phone-numbers/?waba_id=" + url.QueryEscape(wabaID)
	default:
		return "https://business.facebook.com/wa/manage/home/"
	}
}
