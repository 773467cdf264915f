package auth

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestNewRefusesBadConfig(t *testing.T) {
	k := keys()
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})

	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no key source", Config{}, ""},
		{"two key sources", Config{Secret: k.secret, JWKSURL: "https://idp.test/jwks"}, ""},
		{"three key sources", Config{Secret: k.secret, PublicKeyPEM: pkixPEM(t, k.ed.Public()), JWKSURL: "https://idp.test/jwks"}, ""},
		{"short secret", Config{Secret: make([]byte, 31)}, "Secret"},
		{"empty secret", Config{Secret: []byte{}}, "Secret"},
		{"not PEM", Config{PublicKeyPEM: []byte("ssh-ed25519 AAAA")}, "PublicKeyPEM"},
		{"private key PEM", Config{PublicKeyPEM: privPEM}, "PublicKeyPEM"},
		{"RSA 1024", Config{PublicKeyPEM: pkixPEM(t, &smallRSA.PublicKey)}, "PublicKeyPEM"},
		{"curve P-224", Config{PublicKeyPEM: pkixPEM(t, &p224.PublicKey)}, "PublicKeyPEM"},
		{"X25519", Config{PublicKeyPEM: pkixPEM(t, x25519.PublicKey())}, "PublicKeyPEM"},
		{"relative JWKS URL", Config{JWKSURL: "/jwks.json"}, "JWKSURL"},
		{"ftp JWKS URL", Config{JWKSURL: "ftp://idp.test/jwks"}, "JWKSURL"},
		{"bad JWKS URL", Config{JWKSURL: "https://%zz"}, "JWKSURL"},
		{"negative leeway", Config{Secret: k.secret, Leeway: -time.Second}, "Leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(t.Context(), tt.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				if a != nil {
					a.Close()
				}
				t.Fatalf("New = %v, want a *ConfigError", err)
			}
			if ce.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, tt.field, err)
			}
			if !strings.HasPrefix(err.Error(), "auth: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestAuthenticateAcceptsGoodTokens(t *testing.T) {
	k := keys()
	rsaPEM := pkixPEM(t, &k.rsa.PublicKey)
	tests := []struct {
		name   string
		cfg    Config
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", Config{Secret: k.secret}, jwt.SigningMethodHS256, k.secret},
		{"RS256", Config{PublicKeyPEM: rsaPEM}, jwt.SigningMethodRS256, k.rsa},
		{"RS384", Config{PublicKeyPEM: rsaPEM}, jwt.SigningMethodRS384, k.rsa},
		{"RS512", Config{PublicKeyPEM: rsaPEM}, jwt.SigningMethodRS512, k.rsa},
		{"PS256", Config{PublicKeyPEM: rsaPEM}, jwt.SigningMethodPS256, k.rsa},
		{"PS384", Config{PublicKeyPEM: rsaPEM}, jwt.SigningMethodPS384, k.rsa},
		{"PS512", Config{PublicKeyPEM: rsaPEM}, jwt.SigningMethodPS512, k.rsa},
		{"RS256 PKCS1 PEM", Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{
			Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})}, jwt.SigningMethodRS256, k.rsa},
		{"ES256", Config{PublicKeyPEM: pkixPEM(t, &k.p256.PublicKey)}, jwt.SigningMethodES256, k.p256},
		{"ES384", Config{PublicKeyPEM: pkixPEM(t, &k.p384.PublicKey)}, jwt.SigningMethodES384, k.p384},
		{"ES512", Config{PublicKeyPEM: pkixPEM(t, &k.p521.PublicKey)}, jwt.SigningMethodES512, k.p521},
		{"ES256 certificate", Config{PublicKeyPEM: certPEM(t, k.p256)}, jwt.SigningMethodES256, k.p256},
		{"EdDSA", Config{PublicKeyPEM: pkixPEM(t, k.ed.Public())}, jwt.SigningMethodEdDSA, k.ed},
		{"EdDSA after other PEM blocks", Config{PublicKeyPEM: append(
			[]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
			pkixPEM(t, k.ed.Public())...)}, jwt.SigningMethodEdDSA, k.ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, tt.cfg)
			exp := time.Now().Add(5 * time.Minute).Truncate(time.Second)
			tok := sign(t, tt.method, tt.key, "", validClaims(func(c jwt.MapClaims) {
				c["exp"] = exp.Unix()
			}))
			id, err := a.Authenticate(tok)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.Subject != "alice" || !id.ExpiresAt.Equal(exp) {
				t.Errorf("Identity = %q expiring %v, want alice expiring %v", id.Subject, id.ExpiresAt, exp)
			}
			if got := id.Principal("").Roles; len(got) != 1 || got[0] != "analyst" {
				t.Errorf("roles = %q, want [analyst]", got)
			}
			if err := a.Ready(); err != nil {
				t.Errorf("Ready: %v", err)
			}
		})
	}
}

// TestAuthenticateRefusesAttacks signs or forges tokens the ways attackers
// and broken clients do; every one must be refused as unauthenticated.
func TestAuthenticateRefusesAttacks(t *testing.T) {
	k := keys()
	rsaPEM := pkixPEM(t, &k.rsa.PublicKey)
	hs := Config{Secret: k.secret}
	rs := Config{PublicKeyPEM: rsaPEM}
	es := Config{PublicKeyPEM: pkixPEM(t, &k.p256.PublicKey)}
	ed := Config{PublicKeyPEM: pkixPEM(t, k.ed.Public())}
	past := time.Now().Add(-time.Hour).Unix()
	future := time.Now().Add(time.Hour).Unix()
	edit := func(f func(jwt.MapClaims)) jwt.MapClaims { return validClaims(f) }

	tests := []struct {
		name   string
		reason string // in the error, for logs
		cfg    Config
		token  func(t *testing.T) string
	}{
		{"alg none", "signing method none is invalid", hs, func(t *testing.T) string { return forge(`{"alg":"none","typ":"JWT"}`, validClaims(nil), "") }},
		{"alg none against RSA", "signing method none is invalid", rs, func(t *testing.T) string { return forge(`{"alg":"none"}`, validClaims(nil), "") }},
		{"alg None", "signing method (alg) is unavailable", hs, func(t *testing.T) string { return forge(`{"alg":"None"}`, validClaims(nil), "") }},
		{"alg none with signature", "signing method none is invalid", ed, func(t *testing.T) string {
			return forge(`{"alg":"none"}`, validClaims(nil), "c2lnbmF0dXJl")
		}},
		{"HS256 keyed with the RSA public key PEM", "signing method HS256 is invalid", rs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, rsaPEM, "", validClaims(nil))
		}},
		{"HS256 keyed with the RSA public key DER", "signing method HS256 is invalid", rs, func(t *testing.T) string {
			der, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
			return sign(t, jwt.SigningMethodHS256, der, "", validClaims(nil))
		}},
		{"HS384 with the secret", "signing method HS384 is invalid", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS384, k.secret, "", validClaims(nil))
		}},
		{"wrong secret", "signature is invalid", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.otherSecret, "", validClaims(nil))
		}},
		{"wrong RSA key", "verification error", rs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.otherRSA, "", validClaims(nil))
		}},
		{"wrong EC key", "verification error", es, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, k.otherP256, "", validClaims(nil))
		}},
		{"wrong Ed25519 key", "verification error", ed, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, k.otherEd, "", validClaims(nil))
		}},
		{"ES384 against a P-256 key", "signing method ES384 is invalid", es, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES384, k.p384, "", validClaims(nil))
		}},
		{"ES256 against an RSA key", "signing method ES256 is invalid", rs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, k.p256, "", validClaims(nil))
		}},
		{"expired", "token is expired", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["exp"] = past }))
		}},
		{"expired beyond leeway", "token is expired", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) {
				c["exp"] = time.Now().Add(-45 * time.Second).Unix()
			}))
		}},
		{"nbf in the future", "token is not valid yet", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["nbf"] = future }))
		}},
		{"iat in the future", "token used before issued", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["iat"] = future }))
		}},
		{"missing exp", "exp claim is required", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { delete(c, "exp") }))
		}},
		{"exp not a number", "exp is invalid", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["exp"] = "never" }))
		}},
		{"wrong iss", "invalid issuer", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }))
		}},
		{"missing iss", "iss claim is required", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { delete(c, "iss") }))
		}},
		{"wrong aud", "invalid audience", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["aud"] = []string{"other", "api"} }))
		}},
		{"missing aud", "aud claim is required", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { delete(c, "aud") }))
		}},
		{"missing sub", "no sub", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { delete(c, "sub") }))
		}},
		{"empty sub", "no sub", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["sub"] = "" }))
		}},
		{"sub not a string", "sub is invalid", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["sub"] = 42 }))
		}},
		{"tampered payload", "verification error", rs, func(t *testing.T) string {
			good := sign(t, jwt.SigningMethodRS256, k.rsa, "", validClaims(nil))
			parts := strings.Split(good, ".")
			parts[1] = encodeSegment(validClaims(func(c jwt.MapClaims) { c["sub"] = "mallory" }))
			return strings.Join(parts, ".")
		}},
		{"tampered signature", "verification error", ed, func(t *testing.T) string {
			good := sign(t, jwt.SigningMethodEdDSA, k.ed, "", validClaims(nil))
			return good[:len(good)-2] + flipChar(good[len(good)-2]) + good[len(good)-1:]
		}},
		// Depending on the bits left over, a cut signature fails to decode
		// or to verify; "signature" is in either reason.
		{"truncated signature", "signature", hs, func(t *testing.T) string {
			good := sign(t, jwt.SigningMethodHS256, k.secret, "", validClaims(nil))
			return good[:len(good)-5]
		}},
		{"signature cut off", "malformed", hs, func(t *testing.T) string {
			good := sign(t, jwt.SigningMethodHS256, k.secret, "", validClaims(nil))
			return good[:strings.LastIndexByte(good, '.')]
		}},
		{"crit header", "crit", hs, func(t *testing.T) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims(nil))
			tok.Header["crit"] = []string{"exp-ext"}
			s, _ := tok.SignedString(k.secret)
			return s
		}},
		{"empty", "no token", hs, func(t *testing.T) string { return "" }},
		{"garbage", "malformed", hs, func(t *testing.T) string { return "not.a.jwt" }},
		{"huge", "too large", hs, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, k.secret, "", edit(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 20<<10) }))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, tt.cfg)
			id, err := a.Authenticate(tt.token(t))
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", id, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("refused with %q, want the reason %q", err, tt.reason)
			}
		})
	}
}

func TestAuthenticateLeeway(t *testing.T) {
	k := keys()
	tests := []struct {
		name   string
		leeway time.Duration
		exp    time.Duration // from now
		ok     bool
	}{
		{"expired within default leeway", 0, -10 * time.Second, true},
		{"expired beyond default leeway", 0, -40 * time.Second, false},
		{"expired beyond set leeway", 2 * time.Second, -10 * time.Second, false},
		{"expired within set leeway", 2 * time.Minute, -time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, Config{Secret: k.secret, Leeway: tt.leeway})
			tok := sign(t, jwt.SigningMethodHS256, k.secret, "", validClaims(func(c jwt.MapClaims) {
				c["exp"] = time.Now().Add(tt.exp).Unix()
			}))
			_, err := a.Authenticate(tok)
			if ok := err == nil; ok != tt.ok {
				t.Fatalf("Authenticate: %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

func TestAuthenticateWithoutIssuerOrAudience(t *testing.T) {
	k := keys()
	a, err := New(t.Context(), Config{Secret: k.secret})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tok := sign(t, jwt.SigningMethodHS256, k.secret, "", validClaims(func(c jwt.MapClaims) {
		delete(c, "iss")
		delete(c, "aud")
	}))
	if _, err := a.Authenticate(tok); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
}

// forge assembles a token by hand from a header, claims and a signature.
func forge(header string, claims jwt.MapClaims, sig string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + encodeSegment(claims) + "." + sig
}

func encodeSegment(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// flipChar returns another base64url character than c.
func flipChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// certPEM returns a self-signed certificate of key.
func certPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idp.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
