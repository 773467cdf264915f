package capability

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the "iss" of every capability token.
const Issuer = "capstream"

// Claims is the capability as its JWT and the guest see it.
type Claims struct {
	jwt.RegisteredClaims
	Roles  []string   `json:"roles,omitempty"`
	Digest string     `json:"digest"`
	Cap    ClaimGrant `json:"cap"`
}

// ClaimGrant is the "cap" claim: the grants of the call.
type ClaimGrant struct {
	HTTP   []HTTPRule  `json:"http"`
	KV     *ClaimKV    `json:"kv,omitempty"`
	Limits ClaimLimits `json:"limits"`
}

// ClaimKV is the KV grant with the namespace the host chose for the call.
type ClaimKV struct {
	Namespace string `json:"namespace"`
	Read      bool   `json:"read"`
	Write     bool   `json:"write"`
	Quota     int64  `json:"quota,omitempty"`
}

// ClaimLimits are the limits with the timeout in milliseconds.
type ClaimLimits struct {
	TimeoutMs int64 `json:"timeoutMs"`
	Limits
}

// Claims returns the JWT claims of c.
func (c *Capability) Claims() *Claims {
	cl := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{c.Tool, c.Digest},
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		},
		Roles:  c.Roles,
		Digest: c.Digest,
		Cap: ClaimGrant{
			HTTP:   c.HTTP,
			Limits: ClaimLimits{TimeoutMs: c.Limits.Timeout.Milliseconds(), Limits: c.Limits},
		},
	}
	if cl.Cap.HTTP == nil {
		cl.Cap.HTTP = []HTTPRule{}
	}
	if c.KV != nil {
		cl.Cap.KV = &ClaimKV{Namespace: c.Namespace(), Read: true, Write: c.KV.Write, Quota: c.KV.Quota}
	}
	return cl
}

// Sign returns c as a JWT signed with the runtime's Ed25519 key.
func (c *Capability) Sign(key ed25519.PrivateKey) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c.Claims())
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing capability: %w", err)
	}
	return s, nil
}

// ErrInvalidToken is returned by Verify for any token that does not check out.
var ErrInvalidToken = errors.New("capability: invalid token")

// Verify checks a capability token against the runtime's public key and
// returns its claims. Expired tokens are refused unless at is before their
// expiry, so an audit can check a token as of the time it was used.
func Verify(token string, pub ed25519.PublicKey, at time.Time) (*Claims, error) {
	var cl Claims
	_, err := jwt.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return at }),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return &cl, nil
}
