package lrohttp

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"google.golang.org/grpc/codes"
)

// CheckHost returns a handler that passes to next only the requests whose
// Host header names this server: an IP address, localhost (or a name under
// .localhost), or one of allowed (case-insensitive, without a port; "*"
// allows every name). Any other request is refused with 403
// PERMISSION_DENIED, reason HOST_NOT_ALLOWED, in Google's JSON error format.
//
// It defeats DNS rebinding: a web page served from a name its author
// controls, which then resolves that name to the address of a server on
// the visitor's machine or network, can make the visitor's browser send
// requests to that server and read the answers; but the browser sends the
// page's name as the Host, which is not one of the server's. An IP address
// as the Host cannot be rebound, and browsers resolve localhost
// themselves. Names that clients (or a proxy in front of the server) use to
// reach it go in allowed.
func CheckHost(next http.Handler, allowed []string) http.Handler {
	c := &hostChecker{next: next, allowed: map[string]bool{}}
	for _, name := range allowed {
		name = normalizeHost(name)
		if name == "*" {
			c.any = true
		}
		c.allowed[name] = true
	}
	return c
}

type hostChecker struct {
	next    http.Handler
	allowed map[string]bool
	any     bool
}

func (c *hostChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.any || c.allows(r.Host) {
		c.next.ServeHTTP(w, r)
		return
	}
	name := hostName(r.Host)
	writeError(w, http.StatusForbidden, errorStatus(codes.PermissionDenied, "HOST_NOT_ALLOWED",
		fmt.Sprintf("this server does not answer for host %q: use its IP address or localhost, or add the name to the server's allowed hosts (lro serve --allowed-host NAME)", name)))
}

// allows reports whether the Host header host names this server. An empty
// Host (HTTP/1.0, which no browser sends) is allowed.
func (c *hostChecker) allows(host string) bool {
	if host == "" {
		return true
	}
	name := hostName(host)
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	name = normalizeHost(name)
	return name == "localhost" || strings.HasSuffix(name, ".localhost") || c.allowed[name]
}

// hostName is the name or address of a Host header, without its port or
// an IPv6 address's brackets.
func hostName(host string) string {
	if name, _, err := net.SplitHostPort(host); err == nil {
		return name
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// normalizeHost lowers a name and drops the final dot of a fully qualified
// one.
func normalizeHost(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
