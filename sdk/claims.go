package sdk

import (
	"encoding/json"
	"fmt"
)

// Claims are the call's capability as the guest sees it: who called, and
// what the call may do. They are also the claims of a JWT the runtime signs,
// so their JSON form is the token's. Reading them widens nothing: the host
// enforces the capability it bound to the call.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`             // the principal
	Audience  Audience `json:"aud"`             // the tool's name and module digest
	ExpiresAt int64    `json:"exp"`             // the call's deadline, Unix seconds
	IssuedAt  int64    `json:"iat"`             // when the call was admitted, Unix seconds
	ID        string   `json:"jti"`             // the call id
	Roles     []string `json:"roles,omitempty"` // the principal's roles
	Digest    string   `json:"digest"`          // "sha256:<hex>" of the tool's module
	Cap       Grants   `json:"cap"`
}

// Grants are the "cap" claim: what the call may use.
type Grants struct {
	HTTP   []HTTPRule `json:"http"`
	KV     *KVGrant   `json:"kv,omitempty"` // nil: no storage
	Limits Limits     `json:"limits"`
}

// HTTPRule allows outbound requests to one URL prefix with some methods.
// URL is "scheme://host[:port]/path-prefix" (host may start with "*." for
// subdomains) or "*" for any URL; Methods empty means GET only, "*" any.
type HTTPRule struct {
	URL          string   `json:"url"`
	Methods      []string `json:"methods,omitempty"`
	AllowPrivate bool     `json:"allowPrivate,omitempty"` // loopback and private addresses allowed
	Secrets      []string `json:"secrets,omitempty"`      // names usable as {{secret:NAME}}
}

// KVGrant is the call's storage: its namespace and what it may do there.
type KVGrant struct {
	Namespace string `json:"namespace"`
	Read      bool   `json:"read"`
	Write     bool   `json:"write"`
	Quota     int64  `json:"quota,omitempty"` // bytes of keys plus values; 0 for none
}

// Limits bound the call's resources.
type Limits struct {
	TimeoutMs   int64 `json:"timeoutMs"`
	MemoryBytes int64 `json:"memoryBytes"`
	OutputBytes int64 `json:"outputBytes"` // output chunks plus the result
	Events      int   `json:"events"`      // host.* events
	HostCalls   int   `json:"hostCalls"`
}

// Audience is the "aud" claim. It is encoded as an array and decoded from an
// array or, as JWTs allow, a single string.
type Audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("sdk: aud claim is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// Capability returns the call's capability claims.
func (c *Call) Capability() (Claims, error) {
	staged, err := c.fetch(c.h.Capability)
	if err != nil {
		return Claims{}, err
	}
	var cl Claims
	if err := json.Unmarshal(staged, &cl); err != nil {
		return Claims{}, fmt.Errorf("sdk: decoding capability claims: %w", err)
	}
	return cl, nil
}
