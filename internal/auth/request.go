package auth

import (
	"net/http"
	"strings"
)

// DefaultCookieName is the cookie FromRequest reads when given no name.
const DefaultCookieName = "capstream_token"

// Where FromRequest found a token.
const (
	SourceHeader = "header" // Authorization: Bearer
	SourceCookie = "cookie"
)

// FromRequest finds the bearer token of a request and says where it found
// it: in the Authorization header ("Bearer", any case), or, only when
// allowCookie is set (GET endpoints; POST and DELETE must not, against
// CSRF), in the cookie cookieName ("" for DefaultCookieName). A header of
// another scheme is ignored; a request with several Authorization headers
// has no token. The query string is never
// read: a JWT never goes in a URL (stream tickets are checked by Tickets).
// It returns "", "" when there is no token.
func FromRequest(r *http.Request, allowCookie bool, cookieName string) (token, source string) {
	switch h := r.Header.Values("Authorization"); len(h) {
	case 0:
	case 1:
		if t, ok := bearer(h[0]); ok {
			return t, SourceHeader
		}
	default:
		return "", ""
	}
	if !allowCookie {
		return "", ""
	}
	if cookieName == "" {
		cookieName = DefaultCookieName
	}
	if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
		return c.Value, SourceCookie
	}
	return "", ""
}

// bearer returns the token of an Authorization header value of the Bearer
// scheme (RFC 6750 §2.1).
func bearer(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimLeft(h, " \t"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	t := strings.Trim(rest, " \t")
	if t == "" || strings.ContainsAny(t, " \t") {
		return "", false
	}
	return t, true
}
