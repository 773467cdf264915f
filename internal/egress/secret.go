package egress

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/capstream/capstream/internal/capability"
)

// redacted stands in for a secret value in everything that leaves the host.
const redacted = "[redacted]"

var (
	// placeholder is a secret reference in a request header value.
	placeholder = regexp.MustCompile(`\{\{secret:([^{}]*)\}\}`)
	secretName  = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// fillSecrets replaces each {{secret:NAME}} in v with the value of NAME, if
// rule grants NAME. It returns a reason for people when it does not; the
// reason names the secret, never its value.
func (c *Client) fillSecrets(v string, rule *capability.HTTPRule) (string, string) {
	ms := placeholder.FindAllStringSubmatchIndex(v, -1)
	if ms == nil {
		return v, ""
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		name := v[m[2]:m[3]]
		if !slices.Contains(rule.Secrets, name) {
			return "", fmt.Sprintf("secret %q is not granted for this url", name)
		}
		value, ok := c.secrets[name]
		if !ok {
			return "", fmt.Sprintf("secret %q is not configured on this host", name)
		}
		b.WriteString(v[last:m[0]])
		b.WriteString(value)
		last = m[1]
	}
	b.WriteString(v[last:])
	return b.String(), ""
}

// Redact returns rawURL without user info, query and fragment, and with every
// secret value of c replaced by "[redacted]": the form of a URL for events
// and logs. A URL that does not parse is returned as "[invalid url]".
func (c *Client) Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "[invalid url]"
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	if p := c.scrub(u.Path); p != u.Path {
		// Replaced in the decoded path, a value is found however the URL
		// encodes it; the marker is kept readable, not percent-encoded.
		u.Path, u.RawPath = p, ""
		u.RawPath = strings.ReplaceAll(u.EscapedPath(), url.PathEscape(redacted), redacted)
	}
	return c.scrub(u.String())
}

// scrub replaces every secret value of c in s, in every form the redactor
// knows, with "[redacted]".
func (c *Client) scrub(s string) string {
	return c.redactor.Redact(s)
}

// checkSecret reports why a configured secret is unusable, or nil.
func checkSecret(name, value string) error {
	switch {
	case !secretName.MatchString(name):
		return fmt.Errorf("%w: name must be letters, digits, '_', '.' or '-'", ErrBadSecret)
	case value == "":
		return fmt.Errorf("%w: empty value", ErrBadSecret)
	case !validHeaderValue(value):
		return fmt.Errorf("%w: value has control characters", ErrBadSecret)
	case !utf8.ValidString(value):
		// JSON encoders replace such bytes, and the value could no longer
		// be found to be redacted.
		return fmt.Errorf("%w: value is not valid UTF-8", ErrBadSecret)
	}
	return nil
}
