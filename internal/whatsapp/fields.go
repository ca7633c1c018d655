package whatsapp

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// fieldList is one Client's copy of PhoneNumberFields, less the fields Meta has said it
// no longer knows. Meta refuses a whole request that names one unknown field
// ("(#100) Tried accessing nonexisting field (X) on node type (Y)", HTTP 400, code
// 100) — the failure the Java Business SDK hit when Meta retired a field its list
// still named (https://github.com/facebook/facebook-java-business-sdk/issues/351) —
// so a retired field must be dropped rather than blank every health check.
type fieldList struct {
	mu     sync.Mutex
	fields []string
}

func newFieldList(csv string) *fieldList {
	return &fieldList{fields: strings.Split(csv, ",")}
}

// query is the list as the fields parameter.
func (l *fieldList) query() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.fields, ",")
}

// drop removes field and reports whether this call removed it, so that only one of
// several concurrent requests refused for the same field logs the drop.
func (l *fieldList) drop(field string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.fields, field)
	if i < 0 {
		return false
	}
	l.fields = slices.Delete(l.fields, i, i+1)
	return true
}

// undroppableFields are never dropped: without an id a node cannot be matched, so a
// refusal naming it is a real error, not a retired field.
var undroppableFields = []string{"id"}

var nonexistingFieldPattern = regexp.MustCompile(`Tried accessing nonexisting field \(([A-Za-z0-9_]+)\)`)

// nonexistingField returns the field Meta refused err for, if err is that refusal.
func nonexistingField(err error) (string, bool) {
	ge, ok := errors.AsType[*GraphError](err)
	if !ok || ge.HTTPStatus != 400 || ge.Code != 100 {
		return "", false
	}
	m := nonexistingFieldPattern.FindStringSubmatch(ge.Message)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// withPhoneFields runs do with the client's current phone-number field list. When Meta
// refuses a field the request named, the field is dropped for the rest of the client's
// life, logged once at Warn, and do runs again at once without it. Every retry removes
// one field, so there are at most as many as the list had fields.
func (c *Client) withPhoneFields(ctx context.Context, do func(fields string) error) error {
	for {
		fields := c.phoneFields.query()
		err := do(fields)
		field, refused := nonexistingField(err)
		if !refused || slices.Contains(undroppableFields, field) || !slices.Contains(strings.Split(fields, ","), field) {
			// Not a refused field, or one this request did not name: retrying without
			// it would change nothing.
			return err
		}
		if c.phoneFields.drop(field) {
			c.log.LogAttrs(ctx, slog.LevelWarn, "whatsapp graph field dropped: Meta no longer knows it",
				slog.String("field", field))
		}
	}
}
