// Package capability defines what one call of a tool may do: the grants a
// policy gives a principal, the needs a tool declares, and the capability of a
// call, which is their intersection. A capability is a plain value; the engine
// binds it to a call and enforces it host-side, and Sign turns it into a JWT
// so audit records can be checked against the runtime's public key.
//
// The package imports nothing of the engine, so policy code and tests use it
// alone.
package capability

import (
	"errors"
	"slices"
	"time"
)

// ErrToolNotPermitted is returned by Derive when the grants do not include the tool.
var ErrToolNotPermitted = errors.New("capability: tool not permitted")

// Principal is an authenticated caller: the subject of its token and the
// role names the policy knows it by.
type Principal struct {
	Subject string   `json:"subject"`
	Roles   []string `json:"roles"`
}

// Limits bound the resources of one call. A zero field means "no grant": the
// policy layer fills every field from its defaults before a call starts.
type Limits struct {
	Timeout   time.Duration `json:"-"`
	Memory    int64         `json:"memoryBytes"` // linear memory of the instance
	Output    int64         `json:"outputBytes"` // output chunks plus the final output
	Events    int           `json:"events"`      // host.* events
	HostCalls int           `json:"hostCalls"`   // calls of host functions that act
}

// Max returns, field by field, the larger of l and o: the union of two grants.
func (l Limits) Max(o Limits) Limits {
	return Limits{
		Timeout:   max(l.Timeout, o.Timeout),
		Memory:    max(l.Memory, o.Memory),
		Output:    max(l.Output, o.Output),
		Events:    max(l.Events, o.Events),
		HostCalls: max(l.HostCalls, o.HostCalls),
	}
}

// Or returns l with every zero field taken from o: o are the defaults.
func (l Limits) Or(o Limits) Limits {
	pick := func(a, b int64) int64 {
		if a == 0 {
			return b
		}
		return a
	}
	if l.Timeout == 0 {
		l.Timeout = o.Timeout
	}
	l.Memory = pick(l.Memory, o.Memory)
	l.Output = pick(l.Output, o.Output)
	l.Events = int(pick(int64(l.Events), int64(o.Events)))
	l.HostCalls = int(pick(int64(l.HostCalls), int64(o.HostCalls)))
	return l
}

// KV is a grant of key-value storage. Reading is implied by the grant.
type KV struct {
	Write bool  `json:"write"`
	Quota int64 `json:"quota,omitempty"` // bytes of keys plus values; 0 for none
}

// Grants are what a policy gives a principal: the union over its roles.
type Grants struct {
	Tools  []string   // tool names, or "*" for all
	HTTP   []HTTPRule // outbound HTTP allowlist
	KV     *KV        // nil: no storage
	Limits Limits     // complete: defaults already applied
}

// Permits reports whether the grants include the named tool.
func (g Grants) Permits(tool string) bool {
	return slices.Contains(g.Tools, "*") || slices.Contains(g.Tools, tool)
}

// Needs are what a tool declares in its manifest that it may use. A tool gets
// no more than it declares, whatever its caller is granted.
type Needs struct {
	HTTP []HTTPRule `json:"http,omitempty"`
	KV   *KV        `json:"kv,omitempty"`
}

// Capability is the authority of one call: bound to one principal, one tool
// (by name and module digest) and one deadline.
type Capability struct {
	ID        string    // the call id; the JWT's jti
	Subject   string    // the principal's subject
	Roles     []string  // the principal's roles, for the guest to read
	Tool      string    // tool name
	Digest    string    // "sha256:<hex>" of the tool's module
	IssuedAt  time.Time // when the call was admitted
	ExpiresAt time.Time // the call's deadline: IssuedAt + Limits.Timeout
	HTTP      []HTTPRule
	KV        *KV
	Limits    Limits
}

// Derive computes the capability of one call: the grants intersected with
// the tool's needs. It returns ErrToolNotPermitted when the grants do not
// include the tool; the limits come from the grants alone.
func Derive(p Principal, g Grants, tool, digest string, needs Needs, callID string, now time.Time) (Capability, error) {
	if !g.Permits(tool) {
		return Capability{}, ErrToolNotPermitted
	}
	c := Capability{
		ID:        callID,
		Subject:   p.Subject,
		Roles:     slices.Clone(p.Roles),
		Tool:      tool,
		Digest:    digest,
		IssuedAt:  now.UTC(),
		ExpiresAt: now.UTC().Add(g.Limits.Timeout),
		HTTP:      IntersectHTTP(g.HTTP, needs.HTTP),
		Limits:    g.Limits,
	}
	if g.KV != nil && needs.KV != nil {
		c.KV = &KV{Write: g.KV.Write && needs.KV.Write, Quota: g.KV.Quota}
	}
	return c, nil
}

// Namespace is the KV namespace of the call: one per principal per tool.
// The guest never chooses it.
func (c *Capability) Namespace() string {
	return c.Tool + "/" + c.Subject
}
