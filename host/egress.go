package host

import (
	"context"

	"github.com/capstream/capstream/internal/egress"
)

// Egress performs the guest's outbound HTTP (the http host function), as
// the engine sees it. capstream serve's is internal/egress's Client: an
// allowlist checked on every request and redirect, private addresses
// refused at dial time, secrets filled in host-side and redacted from what
// comes back. A program that embeds the engine may give its own, such as
// one that answers from fixtures.
//
// The engine emits an http event for every request, with the request's
// URL and the response's final URL passed through Redact, and turns Do's
// result into the ABI's: a response, a refusal as data (denied), or an
// upstream failure.
type Egress interface {
	// Do performs req if rules, the call's capability's HTTP rules,
	// allow it; no rules allow nothing. A refusal is an error wrapping
	// an *HTTPDenied, whose Reason the guest and the event show; any
	// other error is an upstream failure, whose text they show. Neither
	// text, nor anything in the response, may hold a secret.
	Do(ctx context.Context, rules []HTTPRule, req HTTPRequest) (HTTPResponse, error)
	// Redact returns rawURL as an event may show it, without secrets.
	Redact(rawURL string) string
}

// The types of Egress.
type (
	// HTTPRequest is a guest's request: method (empty: GET), absolute
	// URL, headers and body.
	HTTPRequest = egress.Request
	// HTTPResponse is the answer: status, headers (first value of each),
	// body, final URL after redirects, and the body's length as received.
	HTTPResponse = egress.Response
	// HTTPDenied is a refusal: the URL refused and why.
	HTTPDenied = egress.Denied
)
