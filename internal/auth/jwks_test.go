package auth

import (
	"crypto"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// jwk is one key a jwksServer publishes.
type jwk struct {
	kid, alg, use string
	pub           crypto.PublicKey
}

// jwksServer serves a JWKS that tests change as they go, and can be down.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	down    atomic.Bool // answer 503
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...jwk) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	if s.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	body := s.body
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// set replaces the published keys.
func (s *jwksServer) set(t *testing.T, keys ...jwk) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.USE(k.use),
		}})
		if err != nil {
			t.Fatalf("making JWK %q: %v", k.kid, err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func (s *jwksServer) url() string { return s.URL + "/.well-known/jwks.json" }

func TestJWKSAcceptsGoodTokens(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t,
		jwk{kid: "rsa", pub: &k.rsa.PublicKey},
		jwk{kid: "rsa-rs512", alg: "RS512", use: "sig", pub: &k.otherRSA.PublicKey},
		jwk{kid: "ec256", pub: &k.p256.PublicKey},
		jwk{kid: "ec384", alg: "ES384", pub: &k.p384.PublicKey},
		jwk{kid: "ed", alg: "EdDSA", use: "sig", pub: k.ed.Public()},
	)
	a := newAuth(t, Config{JWKSURL: srv.url()})
	if err := a.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, k.rsa, "rsa"},
		{"PS384", jwt.SigningMethodPS384, k.rsa, "rsa"},
		{"RS512 named by the JWK", jwt.SigningMethodRS512, k.otherRSA, "rsa-rs512"},
		{"ES256", jwt.SigningMethodES256, k.p256, "ec256"},
		{"ES384", jwt.SigningMethodES384, k.p384, "ec384"},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, "ed"},
		{"EdDSA without kid", jwt.SigningMethodEdDSA, k.ed, ""},
		{"ES256 without kid", jwt.SigningMethodES256, k.p256, ""},
		{"RS256 without kid", jwt.SigningMethodRS256, k.rsa, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Authenticate(sign(t, tt.method, tt.key, tt.kid, validClaims(nil)))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.Subject != "alice" {
				t.Errorf("Subject = %q", id.Subject)
			}
		})
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("%d fetches of the JWKS, want 1", n)
	}
}

func TestJWKSRefusesAttacks(t *testing.T) {
	k := keys()
	rsaPEM := pkixPEM(t, &k.rsa.PublicKey)
	srv := newJWKSServer(t,
		jwk{kid: "rsa", pub: &k.rsa.PublicKey},
		jwk{kid: "rsa-rs256", alg: "RS256", pub: &k.rsa.PublicKey},
		jwk{kid: "ec256", pub: &k.p256.PublicKey},
		jwk{kid: "ed", pub: k.ed.Public()},
		jwk{kid: "enc", use: "enc", pub: &k.otherRSA.PublicKey},
	)
	srv.mu.Lock()
	jwksJSON := srv.body
	srv.mu.Unlock()

	tests := []struct {
		name   string
		reason string
		token  string
	}{
		{"alg none", "signing method none is invalid", forge(`{"alg":"none","kid":"rsa"}`, validClaims(nil), "")},
		{"HS256 keyed with the RSA public key PEM", "signing method HS256 is invalid",
			sign(t, jwt.SigningMethodHS256, rsaPEM, "rsa", validClaims(nil))},
		{"HS256 keyed with the JWKS", "signing method HS256 is invalid",
			sign(t, jwt.SigningMethodHS256, jwksJSON, "rsa", validClaims(nil))},
		{"unknown kid", `"nope"`, sign(t, jwt.SigningMethodRS256, k.otherRSA, "nope", validClaims(nil))},
		{"kid of another key", "verification error", sign(t, jwt.SigningMethodRS256, k.otherRSA, "rsa", validClaims(nil))},
		{"no kid, unknown key", "verification error", sign(t, jwt.SigningMethodES256, k.otherP256, "", validClaims(nil))},
		{"ES256 naming an RSA kid", "does not fit", sign(t, jwt.SigningMethodES256, k.p256, "rsa", validClaims(nil))},
		{"EdDSA naming an EC kid", "does not fit", sign(t, jwt.SigningMethodEdDSA, k.ed, "ec256", validClaims(nil))},
		{"ES384 naming a P-256 kid", "does not fit", sign(t, jwt.SigningMethodES384, k.p384, "ec256", validClaims(nil))},
		{"PS256 where the JWK says RS256", `"alg"`, sign(t, jwt.SigningMethodPS256, k.rsa, "rsa-rs256", validClaims(nil))},
		{"key meant for encryption", "whitelist", sign(t, jwt.SigningMethodRS256, k.otherRSA, "enc", validClaims(nil))},
		{"kid not a string", "not a string", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validClaims(nil))
			tok.Header["kid"] = 7
			s, _ := tok.SignedString(k.ed)
			return s
		}()},
		{"expired", "token is expired", sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", validClaims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		}))},
		{"missing exp", "exp claim is required", sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", validClaims(func(c jwt.MapClaims) {
			delete(c, "exp")
		}))},
		{"wrong aud", "invalid audience", sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", validClaims(func(c jwt.MapClaims) {
			c["aud"] = "other"
		}))},
	}
	a := newAuth(t, Config{JWKSURL: srv.url()})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Authenticate(tt.token)
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", id, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("refused with %q, want the reason %q", err, tt.reason)
			}
		})
	}
	// The unknown kid cost one refetch; every other unknown kid within the
	// rate limit costs none.
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches of the JWKS, want 2", n)
	}
}

func TestJWKSPicksUpRotatedKey(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "2024", pub: &k.rsa.PublicKey})
	a := newAuth(t, Config{JWKSURL: srv.url()})

	if _, err := a.Authenticate(sign(t, jwt.SigningMethodRS256, k.rsa, "2024", validClaims(nil))); err != nil {
		t.Fatalf("Authenticate with the first key: %v", err)
	}
	// The provider publishes a new key, drops the old one, and signs with the new.
	srv.set(t, jwk{kid: "2025", pub: k.ed.Public()})
	if _, err := a.Authenticate(sign(t, jwt.SigningMethodEdDSA, k.ed, "2025", validClaims(nil))); err != nil {
		t.Fatalf("Authenticate with the rotated key: %v", err)
	}
	if _, err := a.Authenticate(sign(t, jwt.SigningMethodRS256, k.rsa, "2024", validClaims(nil))); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Authenticate with the dropped key = %v, want ErrUnauthenticated", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches of the JWKS, want 2", n)
	}

	// Another rotation right after is rate limited: not picked up, and no fetch.
	srv.set(t, jwk{kid: "2026", pub: &k.p256.PublicKey})
	if _, err := a.Authenticate(sign(t, jwt.SigningMethodES256, k.p256, "2026", validClaims(nil))); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Authenticate with a key rotated within the rate limit = %v, want ErrUnauthenticated", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches of the JWKS, want still 2", n)
	}
}

// TestJWKSUnknownKIDsDoNotWait shows that a flood of unknown kids neither
// waits for the rate limiter nor makes more than one fetch.
func TestJWKSUnknownKIDsDoNotWait(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "a", pub: k.ed.Public()})
	a := newAuth(t, Config{JWKSURL: srv.url()})
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			tok := sign(t, jwt.SigningMethodEdDSA, k.otherEd, string(rune('b'+i)), validClaims(nil))
			if _, err := a.Authenticate(tok); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Authenticate = %v, want ErrUnauthenticated", err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("50 unknown kids took %v", d)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches of the JWKS, want 2", n)
	}
}

// TestJWKSReadiness starts with the JWKS server down: New succeeds, Ready
// fails, and Ready turns ready once the server comes up, without help.
func TestJWKSReadiness(t *testing.T) {
	k := keys()
	tests := []struct {
		name string
		// start returns the JWKS URL, the server still down, and a func that
		// brings it up.
		start func(t *testing.T) (url string, up func())
	}{
		{"503", func(t *testing.T) (string, func()) {
			srv := newJWKSServer(t, jwk{kid: "ed", pub: k.ed.Public()})
			srv.down.Store(true)
			return srv.url(), func() { srv.down.Store(false) }
		}},
		{"connection refused", func(t *testing.T) (string, func()) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return "http://" + addr + "/jwks.json", func() {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatalf("listening again on %s: %v", addr, err)
				}
				srv := &jwksServer{}
				srv.set(t, jwk{kid: "ed", pub: k.ed.Public()})
				srv.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(srv.serve)}}
				srv.Start()
				t.Cleanup(srv.Close)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, up := tt.start(t)
			a := newAuth(t, Config{JWKSURL: url})
			err := a.Ready()
			if !errors.Is(err, ErrNotReady) {
				t.Fatalf("Ready with the JWKS server down = %v, want ErrNotReady", err)
			}
			tok := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", validClaims(nil))
			if _, err := a.Authenticate(tok); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Authenticate with no keys = %v, want ErrUnauthenticated", err)
			}

			up()
			deadline := time.Now().Add(10 * time.Second)
			for a.Ready() != nil {
				if time.Now().After(deadline) {
					t.Fatalf("not ready 10 s after the JWKS server came up: %v", a.Ready())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := a.Authenticate(tok); err != nil {
				t.Fatalf("Authenticate once ready: %v", err)
			}
		})
	}
}

// TestJWKSKeyAlgWithoutKID: a JWK's "alg" binds its key whether or not the
// JWK or the token has a kid. An RS384 key once verified an RS256 token that
// named no kid, because only a kid lookup consulted the JWK's "alg".
func TestJWKSKeyAlgWithoutKID(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t,
		jwk{alg: "RS384", pub: &k.rsa.PublicKey},         // no kid
		jwk{alg: "ES256", pub: &k.p256.PublicKey},        // no kid
		jwk{kid: "ed", alg: "EdDSA", pub: k.ed.Public()}, // a kid, for a token without one
		jwk{alg: "ES256", pub: &k.otherRSA.PublicKey},    // names an algorithm its type cannot have
	)
	a := newAuth(t, Config{JWKSURL: srv.url()})
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
		reason string // "" when the token is good
	}{
		{"RS384 by the RS384 key", jwt.SigningMethodRS384, k.rsa, "", ""},
		{"ES256 by the ES256 key", jwt.SigningMethodES256, k.p256, "", ""},
		{"EdDSA by a key with a kid", jwt.SigningMethodEdDSA, k.ed, "", ""},
		{"empty kid", jwt.SigningMethodRS384, k.rsa, "-", ""},
		{"RS256 by the RS384 key", jwt.SigningMethodRS256, k.rsa, "", "no key fits algorithm RS256"},
		{"PS384 by the RS384 key", jwt.SigningMethodPS384, k.rsa, "", "no key fits algorithm PS384"},
		{"empty kid, RS256 by the RS384 key", jwt.SigningMethodRS256, k.rsa, "-", "no key fits algorithm RS256"},
		{"RS512 by a key that says ES256", jwt.SigningMethodRS512, k.otherRSA, "", "no key fits algorithm RS512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := jwt.NewWithClaims(tt.method, validClaims(nil))
			if tt.kid == "-" {
				tok.Header["kid"] = ""
			}
			signed, err := tok.SignedString(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			id, err := a.Authenticate(signed)
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("Authenticate: %v", err)
			case tt.reason == "":
				if id.Subject != "alice" {
					t.Errorf("Subject = %q", id.Subject)
				}
			case !errors.Is(err, ErrUnauthenticated):
				t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", id, err)
			case !strings.Contains(err.Error(), tt.reason):
				t.Errorf("refused with %q, want the reason %q", err, tt.reason)
			}
		})
	}
}

func TestJWKSEmptySetIsNotReady(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "enc", use: "enc", pub: &k.rsa.PublicKey})
	a := newAuth(t, Config{JWKSURL: srv.url()})
	if err := a.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready with only an encryption key = %v, want ErrNotReady", err)
	}

	srv = newJWKSServer(t, jwk{alg: "ES256", pub: &k.rsa.PublicKey})
	a = newAuth(t, Config{JWKSURL: srv.url()})
	if err := a.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready with only an RSA key that says ES256 = %v, want ErrNotReady", err)
	}
}

// TestNewDoesNotBlock points New at a JWKS server that never answers: New
// returns within the client's timeout, and Close ends the retries.
func TestNewDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	client := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	a, err := New(t.Context(), Config{JWKSURL: srv.URL, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New took %v with a 200ms client timeout", d)
	}
	if err := a.Ready(); !errors.Is(err, ErrNotReady) {
		t.Errorf("Ready = %v, want ErrNotReady", err)
	}
	a.Close()
	a.Close() // twice is fine
	client.CloseIdleConnections()
}
