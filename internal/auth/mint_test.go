package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// opaqueSigner hides the concrete key type, as a hardware key would.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, digest, opts)
}

// TestMintRoundTrip mints with every kind of key and verifies with an
// Authenticator configured with the matching public key.
func TestMintRoundTrip(t *testing.T) {
	k := keys()
	tests := []struct {
		name string
		key  any
		cfg  Config
		alg  string
	}{
		{"HS256", k.secret, Config{Secret: k.secret}, "HS256"},
		{"RSA", k.rsa, Config{PublicKeyPEM: pkixPEM(t, &k.rsa.PublicKey)}, "RS256"},
		{"P-256", k.p256, Config{PublicKeyPEM: pkixPEM(t, &k.p256.PublicKey)}, "ES256"},
		{"P-384", k.p384, Config{PublicKeyPEM: pkixPEM(t, &k.p384.PublicKey)}, "ES384"},
		{"P-521", k.p521, Config{PublicKeyPEM: pkixPEM(t, &k.p521.PublicKey)}, "ES512"},
		{"Ed25519", k.ed, Config{PublicKeyPEM: pkixPEM(t, k.ed.Public())}, "EdDSA"},
		{"opaque RSA signer", opaqueSigner{k.rsa}, Config{PublicKeyPEM: pkixPEM(t, &k.rsa.PublicKey)}, "RS256"},
		{"opaque P-521 signer", opaqueSigner{k.p521}, Config{PublicKeyPEM: pkixPEM(t, &k.p521.PublicKey)}, "ES512"},
		{"opaque Ed25519 signer", opaqueSigner{k.ed}, Config{PublicKeyPEM: pkixPEM(t, k.ed.Public())}, "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, tt.cfg)
			// Several times: ECDSA's r and s vary in length before padding.
			var tok string
			for range 20 {
				var err error
				tok, err = Mint(tt.key, MintClaims{
					Subject: "bob", Roles: []string{"guest"},
					Issuer: "https://idp.test", Audience: "capstream", KeyID: "dev-1",
				})
				if err != nil {
					t.Fatalf("Mint: %v", err)
				}
				id, err := a.Authenticate(tok)
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if p := id.Principal(""); p.Subject != "bob" || !slices.Equal(p.Roles, []string{"guest"}) {
					t.Fatalf("Principal = %+v, want bob [guest]", p)
				}
			}
			parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Header["alg"] != tt.alg || parsed.Header["kid"] != "dev-1" {
				t.Errorf("header = %v, want alg %s and kid dev-1", parsed.Header, tt.alg)
			}
		})
	}
}

func TestMintClaims(t *testing.T) {
	k := keys()
	a := newAuth(t, Config{Secret: k.secret})
	before := time.Now().Truncate(time.Second)

	tok, err := Mint(k.secret, MintClaims{Subject: "alice", Roles: []string{"analyst", "guest"}, RolesClaim: "groups",
		Issuer: "https://idp.test", Audience: "capstream"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := before.Add(DefaultMintTTL); id.ExpiresAt.Before(want) || id.ExpiresAt.After(want.Add(2*time.Second)) {
		t.Errorf("ExpiresAt = %v, want about %v", id.ExpiresAt, want)
	}
	if got := id.Roles("groups"); !slices.Equal(got, []string{"analyst", "guest"}) {
		t.Errorf("Roles(groups) = %q", got)
	}
	if got := id.Roles(""); got != nil {
		t.Errorf("Roles() = %q, want none: they went to groups", got)
	}
	if jti, _ := id.Claims["jti"].(string); len(jti) != 32 {
		t.Errorf("jti = %q, want 32 hex digits", jti)
	}

	short, err := Mint(k.secret, MintClaims{Subject: "alice", TTL: time.Second, Issuer: "https://idp.test", Audience: "capstream"})
	if err != nil {
		t.Fatal(err)
	}
	id, err = a.Authenticate(short)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(id.ExpiresAt); d > 2*time.Second {
		t.Errorf("a 1s token expires in %v", d)
	}
}

func TestMintRefuses(t *testing.T) {
	k := keys()
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		key         any
		claims      MintClaims
		unsupported bool
	}{
		{"no subject", k.secret, MintClaims{}, false},
		{"negative TTL", k.secret, MintClaims{Subject: "a", TTL: -time.Second}, false},
		{"short secret", []byte("secret"), MintClaims{Subject: "a"}, true},
		{"string secret", string(k.secret), MintClaims{Subject: "a"}, true},
		{"public key", &k.rsa.PublicKey, MintClaims{Subject: "a"}, true},
		{"RSA 1024", smallRSA, MintClaims{Subject: "a"}, true},
		{"P-224", p224, MintClaims{Subject: "a"}, true},
		{"nil", nil, MintClaims{Subject: "a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Mint(tt.key, tt.claims)
			if err == nil {
				t.Fatalf("Mint = %q, want an error", tok)
			}
			if got := errors.Is(err, ErrUnsupportedKey); got != tt.unsupported {
				t.Errorf("Mint error %v: errors.Is(ErrUnsupportedKey) = %v", err, got)
			}
		})
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	k := keys()
	pkcs8 := func(key any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ecDER, err := x509.MarshalECPrivateKey(k.p384)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pem  []byte
		pub  crypto.PublicKey // nil: refused
	}{
		{"PKCS8 RSA", pkcs8(k.rsa), &k.rsa.PublicKey},
		{"PKCS8 EC", pkcs8(k.p256), &k.p256.PublicKey},
		{"PKCS8 Ed25519", pkcs8(k.ed), k.ed.Public()},
		{"PKCS1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)}), &k.rsa.PublicKey},
		{"SEC1 EC after parameters", append([]byte("-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n"),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...), &k.p384.PublicKey},
		{"public key", pkixPEM(t, k.ed.Public()), nil},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), nil},
		{"garbage", []byte("not a key"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParsePrivateKeyPEM(tt.pem)
			if tt.pub == nil {
				if err == nil {
					t.Fatalf("ParsePrivateKeyPEM = %T, want an error", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !s.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.pub) {
				t.Errorf("parsed another key")
			}
			if _, err := Mint(s, MintClaims{Subject: "a"}); err != nil {
				t.Errorf("Mint with the parsed key: %v", err)
			}
		})
	}
}

func TestGenerateSecret(t *testing.T) {
	a, b := GenerateSecret(), GenerateSecret()
	if len(a) != 32 || len(b) != 32 || string(a) == string(b) {
		t.Errorf("GenerateSecret = %x, %x; want two different 32-byte secrets", a, b)
	}
	if _, err := New(t.Context(), Config{Secret: a}); err != nil {
		t.Errorf("New refuses a generated secret: %v", err)
	}
}
