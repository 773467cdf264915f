package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// defaultLeeway is the clock skew tolerated on exp, nbf and iat.
const defaultLeeway = 30 * time.Second

// defaultHTTPTimeout bounds each request for a JWKS when Config.HTTPClient
// sets no timeout of its own.
const defaultHTTPTimeout = 10 * time.Second

// maxTokenBytes bounds the size of a token worth parsing.
const maxTokenBytes = 16 << 10

// Config says how an Authenticator verifies tokens. Exactly one of Secret,
// PublicKeyPEM and JWKSURL must be set; it fixes the algorithms a token may
// use, whatever its header says, and `none` is never one of them.
type Config struct {
	// Secret is an HS256 key (from --jwt-secret-file), used as is: a
	// trailing newline is part of it. At least 32 bytes. Only HS256 tokens
	// are accepted.
	Secret []byte
	// PublicKeyPEM (from --jwt-public-key) is an RSA, EC (P-256, P-384,
	// P-521) or Ed25519 public key: PKIX ("PUBLIC KEY"), PKCS #1 ("RSA
	// PUBLIC KEY") or a certificate. RSA keys accept RS256/384/512 and
	// PS256/384/512 and need at least 2048 bits; EC keys accept the one ES
	// algorithm of their curve; Ed25519 keys accept EdDSA.
	PublicKeyPEM []byte
	// JWKSURL (from --jwks-url) is fetched once by New, then refreshed hourly
	// in the background, and again, at most every 30 s, when a token names an
	// unknown key ID. A key accepts the algorithms its type allows (as for
	// PublicKeyPEM) and, if the JWK names an "alg", only that one; keys whose
	// "use" is "enc" are ignored.
	JWKSURL string
	// Issuer, if set, must equal the token's iss claim.
	Issuer string
	// Audience, if set, must be among the token's aud claim.
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero: 30 s.
	Leeway time.Duration
	// HTTPClient fetches the JWKS. Nil: a client of its own, with a 10 s
	// timeout. Its Timeout, if set, also bounds the first fetch in New.
	HTTPClient *http.Client
}

// keySource finds the key that verifies a token, and knows which algorithms
// its keys allow.
type keySource interface {
	algs() []string
	key(tok *jwt.Token) (any, error)
	ready() error
	close()
}

// Authenticator verifies bearer tokens. It is safe for concurrent use. Close
// stops its background work; after Close, Authenticate still verifies with
// the keys it already has, but a JWKS is no longer refreshed.
type Authenticator struct {
	src    keySource
	parser *jwt.Parser
}

// Identity is the verified content of a token.
type Identity struct {
	// Subject is the token's sub claim, never empty.
	Subject string
	// Claims are all the token's claims, owned by the caller.
	Claims jwt.MapClaims
	// ExpiresAt is the token's exp: when a stream authorized by it must tell
	// its viewer that the credential expired (docs/design.md §2, invariant 7).
	ExpiresAt time.Time
}

// New validates cfg and returns an Authenticator. With a JWKSURL it fetches
// the key set once before returning, bounded by ctx and the HTTP timeout; if
// that fails New still succeeds, Ready reports the failure, and the fetch is
// retried in the background with backoff until it succeeds. ctx bounds the
// life of that background work, as Close does. A Config that is refused
// yields a *ConfigError.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	n := 0
	for _, set := range []bool{cfg.Secret != nil, cfg.PublicKeyPEM != nil, cfg.JWKSURL != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, &ConfigError{Err: fmt.Errorf("exactly one of Secret, PublicKeyPEM and JWKSURL must be set, %d are", n)}
	}
	if cfg.Leeway < 0 {
		return nil, &ConfigError{Field: "Leeway", Err: errors.New("negative")}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = defaultLeeway
	}

	var (
		src keySource
		err error
	)
	switch {
	case cfg.Secret != nil:
		src, err = newSecretSource(cfg.Secret)
	case cfg.PublicKeyPEM != nil:
		src, err = newPublicKeySource(cfg.PublicKeyPEM)
	default:
		src, err = newJWKSSource(ctx, cfg.JWKSURL, cfg.HTTPClient)
	}
	if err != nil {
		return nil, err
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(src.algs()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Authenticator{src: src, parser: jwt.NewParser(opts...)}, nil
}

// Authenticate verifies a token: its signature with an algorithm the key
// source allows, exp (required), nbf and iat (not in the future), iss and
// aud when configured, and a non-empty sub. Every refusal wraps
// ErrUnauthenticated; the rest of the message is for logs only.
func (a *Authenticator) Authenticate(token string) (Identity, error) {
	switch {
	case token == "":
		return Identity{}, fmt.Errorf("%w: no token", ErrUnauthenticated)
	case len(token) > maxTokenBytes:
		return Identity{}, fmt.Errorf("%w: token of %d bytes is too large", ErrUnauthenticated, len(token))
	}
	claims := jwt.MapClaims{}
	if _, err := a.parser.ParseWithClaims(token, claims, a.keyfunc); err != nil {
		return Identity{}, fmt.Errorf("%w: verifying token: %w", ErrUnauthenticated, err)
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return Identity{}, fmt.Errorf("%w: reading sub: %w", ErrUnauthenticated, err)
	}
	if sub == "" {
		return Identity{}, fmt.Errorf("%w: token has no sub", ErrUnauthenticated)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil { // the parser requires exp; this is belt and braces
		return Identity{}, fmt.Errorf("%w: token has no exp", ErrUnauthenticated)
	}
	return Identity{Subject: sub, Claims: claims, ExpiresAt: exp.Time}, nil
}

// keyfunc refuses what golang-jwt does not know to refuse, then asks the key
// source.
func (a *Authenticator) keyfunc(tok *jwt.Token) (any, error) {
	if _, ok := tok.Header["crit"]; ok {
		// RFC 7515 §4.1.11: extensions we do not understand must be refused.
		return nil, errors.New(`unsupported "crit" header`)
	}
	return a.src.key(tok)
}

// Ready reports whether verification keys are available: always for a
// secret or a public key; for a JWKS once a fetch has returned at least one
// usable key. Its error wraps ErrNotReady and the last fetch error.
func (a *Authenticator) Ready() error { return a.src.ready() }

// Close stops the background refresh of a JWKS and waits for it. It is safe
// to call more than once.
func (a *Authenticator) Close() { a.src.close() }

// secretSource verifies HS256 tokens with one secret.
type secretSource struct{ secret []byte }

func newSecretSource(secret []byte) (*secretSource, error) {
	if len(secret) < minSecretBytes {
		return nil, &ConfigError{Field: "Secret", Err: fmt.Errorf("%d bytes, at least %d required", len(secret), minSecretBytes)}
	}
	return &secretSource{secret: bytes.Clone(secret)}, nil
}

func (s *secretSource) algs() []string { return []string{"HS256"} }
func (s *secretSource) ready() error   { return nil }
func (s *secretSource) close()         {}

func (s *secretSource) key(tok *jwt.Token) (any, error) {
	if tok.Method.Alg() != "HS256" { // the parser checked; never hand the secret to another method
		return nil, fmt.Errorf("algorithm %s does not fit an HS256 secret", tok.Method.Alg())
	}
	return s.secret, nil
}

// publicKeySource verifies tokens with one public key.
type publicKeySource struct {
	pub       any
	allowAlgs []string
}

func newPublicKeySource(data []byte) (*publicKeySource, error) {
	pub, err := parsePublicKeyPEM(data)
	if err != nil {
		return nil, &ConfigError{Field: "PublicKeyPEM", Err: fmt.Errorf("parsing: %w", err)}
	}
	algs, err := algsFor(pub)
	if err != nil {
		return nil, &ConfigError{Field: "PublicKeyPEM", Err: err}
	}
	return &publicKeySource{pub: pub, allowAlgs: algs}, nil
}

func (s *publicKeySource) algs() []string { return s.allowAlgs }
func (s *publicKeySource) ready() error   { return nil }
func (s *publicKeySource) close()         {}

func (s *publicKeySource) key(tok *jwt.Token) (any, error) {
	if !keyFitsAlg(s.pub, tok.Method.Alg()) {
		return nil, fmt.Errorf("algorithm %s does not fit the %T key", tok.Method.Alg(), s.pub)
	}
	return s.pub, nil
}
