// Package auth authenticates the callers of the HTTP API: it verifies their
// JWTs against a configured key source (an HS256 secret, a PEM public key or
// a JWKS URL), finds the token in a request, mints and checks the short-lived
// stream tickets that let an EventSource reconnect without a JWT in its URL,
// and mints development tokens.
//
// Authentication happens once per request, before the first byte of a
// response (docs/design.md §2, invariant 1). An Identity carries the expiry of the
// viewer's credential, so a stream can tell its subscriber when that
// credential runs out without ever re-authenticating it (invariant 7).
//
// The package does not log. Every refusal is an error wrapping
// ErrUnauthenticated; the wrapped reason is for logs only and must never
// reach the client.
package auth

import "errors"

// ErrUnauthenticated is wrapped by every refusal of a token or a ticket. The
// error chain names the check that failed, for logs; clients only ever learn
// that authentication failed.
var ErrUnauthenticated = errors.New("auth: unauthenticated")

// ErrNotReady is wrapped by Ready while no verification key is available,
// for example while a JWKS endpoint has not yet answered.
var ErrNotReady = errors.New("auth: no verification keys available")

// ErrUnsupportedKey is wrapped by Mint and ParsePrivateKeyPEM when given a
// key they cannot sign with.
var ErrUnsupportedKey = errors.New("auth: unsupported key")

// ConfigError reports a Config that New refuses. Field names the Config
// field at fault, or is empty when the fault lies between fields.
type ConfigError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "auth: invalid config: " + e.Err.Error()
	}
	return "auth: invalid config: " + e.Field + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }
