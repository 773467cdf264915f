package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz from fuzzAuthSeeds and fuzzTicketSeeds")

// The fuzz targets' keys are fixed, so that their seed corpora, committed in
// testdata/fuzz, hold tokens and tickets valid for them. Test keys only.
var (
	fuzzSecret    = []byte("capstream FuzzAuthenticate HS256 secret, a test key only")
	fuzzEd        = ed25519.NewKeyFromSeed([]byte("capstream FuzzAuthenticate Ed25."))
	fuzzTicketKey = []byte("0123456789abcdef0123456789abcdef")
	fuzzTicketNow = time.Unix(1_700_000_000, 0)
)

// fuzzAuthenticators are the Authenticators every fuzzed token goes
// through, each with the check that proves, without golang-jwt, that a
// token it accepts was signed with its key.
func fuzzAuthenticators(tb testing.TB) []fuzzAuthenticator {
	tb.Helper()
	newAuth := func(cfg Config) *Authenticator {
		a, err := New(tb.Context(), cfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(a.Close)
		return a
	}
	return []fuzzAuthenticator{
		{"HS256", newAuth(Config{Secret: fuzzSecret}), func(signed string, sig []byte) bool {
			m := hmac.New(sha256.New, fuzzSecret)
			m.Write([]byte(signed))
			return hmac.Equal(m.Sum(nil), sig)
		}},
		{"EdDSA", newAuth(Config{PublicKeyPEM: pkixPEM(tb, fuzzEd.Public())}), func(signed string, sig []byte) bool {
			return ed25519.Verify(fuzzEd.Public().(ed25519.PublicKey), []byte(signed), sig)
		}},
	}
}

type fuzzAuthenticator struct {
	alg    string
	a      *Authenticator
	signed func(signingString string, sig []byte) bool
}

// fuzzRequest is a request with the header shapes a fuzz input describes:
// one Authorization header per line of header, and cookie as the Cookie
// header, as they are.
func fuzzRequest(header, cookie string) *http.Request {
	r := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	if header != "" {
		r.Header["Authorization"] = strings.Split(header, "\n")
	}
	if cookie != "" {
		r.Header["Cookie"] = []string{cookie}
	}
	return r
}

// FuzzAuthenticate feeds arbitrary Authorization headers (several when the
// input has line breaks) and Cookie headers through FromRequest and then
// through an HS256 and an EdDSA Authenticator. Nothing may panic; every
// refusal must wrap ErrUnauthenticated; FromRequest must take a token only
// from a single Bearer header, or from the cookie when allowed; and a token
// may be accepted only if an independent check (crypto/hmac, crypto/ed25519
// on the token's own bytes) shows that the Authenticator's key signed it,
// with that key's algorithm, and its sub and exp are what the Identity says.
func FuzzAuthenticate(f *testing.F) {
	auths := fuzzAuthenticators(f)
	f.Fuzz(func(t *testing.T, header, cookie string, allowCookie bool) {
		r := fuzzRequest(header, cookie)
		token, source := FromRequest(r, allowCookie, "")
		checkFromRequest(t, r, allowCookie, token, source)
		for _, fa := range auths {
			id, err := fa.a.Authenticate(token)
			if err != nil {
				if !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("%s: refusal %v does not wrap ErrUnauthenticated", fa.alg, err)
				}
				continue
			}
			if why := provenSigned(fa, token, id); why != "" {
				t.Fatalf("%s accepted %q as %+v, but %s", fa.alg, token, id, why)
			}
		}
	})
}

// checkFromRequest checks what FromRequest found against the request.
func checkFromRequest(t *testing.T, r *http.Request, allowCookie bool, token, source string) {
	t.Helper()
	headers := r.Header.Values("Authorization")
	switch source {
	case "":
		if token != "" {
			t.Fatalf("token %q without a source", token)
		}
	case SourceHeader:
		if len(headers) != 1 {
			t.Fatalf("token %q from %d Authorization headers", token, len(headers))
		}
		scheme, rest, _ := strings.Cut(strings.TrimLeft(headers[0], " \t"), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.Trim(rest, " \t") != token {
			t.Fatalf("token %q from the header %q", token, headers[0])
		}
	case SourceCookie:
		if !allowCookie {
			t.Fatalf("token %q from a cookie, which was not allowed", token)
		}
		if c, err := r.Cookie(DefaultCookieName); err != nil || c.Value != token {
			t.Fatalf("token %q from the cookie header %q", token, r.Header.Get("Cookie"))
		}
		if len(headers) > 1 {
			t.Fatalf("token from a cookie although %d Authorization headers were sent", len(headers))
		}
	default:
		t.Fatalf("unknown source %q", source)
	}
	// A header's token is one word; a cookie's is its value, as net/http
	// parses it (which may hold spaces: Authenticate refuses those).
	if (source != "" && token == "") || (source == SourceHeader && strings.ContainsAny(token, " \t")) {
		t.Fatalf("token %q from %s", token, source)
	}
}

// provenSigned returns why an accepted token is not proven to be signed by
// fa's key, or "" if it is.
func provenSigned(fa fuzzAuthenticator, token string, id Identity) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Sprintf("it has %d parts", len(parts))
	}
	header, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return "its parts do not decode: " + err.Error()
	}
	if !fa.signed(parts[0]+"."+parts[1], sig) {
		return "its signature is not the key's"
	}
	var h struct{ Alg string }
	if json.Unmarshal(header, &h) != nil || h.Alg != fa.alg {
		return fmt.Sprintf("its header %s is not alg %s", header, fa.alg)
	}
	var c struct {
		Sub string
		Exp *float64
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Sub == "" || c.Sub != id.Subject || c.Exp == nil {
		return fmt.Sprintf("its claims %s do not give sub %q and an exp", payload, id.Subject)
	}
	if exp := time.Unix(int64(*c.Exp), 0); !exp.Equal(id.ExpiresAt.Truncate(time.Second)) || exp.Before(time.Now().Add(-defaultLeeway-time.Second)) {
		return fmt.Sprintf("its exp %v has passed or is not the Identity's %v", exp, id.ExpiresAt)
	}
	return ""
}

// fuzzSeed is one entry of a seed corpus, and whether the target accepts it.
type fuzzSeed struct {
	name   string
	args   []any
	accept bool
}

// fuzzAuthSeeds are FuzzAuthenticate's seed corpus: (Authorization header
// lines, Cookie header, cookie allowed). Signing is deterministic (HS256,
// Ed25519) and the times are fixed, so they are the same every time.
func fuzzAuthSeeds(tb testing.TB) []fuzzSeed {
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "roles": []string{"analyst"},
			"iat": time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix(),
			"exp": time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return sign(tb, jwt.SigningMethodHS256, fuzzSecret, "", c) }
	valid := hs(claims(nil))
	validEd := sign(tb, jwt.SigningMethodEdDSA, fuzzEd, "", claims(nil))
	crit := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	crit.Header["crit"] = []string{"exp"}
	critTok, err := crit.SignedString(fuzzSecret)
	if err != nil {
		tb.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	cookie := DefaultCookieName + "=" + valid
	bearer := func(tok string) []any { return []any{"Bearer " + tok, "", false} }
	return []fuzzSeed{
		{"valid-hs256", bearer(valid), true},
		{"valid-eddsa", bearer(validEd), true},
		{"valid-cookie", []any{"", cookie, true}, true},
		{"cookie-not-allowed", []any{"", cookie, false}, false},
		{"basic-then-cookie", []any{"Basic YWxpY2U6c2VjcmV0", cookie, true}, true},
		{"scheme-case-and-spaces", []any{" \tbEaReR   " + valid + " \t", "", false}, true},
		{"two-headers", []any{"Bearer " + valid + "\nBearer " + valid, cookie, true}, false},
		{"expired", bearer(hs(claims(func(c jwt.MapClaims) { c["exp"] = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Unix() }))), false},
		{"no-exp", bearer(hs(claims(func(c jwt.MapClaims) { delete(c, "exp") }))), false},
		{"no-sub", bearer(hs(claims(func(c jwt.MapClaims) { delete(c, "sub") }))), false},
		{"iat-future", bearer(hs(claims(func(c jwt.MapClaims) { c["iat"] = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).Unix() }))), false},
		{"alg-none", bearer(forge(`{"alg":"none","typ":"JWT"}`, claims(nil), "")), false},
		{"alg-hs256-keyed-with-ed25519-public-key", bearer(sign(tb, jwt.SigningMethodHS256, pkixPEM(tb, fuzzEd.Public()), "", claims(nil))), false},
		{"crit-header", bearer(critTok), false},
		{"tampered-payload", bearer(parts[0] + "." + encodeSegment(claims(func(c jwt.MapClaims) { c["sub"] = "mallory" })) + "." + parts[2]), false},
		{"tampered-signature", bearer(valid[:len(valid)-2] + flipChar(valid[len(valid)-2]) + valid[len(valid)-1:]), false},
		{"garbage", bearer("not.a.jwt"), false},
		{"huge", bearer(hs(claims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", maxTokenBytes) }))), false},
		{"empty", []any{"", "", false}, false},
	}
}

// fuzzTicketSeeds are FuzzTicketsCheck's seed corpus: (ticket, call id).
func fuzzTicketSeeds() []fuzzSeed {
	tk := NewTickets(fuzzTicketKey, 0)
	good, _ := tk.Mint("call-1", "alice", fuzzTicketNow.Add(time.Hour), fuzzTicketNow)
	expired, _ := tk.Mint("call-1", "alice", fuzzTicketNow.Add(time.Hour), fuzzTicketNow.Add(-2*MaxTicketTTL))
	otherKey, _ := NewTickets(bytes.Repeat([]byte("k"), 32), 0).Mint("call-1", "alice", fuzzTicketNow.Add(time.Hour), fuzzTicketNow)
	relabelled, _ := tk.Mint("call-1a", "lice", fuzzTicketNow.Add(time.Hour), fuzzTicketNow)
	raw, _ := ticketEncoding.DecodeString(good)
	raw[0] = 1
	oldVersion := ticketEncoding.EncodeToString(raw)
	mid := len(good) / 2
	return []fuzzSeed{
		{"good", []any{good, "call-1"}, true},
		{"other-call", []any{good, "call-2"}, false},
		{"truncated", []any{good[:10], "call-1"}, false},
		{"tampered", []any{good[:mid] + flipChar(good[mid]) + good[mid+1:], "call-1"}, false},
		{"expired", []any{expired, "call-1"}, false},
		{"other-key", []any{otherKey, "call-1"}, false},
		{"relabelled-subject", []any{relabelled, "call-1"}, false},
		{"old-version", []any{oldVersion, "call-1"}, false},
		{"padded", []any{good + "=", "call-1"}, false},
		{"standard-base64", []any{strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", "call-1"}, false},
		{"huge", []any{strings.Repeat("A", maxTicketChars+1), "call-1"}, false},
		{"empty", []any{"", ""}, false},
	}
}

// corpusFile is a seed as `go test` stores a corpus entry.
func corpusFile(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		}
	}
	return b.Bytes()
}

// TestFuzzSeedCorpora checks that every seed does what its name says (the
// valid ones pass, the rest are refused) and that testdata/fuzz holds each
// of them as generated; -update-corpus rewrites them. Inputs that fuzzing
// finds and writes there stay, as regression seeds.
func TestFuzzSeedCorpora(t *testing.T) {
	auths := fuzzAuthenticators(t)
	tk := NewTickets(fuzzTicketKey, 0)
	targets := []struct {
		name   string
		seeds  []fuzzSeed
		accept func(args []any) bool
	}{
		{"FuzzAuthenticate", fuzzAuthSeeds(t), func(args []any) bool {
			token, _ := FromRequest(fuzzRequest(args[0].(string), args[1].(string)), args[2].(bool), "")
			for _, fa := range auths {
				if _, err := fa.a.Authenticate(token); err == nil {
					return true
				}
			}
			return false
		}},
		{"FuzzTicketsCheck", fuzzTicketSeeds(), func(args []any) bool {
			_, _, err := tk.Check(args[0].(string), args[1].(string), fuzzTicketNow)
			return err == nil
		}},
	}
	for _, tt := range targets {
		dir := filepath.Join("testdata", "fuzz", tt.name)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range tt.seeds {
			if got := tt.accept(s.args); got != s.accept {
				t.Errorf("%s seed %s: accepted %v, want %v", tt.name, s.name, got, s.accept)
			}
			file, want := filepath.Join(dir, s.name), corpusFile(s.args...)
			if *updateCorpus {
				if err := os.WriteFile(file, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s is missing or stale (%v): go test ./internal/auth/ -run TestFuzzSeedCorpora -update-corpus", file, err)
			}
		}
	}
}
