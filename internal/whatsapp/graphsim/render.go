package graphsim

import (
	"cmp"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Page sizes of /{waba-id}/phone_numbers.
const (
	DefaultPageSize = 25
	MaxPageSize     = 100
)

func (s *Server) numberNodeLocked(ns *numState, fields map[string]bool) map[string]any {
	n := &ns.n
	m := make(map[string]any, len(fields)+1)
	m["id"] = n.PhoneNumberID
	str := func(key, v string) {
		if fields[key] && v != "" {
			m[key] = v
		}
	}
	str("display_phone_number", n.DisplayPhoneNumber)
	str("verified_name", n.VerifiedName)
	str("code_verification_status", n.CodeVerificationStatus)
	str("name_status", n.NameStatus)
	str("new_name_status", n.NewNameStatus)
	str("platform_type", n.PlatformType)
	str("status", n.Status)
	str("quality_rating", n.QualityRating)
	str("messaging_limit_tier", n.MessagingLimitTier)
	str("whatsapp_business_manager_messaging_limit", n.BusinessMessagingLimit)
	str("account_mode", n.AccountMode)
	str("last_onboarded_time", n.LastOnboardedTime)
	if fields["throughput"] && n.ThroughputLevel != "" {
		m["throughput"] = map[string]string{"level": n.ThroughputLevel}
	}
	if fields["is_official_business_account"] {
		m["is_official_business_account"] = n.IsOfficialBusinessAccount
	}
	if fields["health_status"] {
		m["health_status"] = s.numberHealthLocked(ns)
	}
	if fields["is_on_biz_app"] {
		m["is_on_biz_app"] = n.IsOnBizApp
	}
	if fields["webhook_configuration"] {
		m["webhook_configuration"] = s.webhookConfigurationLocked(ns)
	}
	return m
}

// webhookConfigurationLocked is the phone number's webhook_configuration: where its
// webhooks go, with a key only for each destination that is set, as shown on
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/override
func (s *Server) webhookConfigurationLocked(ns *numState) map[string]string {
	cfg := map[string]string{}
	if s.app.url != "" {
		cfg["application"] = s.app.url
	}
	if sub := ns.biz.sub; sub != nil && sub.OverrideCallbackURI != "" {
		cfg["whatsapp_business_account"] = sub.OverrideCallbackURI
	}
	if ns.overrideURI != "" {
		cfg["phone_number"] = ns.overrideURI
	}
	return cfg
}

func (s *Server) businessNodeLocked(bs *bizState, fields map[string]bool) map[string]any {
	m := map[string]any{"id": bs.b.WABAID}
	if fields["name"] && bs.b.Name != "" {
		m["name"] = bs.b.Name
	}
	if fields["health_status"] {
		m["health_status"] = s.businessHealthLocked(bs)
	}
	if fields["account_review_status"] {
		m["account_review_status"] = cmp.Or(bs.reviewStatus, "APPROVED")
	}
	if fields["owner_business_info"] && bs.b.BusinessID != "" {
		m["owner_business_info"] = map[string]string{"id": bs.b.BusinessID, "name": bs.b.Name}
	}
	return m
}

// Cursors are opaque to clients, as Meta's are; inside they hold a position in the
// WABA's insertion-ordered list.
func encodeCursor(i int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("graphsim:" + strconv.Itoa(i)))
}

func decodeCursor(c string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	v, found := strings.CutPrefix(string(raw), "graphsim:")
	if !found {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	return i, err == nil && i >= 0
}

type pageCursors struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

type paging struct {
	Cursors  pageCursors `json:"cursors"`
	Next     string      `json:"next,omitempty"`
	Previous string      `json:"previous,omitempty"`
}

type listPage struct {
	Data   []map[string]any `json:"data"`
	Paging *paging          `json:"paging,omitempty"`
}

func (s *Server) listNumbersLocked(bs *bizState, r *http.Request, q url.Values) result {
	limit := DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return s.failed(errParam("Param limit must be a positive integer", ""))
		}
		limit = min(n, MaxPageSize)
	}
	total := len(bs.numbers)
	start, end := 0, min(limit, total)
	switch {
	case q.Get("after") != "":
		i, valid := decodeCursor(q.Get("after"))
		if !valid {
			return s.failed(errParam("Invalid cursor: after", ""))
		}
		start = min(i+1, total)
		end = min(start+limit, total)
	case q.Get("before") != "":
		i, valid := decodeCursor(q.Get("before"))
		if !valid {
			return s.failed(errParam("Invalid cursor: before", ""))
		}
		end = min(i, total)
		start = max(0, end-limit)
	}
	fields, f, valid := phoneNumberNode.selectFields(q.Get("fields"), s.retiredFields)
	if !valid {
		return s.failed(f)
	}
	page := listPage{Data: make([]map[string]any, 0, end-start)}
	for _, ns := range bs.numbers[start:end] {
		page.Data = append(page.Data, s.numberNodeLocked(ns, fields))
	}
	if end > start {
		p := &paging{Cursors: pageCursors{Before: encodeCursor(start), After: encodeCursor(end - 1)}}
		link := func(key, cursor string) string {
			lq := url.Values{}
			for k, v := range q {
				if k != "after" && k != "before" && k != "access_token" {
					lq[k] = v
				}
			}
			lq.Set("limit", strconv.Itoa(limit))
			lq.Set(key, cursor)
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			return scheme + "://" + r.Host + requestPath(r) + "?" + lq.Encode()
		}
		if end < total {
			p.Next = link("after", p.Cursors.After)
		}
		if start > 0 {
			p.Previous = link("before", p.Cursors.Before)
		}
		page.Paging = p
	}
	return ok(page)
}

func (s *Server) subscribedAppsLocked(bs *bizState) result {
	type apiData struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Link string `json:"link"`
	}
	type app struct {
		Data                apiData `json:"whatsapp_business_api_data"`
		OverrideCallbackURI string  `json:"override_callback_uri,omitempty"`
	}
	data := []app{}
	if bs.sub != nil {
		data = append(data, app{
			Data: apiData{
				ID:   s.appID,
				Name: AppName,
				Link: "https://www.facebook.com/games/?app_id=" + s.appID,
			},
			OverrideCallbackURI: bs.sub.OverrideCallbackURI,
		})
	}
	return ok(map[string]any{"data": data})
}
