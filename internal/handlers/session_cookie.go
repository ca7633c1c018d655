package handlers

import (
	"encoding/json"
	"fmt"

	"github.com/gorilla/securecookie"
)

// sessionCookieValues is what the session cookie holds, as JSON inside securecookie's
// signed and encrypted value. It replaces securecookie's default gob encoding, which
// sends the description of map[any]any with every cookie and compiles a decoder for
// it on every request: about a tenth of a logged-in page's CPU.
type sessionCookieValues struct {
	Session    string `json:"s,omitempty"`
	AccountID  int64  `json:"a,omitempty"`
	Flash      string `json:"f,omitempty"`
	FlashError bool   `json:"e,omitempty"`
}

// sessionCookieSerializer turns the session's values (the cookie* keys of session.go,
// each with its one type) into sessionCookieValues and back. A cookie written before
// it (gob) is still read, so nobody is logged out by an upgrade.
type sessionCookieSerializer struct{}

func (sessionCookieSerializer) Serialize(src any) ([]byte, error) {
	values, ok := src.(map[any]any)
	if !ok {
		return nil, fmt.Errorf("session cookie: cannot hold a %T", src)
	}
	var v sessionCookieValues
	for key, val := range values {
		var ok bool
		switch key {
		case cookieSessionToken:
			v.Session, ok = val.(string)
		case cookieAccountID:
			v.AccountID, ok = val.(int64)
		case cookieFlash:
			v.Flash, ok = val.(string)
		case cookieFlashError:
			v.FlashError, ok = val.(bool)
		}
		if !ok {
			return nil, fmt.Errorf("session cookie: no room for %v = %T", key, val)
		}
	}
	return json.Marshal(v)
}

func (sessionCookieSerializer) Deserialize(src []byte, dst any) error {
	values, ok := dst.(*map[any]any)
	if !ok {
		return fmt.Errorf("session cookie: cannot fill a %T", dst)
	}
	var v sessionCookieValues
	if err := json.Unmarshal(src, &v); err != nil {
		return securecookie.GobEncoder{}.Deserialize(src, dst)
	}
	if *values == nil {
		*values = map[any]any{}
	}
	m := *values
	if v.Session != "" {
		m[cookieSessionToken] = v.Session
	}
	if v.AccountID != 0 {
		m[cookieAccountID] = v.AccountID
	}
	if v.Flash != "" {
		m[cookieFlash] = v.Flash
		m[cookieFlashError] = v.FlashError
	}
	return nil
}
