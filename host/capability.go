package host

import (
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// The capability types, for a program that embeds the engine: it derives
// each call's capability from its own policy with DeriveCapability, and
// hands it to Call in an Invocation (examples/embed).
type (
	// Capability is the authority of one call: one principal, one tool
	// (by name and digest), one deadline, and what it may touch.
	Capability = capability.Capability
	// Principal is the caller: its subject and role names.
	Principal = capability.Principal
	// Grants are what a principal may have; Limits must be complete.
	Grants = capability.Grants
	// Limits bound one call's time, memory, output, events and host calls.
	Limits = capability.Limits
	// KVGrant grants key-value storage in the principal's namespace.
	KVGrant = capability.KV
	// HTTPRule allows outbound HTTP to a URL prefix.
	HTTPRule = capability.HTTPRule
)

// DeriveCapability returns the capability of call callID of tool for p:
// the grants intersected with what the tool's manifest declares it needs,
// with the grants' limits, expiring after their timeout. It fails if the
// grants do not include the tool.
func DeriveCapability(p Principal, g Grants, tool *Tool, callID string, now time.Time) (Capability, error) {
	return capability.Derive(p, g, tool.Name, tool.Digest, tool.Needs, callID, now)
}
