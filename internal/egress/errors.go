package egress

import (
	"errors"
	"fmt"
)

// Sentinel errors, found with errors.Is in an *UpstreamError or a *ConfigError.
var (
	// ErrTooLarge means the response body is larger than Config.MaxBodyBytes.
	ErrTooLarge = errors.New("egress: response body too large")
	// ErrTooManyRedirects means the upstream redirected more than Config.MaxRedirects times.
	ErrTooManyRedirects = errors.New("egress: too many redirects")
	// ErrNegative means a Config size or duration is negative.
	ErrNegative = errors.New("egress: negative value")
	// ErrBadSecret means a Config secret name or value is unusable.
	ErrBadSecret = errors.New("egress: bad secret")
)

// Codes of an UpstreamError: stable, for events and metrics.
const (
	CodeTimeout          = "timeout"            // Config.Timeout or the caller's deadline passed
	CodeCanceled         = "canceled"           // the caller's context was canceled
	CodeTooLarge         = "too_large"          // response body larger than Config.MaxBodyBytes
	CodeTooManyRedirects = "too_many_redirects" // more than Config.MaxRedirects redirects
	CodeFailed           = "failed"             // anything else: resolving, connecting, TLS, protocol
)

// Denied is a request the rules or the address check refuse. It is data for
// the guest, not a failure of the host.
type Denied struct {
	URL    string // the refused URL, redacted
	Reason string // for people; never holds a secret value
}

func (d *Denied) Error() string {
	if d.URL == "" {
		return "egress: denied: " + d.Reason
	}
	return fmt.Sprintf("egress: denied %s: %s", d.URL, d.Reason)
}

// UpstreamError is an allowed request that failed: the upstream could not be
// reached, was too slow, or answered too much.
type UpstreamError struct {
	Code string // one of the Code constants
	URL  string // the URL that failed, redacted
	Err  error  // the cause, for errors.Is and errors.As; its text may hold what the upstream sent, unredacted: show Error

	msg string // Error's text, with secret values redacted
}

func (e *UpstreamError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("egress: %s: %s: %v", e.Code, e.URL, e.Err)
}

// Unwrap returns the cause.
func (e *UpstreamError) Unwrap() error { return e.Err }

// ConfigError is an invalid Config, returned by New.
type ConfigError struct {
	Field string // the Config field, e.g. "Secrets[API_KEY]"
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("egress: config %s: %v", e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }
