// Package egress is the host-side HTTP client a sandboxed guest uses for
// outbound requests. Every request, and every redirect it follows, is checked
// against the call's capability.HTTPRule allowlist and against the addresses
// its host resolves to; secrets are filled into headers host-side only; time
// and response size are capped.
//
// The package imports nothing of the engine, so it can be used and tested
// alone.
package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// Config configures a Client. The zero Config is usable: it resolves with
// the system resolver, has no secrets, and uses the defaults below.
type Config struct {
	// Timeout bounds a whole request, redirects and the body read included.
	// Zero means 10s.
	Timeout time.Duration
	// MaxBodyBytes caps a response body; a larger body is an UpstreamError
	// with Code "too_large", never a truncated success. Zero means 1 MiB.
	MaxBodyBytes int64
	// MaxRequestBytes caps a request body; a larger body is Denied. Zero
	// means 1 MiB.
	MaxRequestBytes int64
	// MaxRedirects is how many redirects a request may follow. Zero means 5;
	// a negative value means redirects are not followed and the 3xx response
	// is returned as it is.
	MaxRedirects int
	// Secrets maps a name to its value. A request header value may hold
	// "{{secret:NAME}}", which is replaced host-side when the matched rule
	// lists NAME. Names are letters, digits, '_', '.' and '-'; values are
	// non-empty UTF-8, without control characters. Nil means no secrets.
	//
	// Every string the Client returns has each value replaced by
	// "[redacted]": as it is; escaped for URLs, JSON, Go strings or HTML,
	// whichever characters the encoder escapes; and, for values of 5 bytes
	// or more, in hex and in base64 (either alphabet, padded or not, at any
	// offset in a 3-byte group, with every character that holds a bit of the
	// value). Only whole values are replaced; an upstream that transforms a
	// value otherwise (cuts, splits, reverses or encrypts it) is not caught.
	Secrets map[string]string
	// Resolver returns the addresses of a host name. Nil means
	// net.DefaultResolver.LookupNetIP with network "ip".
	Resolver func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Client performs the outbound requests of guests. It is safe for
// concurrent use by many calls with different rules.
//
// Connections are reused, which is safe because the check that matters for
// a connection happens when it is dialed: the dialer resolves the host once,
// refuses private addresses, and connects to the address it checked. A
// Client has two transports, one whose dialer refuses private addresses and
// one for rules with AllowPrivate; each keeps its pool keyed by scheme and
// host:port, so a request only ever reuses a connection that was checked
// under the same address rule for the same host and port. The per-request
// checks (URL, method, secrets) run for every request, new connection or not.
type Client struct {
	timeout         time.Duration
	maxBody         int64
	maxRequest      int64
	maxRedirects    int
	secrets         map[string]string
	redactor        *redactor // nil without secrets
	nameRedactor    *redactor // the same, blind to case, for header names
	public, private *http.Transport
}

// New returns a Client for cfg, or a *ConfigError. Call Close when done with
// it.
func New(cfg Config) (*Client, error) {
	c := &Client{
		timeout:      orDefault(cfg.Timeout, 10*time.Second),
		maxBody:      orDefault(cfg.MaxBodyBytes, 1<<20),
		maxRequest:   orDefault(cfg.MaxRequestBytes, 1<<20),
		maxRedirects: orDefault(cfg.MaxRedirects, 5),
		secrets:      make(map[string]string, len(cfg.Secrets)),
	}
	switch {
	case cfg.Timeout < 0:
		return nil, &ConfigError{Field: "Timeout", Err: ErrNegative}
	case cfg.MaxBodyBytes < 0:
		return nil, &ConfigError{Field: "MaxBodyBytes", Err: ErrNegative}
	case cfg.MaxRequestBytes < 0:
		return nil, &ConfigError{Field: "MaxRequestBytes", Err: ErrNegative}
	}
	for name, value := range cfg.Secrets {
		if err := checkSecret(name, value); err != nil {
			return nil, &ConfigError{Field: fmt.Sprintf("Secrets[%s]", name), Err: err}
		}
		c.secrets[name] = value
	}
	values := slices.Collect(maps.Values(c.secrets))
	c.redactor, c.nameRedactor = newRedactor(values, false), newRedactor(values, true)
	resolve := cfg.Resolver
	if resolve == nil {
		resolve = defaultResolve
	}
	c.public = c.newTransport(&dialer{resolve: resolve, timeout: c.timeout})
	c.private = c.newTransport(&dialer{resolve: resolve, allowPrivate: true, timeout: c.timeout})
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (c *Client) newTransport(d *dialer) *http.Transport {
	return &http.Transport{
		Proxy:                  nil, // never a proxy from the environment
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    c.timeout,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true, // the guest gets the bytes the upstream sent
	}
}

// Close closes the idle connections of c. Requests in flight go on; cancel
// their contexts to stop them.
func (c *Client) Close() {
	c.public.CloseIdleConnections()
	c.private.CloseIdleConnections()
}

// Request is an outbound request as a guest asks for it.
//
// Header values may hold {{secret:NAME}} (URL and body never are filled in).
// Headers that belong to the connection or the framing of the message —
// Host, Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
// Content-Length, Expect, HTTP2-Settings and every Proxy-* — are refused,
// not dropped, so the guest learns why; so are names given twice in
// different case and values with control characters. CONNECT and TRACE are
// refused too.
type Request struct {
	Method  string // empty means GET; case does not matter
	URL     string // absolute http or https URL
	Headers map[string]string
	Body    string
}

// Response is the upstream's answer to a Request.
type Response struct {
	Status  int
	Headers map[string]string // canonical keys, first value only
	Body    string
	URL     string // the final URL after redirects, redacted
	Bytes   int64  // length of the body as received, before redaction
}

// Do performs req if rules, the HTTP rules of the calling guest's capability,
// allow it, following redirects; no rules allow nothing. A refusal is a
// *Denied, whose Reason is for people; any other failure is an
// *UpstreamError. Neither, nor Response.URL, holds a secret value: header
// names and values, body and the final URL of the response have every secret
// value of c replaced by "[redacted]", in case the upstream echoes one, as it
// is or encoded as Config.Secrets describes.
//
// Do redacts whole strings and never cuts one first: a body over
// MaxBodyBytes is an error, not a shorter body. So a cut made later, such as
// an event's size cap, can cut the marker but never leaves the start of a
// secret value.
func (c *Client) Do(ctx context.Context, rules []capability.HTTPRule, req Request) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := c.newRequest(ctx, req)
	if err != nil {
		return Response{}, err
	}
	hc := &http.Client{Transport: &hop{c: c, rules: rules}, CheckRedirect: c.checkRedirect}
	resp, err := hc.Do(hreq)
	if err != nil {
		return Response{}, c.failure(ctx, hreq.URL.String(), err)
	}
	defer resp.Body.Close()

	final := c.Redact(resp.Request.URL.String())
	if resp.ContentLength > c.maxBody {
		return Response{}, c.upstream(CodeTooLarge, final, ErrTooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return Response{}, c.failure(ctx, final, fmt.Errorf("reading body: %w", err))
	}
	if int64(len(body)) > c.maxBody {
		return Response{}, c.upstream(CodeTooLarge, final, ErrTooLarge)
	}
	headers := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		if len(vs) > 0 {
			headers[c.nameRedactor.Redact(http.CanonicalHeaderKey(k))] = c.scrub(vs[0])
		}
	}
	return Response{
		Status:  resp.StatusCode,
		Headers: headers,
		Body:    c.scrub(string(body)),
		URL:     final,
		Bytes:   int64(len(body)),
	}, nil
}

// newRequest checks what can be checked of req before any rule: the method,
// the URL's form, the headers and the body size.
func (c *Client) newRequest(ctx context.Context, req Request) (*http.Request, error) {
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := capability.NormalizeURL(req.URL)
	if err != nil {
		return nil, c.denied(req.URL, urlReason(err))
	}
	switch {
	case !validToken(method):
		return nil, c.denied(u.String(), fmt.Sprintf("method %q is invalid", req.Method))
	case method == http.MethodConnect || method == http.MethodTrace:
		return nil, c.denied(u.String(), fmt.Sprintf("method %s is not supported", method))
	case int64(len(req.Body)) > c.maxRequest:
		return nil, c.denied(u.String(), fmt.Sprintf("request body of %d bytes is over the limit of %d", len(req.Body), c.maxRequest))
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(req.Body))
	if err != nil {
		return nil, c.denied(u.String(), urlReason(err))
	}
	for name, value := range req.Headers {
		if reason := checkHeader(name, value); reason != "" {
			return nil, c.denied(u.String(), reason)
		}
		key := http.CanonicalHeaderKey(name)
		if _, dup := hreq.Header[key]; dup {
			return nil, c.denied(u.String(), fmt.Sprintf("header %s is given twice", key))
		}
		hreq.Header.Set(key, value)
	}
	return hreq, nil
}

func (c *Client) checkRedirect(_ *http.Request, via []*http.Request) error {
	switch {
	case c.maxRedirects < 0:
		return http.ErrUseLastResponse
	case len(via) > c.maxRedirects:
		return ErrTooManyRedirects
	}
	return nil
}

// failure turns an error of http.Client into a *Denied or an *UpstreamError.
func (c *Client) failure(ctx context.Context, rawURL string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		rawURL, err = ue.URL, ue.Err
	}
	var d *Denied
	if errors.As(err, &d) {
		if d.URL == "" { // from the dialer, which knows no URL and names the host
			d.URL, d.Reason = c.Redact(rawURL), c.scrub(d.Reason)
		}
		return d
	}
	code := CodeFailed
	switch {
	case errors.Is(err, ErrTooManyRedirects):
		code = CodeTooManyRedirects
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		code, err = CodeTimeout, ctx.Err()
	case ctx.Err() != nil:
		code, err = CodeCanceled, ctx.Err()
	}
	return c.upstream(code, c.Redact(rawURL), err)
}

func (c *Client) denied(rawURL, reason string) *Denied {
	return &Denied{URL: c.Redact(rawURL), Reason: c.scrub(reason)}
}

func (c *Client) upstream(code, redactedURL string, err error) *UpstreamError {
	e := &UpstreamError{Code: code, URL: redactedURL, Err: err}
	e.msg = c.scrub(e.Error())
	return e
}

var (
	_ http.RoundTripper = (*hop)(nil)
	_ error             = (*Denied)(nil)
	_ error             = (*UpstreamError)(nil)
	_ error             = (*ConfigError)(nil)
)
