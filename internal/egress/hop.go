package egress

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/capstream/capstream/internal/capability"
)

// hop is the http.RoundTripper of one call. http.Client hands it every
// request of the call, the first and each redirect, so every one is checked
// in this one place: it normalizes the URL, matches it against the rules,
// fills in the secrets the matched rule grants, and sends exactly the URL it
// checked on the transport whose dialer enforces the rule's address check.
type hop struct {
	c     *Client
	rules []capability.HTTPRule
}

func (h *hop) RoundTrip(req *http.Request) (*http.Response, error) {
	out, t, err := h.check(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.RoundTrip(out)
}

func (h *hop) check(req *http.Request) (*http.Request, http.RoundTripper, error) {
	u, err := capability.NormalizeURL(req.URL.String())
	if err != nil {
		return nil, nil, h.c.denied(req.URL.String(), urlReason(err))
	}
	rule, reason := capability.MatchHTTP(h.rules, req.Method, u)
	if rule == nil {
		return nil, nil, h.c.denied(u.String(), reason)
	}
	out := req.Clone(req.Context()) // with a deep copy of the header: the guest's stays a template
	out.URL, out.Host = u, ""
	for _, vs := range out.Header {
		for i, v := range vs {
			if vs[i], reason = h.c.fillSecrets(v, rule); reason != "" {
				return nil, nil, h.c.denied(u.String(), reason)
			}
		}
	}
	if rule.AllowPrivate {
		return out, h.c.private, nil
	}
	return out, h.c.public, nil
}

// urlReason describes a URL NormalizeURL refused without repeating the URL,
// whose query may hold what events must not show.
func urlReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return "parsing url: " + ue.Err.Error()
	}
	return err.Error()
}

// refusedHeaders are request headers a guest may not set: they belong to the
// connection or to the framing of the message, which the host owns. A
// request that sets one is refused rather than silently changed, so the
// guest learns why. Proxy-* headers are refused too.
var refusedHeaders = map[string]bool{
	"Connection":        true,
	"Content-Length":    true,
	"Expect":            true,
	"Host":              true,
	"Http2-Settings":    true,
	"Keep-Alive":        true,
	"Te":                true,
	"Trailer":           true,
	"Transfer-Encoding": true,
	"Upgrade":           true,
}

// checkHeader returns why a guest may not send header name: value, or "".
func checkHeader(name, value string) string {
	key := http.CanonicalHeaderKey(name)
	switch {
	case !validToken(name):
		return fmt.Sprintf("header name %q is invalid", name)
	case refusedHeaders[key] || strings.HasPrefix(key, "Proxy-"):
		return fmt.Sprintf("header %s is set by the host, not the guest", key)
	case !validHeaderValue(value):
		return fmt.Sprintf("header %s has control characters in its value", key)
	}
	return ""
}

// validToken reports whether s is an RFC 9110 token: a method or header name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v has no control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}
