package alerts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Where alerts may be sent. A destination URL is typed by an administrator and then
// called by this server, so it must not become a way to reach what only the server
// can reach (SSRF): cloud metadata services (169.254.169.254), the admin ports of
// other services on the host, the private network behind it.
//
// The rules, checked when a destination is saved and again on every connection (the
// address a name resolves to can change after the check):
//   - https only; http only to a loopback address, and only where loopback is allowed;
//   - no user name or password in the URL;
//   - never to link-local (169.254.0.0/16, fe80::/10: metadata services live there),
//     unspecified, multicast or broadcast addresses;
//   - loopback (127.0.0.0/8, ::1) only when AllowLoopback (demo mode and tests, where
//     the receiver runs on the same machine);
//   - private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) only when
//     AllowPrivate (ALERT_ALLOW_PRIVATE_DESTINATIONS=1, for a chat server inside the
//     operator's own network);
//   - redirects are not followed (a redirect could point anywhere).

// URLPolicy says which destination URLs are allowed.
type URLPolicy struct {
	AllowLoopback bool
	AllowPrivate  bool
}

// ErrDestinationRefused is wrapped by every refusal of a destination address.
var ErrDestinationRefused = errors.New("destination refused")

// CheckURL validates a destination URL as typed; the error says what to change.
func (p URLPolicy) CheckURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %q is not a URL like https://hooks.example.com/path", ErrDestinationRefused, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: put no user name or password in the URL", ErrDestinationRefused)
	}
	host := u.Hostname()
	addr, ipErr := netip.ParseAddr(host)
	isIP := ipErr == nil
	loopbackHost := strings.EqualFold(host, "localhost") || (isIP && addr.IsLoopback())
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost || !p.AllowLoopback {
			return nil, fmt.Errorf("%w: use an https:// URL", ErrDestinationRefused)
		}
	default:
		return nil, fmt.Errorf("%w: use an https:// URL", ErrDestinationRefused)
	}
	if strings.EqualFold(host, "localhost") && !p.AllowLoopback {
		return nil, fmt.Errorf("%w: this server does not send alerts to itself (localhost)", ErrDestinationRefused)
	}
	if isIP {
		if err := p.checkAddr(addr); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// checkAddr refuses an address the policy does not allow.
func (p URLPolicy) checkAddr(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		if p.AllowLoopback {
			return nil
		}
		return fmt.Errorf("%w: %s is a loopback address", ErrDestinationRefused, a)
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsUnspecified(), a.IsMulticast(),
		a.IsInterfaceLocalMulticast(), a == netip.MustParseAddr("255.255.255.255"), !a.IsValid():
		return fmt.Errorf("%w: %s is not an address alerts may be sent to", ErrDestinationRefused, a)
	case a.IsPrivate() || sharedAddressSpace.Contains(a) || thisNetwork.Contains(a):
		if p.AllowPrivate && !thisNetwork.Contains(a) {
			return nil
		}
		return fmt.Errorf("%w: %s is a private address (set ALERT_ALLOW_PRIVATE_DESTINATIONS=1 to allow them)", ErrDestinationRefused, a)
	}
	return nil
}

var (
	sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT
	thisNetwork        = netip.MustParsePrefix("0.0.0.0/8")
)

// deliveryTimeout bounds one delivery attempt.
const deliveryTimeout = 15 * time.Second

// HTTPClient is the client deliveries use: every connection is checked against the
// policy after the name is resolved, and redirects are answered, not followed.
func (p URLPolicy) HTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrDestinationRefused, address)
		}
		return p.checkAddr(ap.Addr())
	}}
	transport := &http.Transport{
		Proxy: nil, // a proxy would connect on our behalf, past the check
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: deliveryTimeout,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: transport, Timeout: deliveryTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
