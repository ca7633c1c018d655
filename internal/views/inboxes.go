package views

import (
	"sort"
	"time"

	"github.com/a-h/templ"
)

// problemKeys lists the parameters with a problem in a fixed order.
func problemKeys(problems map[string]string) []string {
	keys := make([]string, 0, len(problems))
	for k := range problems {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// problemAttrs marks a field whose value was not understood as invalid and ties it to
// the message saying why (nothing when it was understood).
func problemAttrs(problems map[string]string, key string) templ.Attributes {
	if problems[key] == "" {
		return templ.Attributes{}
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": "problem-" + key}
}

// isoTime is a time for a <time datetime> attribute.
func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
