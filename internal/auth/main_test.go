package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testKeys are generated once: RSA key generation is slow.
type testKeys struct {
	secret, otherSecret []byte
	rsa, otherRSA       *rsa.PrivateKey
	p256, p384, p521    *ecdsa.PrivateKey
	otherP256           *ecdsa.PrivateKey
	ed, otherEd         ed25519.PrivateKey
}

var keys = sync.OnceValue(func() *testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &testKeys{secret: GenerateSecret(), otherSecret: GenerateSecret()}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.otherRSA, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	for _, p := range []struct {
		dst *(*ecdsa.PrivateKey)
		c   elliptic.Curve
	}{{&k.p256, elliptic.P256()}, {&k.p384, elliptic.P384()}, {&k.p521, elliptic.P521()}, {&k.otherP256, elliptic.P256()}} {
		*p.dst, err = ecdsa.GenerateKey(p.c, rand.Reader)
		must(err)
	}
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	_, k.otherEd, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

// pkixPEM encodes a public key as a PEM "PUBLIC KEY".
func pkixPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// validClaims are claims every Authenticator of these tests accepts, changed
// by edit.
func validClaims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":   "alice",
		"iss":   "https://idp.test",
		"aud":   "capstream",
		"iat":   now.Unix(),
		"exp":   now.Add(5 * time.Minute).Unix(),
		"roles": []string{"analyst"},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// sign signs claims with golang-jwt, setting kid if not empty.
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", m.Alg(), err)
	}
	return s
}

// newAuth returns an Authenticator checking iss and aud as validClaims sets
// them, closed when the test ends.
func newAuth(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	cfg.Issuer, cfg.Audience = "https://idp.test", "capstream"
	a, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}
