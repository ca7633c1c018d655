package whatsapp

import (
	"net/url"
	"testing"
)

func TestManagerPhoneNumbersURL(t *testing.T) {
	tests := []struct {
		name, businessID, wabaID, want string
	}{
		{
			name:       "portfolio and WABA",
			businessID: "309876543210001", wabaID: "209876543210001",
			want: "https://business.facebook.com/latest/whatsapp_manager/phone_numbers/?business_id=309876543210001&asset_id=209876543210001",
		},
		{
			name:   "WABA only",
			wabaID: "209876543210001",
			want:   "https://business.facebook.com/wa/manage/phone-numbers/?waba_id=209876543210001",
		},
		{
			name: "neither",
			want: "https://business.facebook.com/wa/manage/home/",
		},
		{
			name:       "portfolio without WABA falls back to home",
			businessID: "309876543210001",
			want:       "https://business.facebook.com/wa/manage/home/",
		},
		{
			name:       "surrounding spaces are ignored",
			businessID: " 3 ", wabaID: "\t2\n",
			want: "https://business.facebook.com/latest/whatsapp_manager/phone_numbers/?business_id=3&asset_id=2",
		},
		{
			name:   "blank ids count as missing",
			wabaID: "   ",
			want:   "https://business.facebook.com/wa/manage/home/",
		},
		{
			name:       "values are query-escaped",
			businessID: "1&asset_id=evil", wabaID: "2 #x/?",
			want: "https://business.facebook.com/latest/whatsapp_manager/phone_numbers/?business_id=1%26asset_id%3Devil&asset_id=2+%23x%2F%3F",
		},
		{
			name:   "WABA only is query-escaped",
			wabaID: "a&b=c",
			want:   "https://business.facebook.com/wa/manage/phone-numbers/?waba_id=a%26b%3Dc",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ManagerPhoneNumbersURL(tt.businessID, tt.wabaID)
			if got != tt.want {
				t.Errorf("ManagerPhoneNumbersURL(%q, %q) = %q, want %q", tt.businessID, tt.wabaID, got, tt.want)
			}
		})
	}
}

func TestManagerPhoneNumbersURLRoundTrips(t *testing.T) {
	businessID, wabaID := "1&asset_id=evil", "2 #x/?"
	u, err := url.Parse(ManagerPhoneNumbersURL(businessID, wabaID))
	if err != nil {
		t.Fatalf("url.Parse: %v", err)
	}
	q := u.Query()
	if q.Get("business_id") != businessID || q.Get("asset_id") != wabaID || len(q["asset_id"]) != 1 {
		t.Errorf("query = %v, want business_id %q and one asset_id %q", q, businessID, wabaID)
	}
}
