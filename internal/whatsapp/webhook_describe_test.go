package whatsapp

import (
	"strings"
	"testing"
)

func TestDescribeWebhookChangeInPlainWords(t *testing.T) {
	cases := []struct {
		field, value string
		says         []string
	}{
		{WebhookFieldNameUpdate, `{"decision":"APPROVED","requested_verified_name":"Acme"}`, []string{"approved", "Acme"}},
		{WebhookFieldNameUpdate, `{"decision":"REJECTED","requested_verified_name":"Acme!!","rejection_reason":"NONE"}`, []string{"declined", "did not give a reason"}},
		{WebhookFieldNameUpdate, `{"decision":"REJECTED","rejection_reason":"Name does not match the business"}`, []string{"declined", "Name does not match the business"}},
		{WebhookFieldQualityUpdate, `{"event":"FLAGGED","max_daily_conversations_per_business":"1000"}`, []string{"flagged", "1,000 a day"}},
		{WebhookFieldQualityUpdate, `{"event":"THROUGHPUT_UPGRADE"}`, []string{"throughput"}},
		{WebhookFieldAccountUpdate, `{"event":"ACCOUNT_OFFBOARDED"}`, []string{"offboarded"}},
		{WebhookFieldAccountUpdate, `{"event":"PARTNER_REMOVED"}`, []string{"no longer shared"}},
		{WebhookFieldAccountUpdate, `{"event":"SOMETHING_NEW"}`, []string{"SOMETHING_NEW"}},
		{"template_category_update", `{}`, []string{"template_category_update"}},
	}
	for _, tc := range cases {
		got := DescribeWebhookChange(WebhookChange{Field: tc.field, Value: []byte(tc.value)})
		for _, want := range tc.says {
			if !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
				t.Errorf("%s %s: want the description to mention %q, got %q", tc.field, tc.value, want, got)
			}
		}
	}
}
