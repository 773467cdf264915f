package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultMintTTL is the lifetime of a token minted with no TTL.
const DefaultMintTTL = time.Hour

// MintClaims are the claims of a development token.
type MintClaims struct {
	Subject string   // sub; required
	Roles   []string // role names, in the claim RolesClaim; nil: no such claim
	// RolesClaim names the claim of Roles. "": DefaultRolesClaim.
	RolesClaim string
	Issuer     string        // iss; "": none
	Audience   string        // aud; "": none
	TTL        time.Duration // exp - iat; zero: DefaultMintTTL
	KeyID      string        // the kid header; "": none
}

// Mint signs a token for development (`capstream token`, `serve --dev`),
// with sub, iat, exp, a random jti and the other claims given. The key
// decides the algorithm: a []byte secret of at least 32 bytes signs HS256;
// a crypto.Signer (an *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey
// or any other signer of such a key, a hardware token say) signs RS256,
// ES256/384/512 by curve, or EdDSA.
func Mint(key any, c MintClaims) (string, error) {
	switch {
	case c.Subject == "":
		return "", errors.New("auth: minting token: no subject")
	case c.TTL < 0:
		return "", errors.New("auth: minting token: negative TTL")
	case c.TTL == 0:
		c.TTL = DefaultMintTTL
	}
	var method jwt.SigningMethod
	switch k := key.(type) {
	case []byte:
		if len(k) < minSecretBytes {
			return "", fmt.Errorf("%w: secret of %d bytes, at least %d required", ErrUnsupportedKey, len(k), minSecretBytes)
		}
		method = jwt.SigningMethodHS256
	case crypto.Signer:
		m, err := signerMethodFor(k.Public())
		if err != nil {
			return "", err
		}
		method = m
	default:
		return "", fmt.Errorf("%w: %T", ErrUnsupportedKey, key)
	}

	now := time.Now()
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := jwt.MapClaims{
		"sub": c.Subject,
		"iat": now.Unix(),
		"exp": now.Add(c.TTL).Unix(),
		"jti": hex.EncodeToString(jti),
	}
	if c.Issuer != "" {
		claims["iss"] = c.Issuer
	}
	if c.Audience != "" {
		claims["aud"] = c.Audience
	}
	if c.Roles != nil {
		name := c.RolesClaim
		if name == "" {
			name = DefaultRolesClaim
		}
		claims[name] = c.Roles
	}
	tok := jwt.NewWithClaims(method, claims)
	if c.KeyID != "" {
		tok.Header["kid"] = c.KeyID
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: signing token: %w", err)
	}
	return s, nil
}

// GenerateSecret returns 32 random bytes: an HS256 secret for --dev, or a
// key for NewTickets.
func GenerateSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b) // never fails, Go 1.24 and later
	return b
}

// signerMethod is a jwt.SigningMethod that signs through crypto.Signer, so
// any signer works, not only the concrete key types golang-jwt knows. It
// only signs; verifying is the Authenticator's business.
type signerMethod struct {
	alg     string
	hash    crypto.Hash // 0 for EdDSA, which signs the message itself
	ecBytes int         // size of r and of s for ECDSA; 0 otherwise
}

func signerMethodFor(pub crypto.PublicKey) (*signerMethod, error) {
	if _, err := algsFor(pub); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return &signerMethod{alg: "RS256", hash: crypto.SHA256}, nil
	case *ecdsa.PublicKey:
		m := &signerMethod{alg: ecAlg(k.Curve), ecBytes: (k.Curve.Params().BitSize + 7) / 8}
		switch m.alg {
		case "ES256":
			m.hash = crypto.SHA256
		case "ES384":
			m.hash = crypto.SHA384
		default:
			m.hash = crypto.SHA512
		}
		return m, nil
	default: // ed25519.PublicKey, as algsFor allows nothing else
		return &signerMethod{alg: "EdDSA"}, nil
	}
}

func (m *signerMethod) Alg() string { return m.alg }

func (m *signerMethod) Verify(string, []byte, any) error {
	return errors.New("auth: signerMethod does not verify")
}

func (m *signerMethod) Sign(signingString string, key any) ([]byte, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T is no crypto.Signer", ErrUnsupportedKey, key)
	}
	msg := []byte(signingString)
	if m.hash != 0 {
		h := m.hash.New()
		h.Write(msg)
		msg = h.Sum(nil)
	}
	sig, err := signer.Sign(rand.Reader, msg, m.hash)
	if err != nil || m.ecBytes == 0 {
		return sig, err
	}
	// crypto.Signer gives ECDSA signatures in ASN.1; JWS wants r || s.
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) > 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 ||
		rs.R.BitLen() > 8*m.ecBytes || rs.S.BitLen() > 8*m.ecBytes {
		return nil, errors.New("auth: malformed ECDSA signature from signer")
	}
	out := make([]byte, 2*m.ecBytes)
	rs.R.FillBytes(out[:m.ecBytes])
	rs.S.FillBytes(out[m.ecBytes:])
	return out, nil
}

var _ jwt.SigningMethod = (*signerMethod)(nil)
