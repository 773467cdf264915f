package policy

import (
	"maps"
	"slices"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// Explanation says what capability a principal would get for a call of one
// tool, and why: what `capstream policy explain` prints. Its JSON form is
// stable for scripts; String renders it for people.
type Explanation struct {
	Policy     string               `json:"policy"`     // the policy's Source
	RolesClaim string               `json:"rolesClaim"` // the claim the roles are read from
	Principal  capability.Principal `json:"principal"`
	// Roles are the principal's roles, each with whether the policy defines it.
	Roles []RoleMatch `json:"roles"`
	Tool  string      `json:"tool"`
	// Permitted reports whether the principal may call the tool; when it is
	// false the call is refused with 403 tool_not_permitted and the fields
	// below GrantedBy are empty.
	Permitted bool `json:"permitted"`
	// GrantedBy are the principal's roles that permit the tool.
	GrantedBy []RoleTool `json:"grantedBy,omitempty"`
	// PermittedByOthers, when the tool is not permitted, are the roles of the
	// policy that would permit it.
	PermittedByOthers []string `json:"permittedByOthers,omitempty"`
	// HTTP are the outbound HTTP rules the call gets, in the capability's order.
	HTTP []HTTPGrant `json:"http,omitempty"`
	// DroppedHTTP are the rules of the principal's roles that the call does
	// not get because the tool declares no need within them.
	DroppedHTTP []DroppedRule `json:"droppedHttp,omitempty"`
	// UnmetHTTP are needs the tool declares that no rule grants: requests
	// there will be refused.
	UnmetHTTP []UnmetNeed `json:"unmetHttp,omitempty"`
	// KV explains the storage grant; nil when the tool is not permitted.
	KV *KVExplanation `json:"kv,omitempty"`
	// Limits explain each limit, in the order timeout, memory, output,
	// events, host_calls.
	Limits []LimitExplanation `json:"limits,omitempty"`
	// Capability is what capability.Derive gives the call: the grants the
	// runtime would sign. Nil when the tool is not permitted.
	Capability *Granted `json:"capability,omitempty"`
}

// Granted is the part of a capability that the policy decides.
type Granted struct {
	HTTP   []capability.HTTPRule `json:"http"`
	KV     *capability.KV        `json:"kv"`
	Limits capability.Limits     `json:"limits"`
	// TimeoutMs is Limits.Timeout, which capability.Limits leaves out of JSON.
	TimeoutMs int64 `json:"timeoutMs"`
}

// RoleMatch is one of the principal's roles.
type RoleMatch struct {
	Name  string `json:"name"`
	Known bool   `json:"known"` // defined in the policy; an unknown role grants nothing
}

// RoleTool is a role that permits the tool, and how.
type RoleTool struct {
	Role     string `json:"role"`
	Wildcard bool   `json:"wildcard"` // by "*" rather than by name
}

// HTTPGrant is one rule of the call: a policy rule intersected with one of
// the tool's declared needs.
type HTTPGrant struct {
	Rule            capability.HTTPRule `json:"rule"`       // what the call gets
	PolicyRule      capability.HTTPRule `json:"policyRule"` // the rule of the policy it comes from
	Roles           []string            `json:"roles"`      // the principal's roles that have PolicyRule
	Need            capability.HTTPRule `json:"need"`       // the tool's need it was intersected with
	URLNarrowed     bool                `json:"urlNarrowed"`
	MethodsNarrowed bool                `json:"methodsNarrowed"`
	// MethodsNotAllowed are methods the need names that PolicyRule does not
	// allow. Another rule may allow them; if none does, such requests are
	// denied.
	MethodsNotAllowed []string `json:"methodsNotAllowed,omitempty"`
	Notes             []string `json:"notes,omitempty"`
}

// DroppedRule is a rule of the principal's roles that the call does not get.
type DroppedRule struct {
	Rule   capability.HTTPRule `json:"rule"`
	Roles  []string            `json:"roles"`
	Reason string              `json:"reason"`
}

// UnmetNeed is a need of the tool that no rule grants.
type UnmetNeed struct {
	Need   capability.HTTPRule `json:"need"`
	Reason string              `json:"reason"`
}

// KVExplanation explains the storage grant of the call.
type KVExplanation struct {
	Granted   *capability.KV `json:"granted"`             // what the call gets; null for no storage
	Namespace string         `json:"namespace,omitempty"` // where, when granted: tool/subject
	Roles     []RoleKV       `json:"roles,omitempty"`     // the principal's roles that grant storage
	Need      *capability.KV `json:"need"`                // what the tool declares; null for none
	Reason    string         `json:"reason"`
}

// RoleKV is the storage grant of one role.
type RoleKV struct {
	Role  string `json:"role"`
	Write bool   `json:"write"`
	Quota int64  `json:"quota,omitempty"`
}

// LimitExplanation is one limit of the call and where it comes from.
type LimitExplanation struct {
	Name string `json:"name"` // timeout, memory, output, events or host_calls
	// Value is in milliseconds for timeout, bytes for memory and output, a
	// count for events and host_calls.
	Value int64  `json:"value"`
	Text  string `json:"text"` // Value for people: "10s", "64MiB", "1000"
	// From is "role" when the value is one a role of the principal sets,
	// and "default" when it is the policy's default.
	From  string   `json:"from"`
	Roles []string `json:"roles,omitempty"` // the roles that set the value
	// Set are the principal's roles that set the limit, with their values.
	Set []RoleLimit `json:"set,omitempty"`
	// Unset are the principal's roles that do not set the limit, and so get
	// the default.
	Unset   []string `json:"unset,omitempty"`
	Default string   `json:"default"` // the policy's default, for comparison
}

// RoleLimit is a limit as one role sets it.
type RoleLimit struct {
	Role string `json:"role"`
	Text string `json:"text"`
}

// Explain returns what a call of tool by who would get under p, given the
// tool's declared needs, and why. It computes the capability exactly as the
// runtime does (Grants, then capability.Derive) and traces each part back to
// the roles it comes from.
func (p *Policy) Explain(who capability.Principal, tool string, needs capability.Needs) *Explanation {
	e := &Explanation{Policy: p.Source, RolesClaim: p.RolesClaim, Principal: who, Tool: tool}
	e.Principal.Roles = slices.Clone(who.Roles)
	for _, r := range who.Roles {
		if !slices.ContainsFunc(e.Roles, func(m RoleMatch) bool { return m.Name == r }) {
			_, ok := p.Roles[r]
			e.Roles = append(e.Roles, RoleMatch{Name: r, Known: ok})
		}
	}
	known := p.known(who.Roles)
	for _, r := range known {
		if t := p.Roles[r].Tools; slices.Contains(t, "*") {
			e.GrantedBy = append(e.GrantedBy, RoleTool{Role: r, Wildcard: true})
		} else if slices.Contains(t, tool) {
			e.GrantedBy = append(e.GrantedBy, RoleTool{Role: r})
		}
	}
	g := p.Grants(who.Roles)
	c, err := capability.Derive(who, g, tool, "", needs, "", time.Time{})
	if err != nil {
		for _, name := range slices.Sorted(maps.Keys(p.Roles)) {
			if t := p.Roles[name].Tools; slices.Contains(t, "*") || slices.Contains(t, tool) {
				e.PermittedByOthers = append(e.PermittedByOthers, name)
			}
		}
		return e
	}
	e.Permitted = true
	e.Capability = &Granted{HTTP: c.HTTP, KV: c.KV, Limits: c.Limits, TimeoutMs: c.Limits.Timeout.Milliseconds()}
	p.explainHTTP(e, known, g.HTTP, needs.HTTP)
	e.KV = p.explainKV(known, g.KV, needs.KV, c)
	e.Limits = p.explainLimits(known)
	return e
}

// explainHTTP traces each rule of the call to the policy rule and the need
// it comes from, in the order of capability.IntersectHTTP.
func (p *Policy) explainHTTP(e *Explanation, known []string, rules, needs []capability.HTTPRule) {
	for _, pr := range rules {
		roles := p.rolesWithRule(known, pr)
		granted := false
		for _, n := range needs {
			got := capability.IntersectHTTP([]capability.HTTPRule{pr}, []capability.HTTPRule{n})
			if len(got) == 0 {
				continue
			}
			granted = true
			hg := HTTPGrant{
				Rule: got[0], PolicyRule: pr, Roles: roles, Need: n,
				URLNarrowed:     canonicalURL(got[0].URL) != canonicalURL(pr.URL),
				MethodsNarrowed: !slices.Equal(methodsOf(got[0]), methodsOf(pr)),
			}
			if ms := methodsOf(got[0]); !slices.Contains(ms, "*") {
				for _, m := range methodsOf(n) {
					if m != "*" && !slices.Contains(ms, m) {
						hg.MethodsNotAllowed = append(hg.MethodsNotAllowed, m)
					}
				}
			}
			if n.AllowPrivate && !pr.AllowPrivate {
				hg.Notes = append(hg.Notes, "the tool asks for private addresses; the policy does not allow them here")
			}
			e.HTTP = append(e.HTTP, hg)
		}
		if !granted {
			e.DroppedHTTP = append(e.DroppedHTTP, DroppedRule{Rule: pr, Roles: roles, Reason: droppedReason(pr, needs)})
		}
	}
	for _, n := range needs {
		if len(capability.IntersectHTTP(rules, []capability.HTTPRule{n})) == 0 {
			e.UnmetHTTP = append(e.UnmetHTTP, UnmetNeed{Need: n, Reason: unmetReason(n, rules)})
		}
	}
}

// rolesWithRule returns the roles among known that have rule.
func (p *Policy) rolesWithRule(known []string, rule capability.HTTPRule) []string {
	var out []string
	for _, r := range known {
		if slices.ContainsFunc(p.Roles[r].HTTP, func(h capability.HTTPRule) bool { return sameRule(h, rule) }) {
			out = append(out, r)
		}
	}
	return out
}

// anyMethod returns r allowing every method, to ask whether URLs overlap.
func anyMethod(r capability.HTTPRule) []capability.HTTPRule {
	return []capability.HTTPRule{{URL: r.URL, Methods: []string{"*"}}}
}

func droppedReason(rule capability.HTTPRule, needs []capability.HTTPRule) string {
	if len(needs) == 0 {
		return "the tool declares no outbound HTTP"
	}
	for _, n := range needs {
		if len(capability.IntersectHTTP(anyMethod(rule), anyMethod(n))) > 0 {
			return "the tool needs this url only with methods the rule does not allow (" + joinMethods(methodsOf(n)) + ")"
		}
	}
	return "the tool declares no need within this url"
}

func unmetReason(need capability.HTTPRule, rules []capability.HTTPRule) string {
	if len(rules) == 0 {
		return "the principal's roles grant no outbound HTTP"
	}
	for _, r := range rules {
		if len(capability.IntersectHTTP(anyMethod(r), anyMethod(need))) > 0 {
			return "rules cover this url, but not for " + joinMethods(methodsOf(need))
		}
	}
	return "no rule of the principal's roles covers this url"
}

// canonicalURL returns the form capability.IntersectHTTP gives a rule URL
// (explicit port, cleaned path), so that two spellings of one prefix compare
// equal.
func canonicalURL(u string) string {
	if got := capability.IntersectHTTP(anyMethod(capability.HTTPRule{URL: u}), anyMethod(capability.HTTPRule{URL: u})); len(got) == 1 {
		return got[0].URL
	}
	return u
}

// methodsOf returns a rule's methods with the default made explicit.
func methodsOf(r capability.HTTPRule) []string {
	if len(r.Methods) == 0 {
		return []string{"GET"}
	}
	return r.Methods
}

// explainKV explains the storage grant of the call c.
func (p *Policy) explainKV(known []string, union, need *capability.KV, c capability.Capability) *KVExplanation {
	k := &KVExplanation{Granted: c.KV, Need: need}
	var writers []string
	for _, r := range known {
		if kv := p.Roles[r].KV; kv != nil {
			k.Roles = append(k.Roles, RoleKV{Role: r, Write: kv.Write, Quota: kv.Quota})
			if kv.Write {
				writers = append(writers, r)
			}
		}
	}
	if c.KV != nil {
		k.Namespace = c.Namespace()
	}
	switch {
	case union == nil && need == nil:
		k.Reason = "no role grants storage, and the tool declares none"
	case union == nil:
		k.Reason = "the tool declares storage, but no role of the principal grants it: its kv calls will be refused"
	case need == nil:
		k.Reason = "the principal's roles grant storage, but the tool declares none, so the call gets none"
	case c.KV.Write:
		k.Reason = "read-write: " + roleList(writers) + agree(writers, " grants", " grant") + " write, and the tool declares write"
	case union.Write:
		k.Reason = "read-only: " + roleList(writers) + agree(writers, " grants", " grant") + " write, but the tool declares only reads"
	case need.Write:
		k.Reason = "read-only: the tool declares write, but no role of the principal grants write"
	default:
		k.Reason = "read-only: no role grants write, and the tool declares only reads"
	}
	return k
}

// explainLimits explains each limit of the principal, as Grants computes
// it: the largest value any known role gets, a role that does not set the
// limit getting the default.
func (p *Policy) explainLimits(known []string) []LimitExplanation {
	fields := []struct {
		name string
		get  func(capability.Limits) int64
		text func(int64) string
	}{
		{"timeout", func(l capability.Limits) int64 { return int64(l.Timeout) }, func(v int64) string { return formatDuration(time.Duration(v)) }},
		{"memory", func(l capability.Limits) int64 { return l.Memory }, formatSize},
		{"output", func(l capability.Limits) int64 { return l.Output }, formatSize},
		{"events", func(l capability.Limits) int64 { return int64(l.Events) }, formatCount},
		{"host_calls", func(l capability.Limits) int64 { return int64(l.HostCalls) }, formatCount},
	}
	var out []LimitExplanation
	for _, f := range fields {
		def := f.get(p.Defaults)
		le := LimitExplanation{Name: f.name, From: "default", Default: f.text(def)}
		value := int64(0)
		for _, r := range known {
			v := f.get(p.Roles[r].Limits)
			if v != 0 {
				le.Set = append(le.Set, RoleLimit{Role: r, Text: f.text(v)})
			} else {
				le.Unset = append(le.Unset, r)
				v = def
			}
			value = max(value, v)
		}
		if len(known) == 0 {
			value = def
		}
		for _, s := range le.Set {
			if f.get(p.Roles[s.Role].Limits) == value {
				le.From = "role"
				le.Roles = append(le.Roles, s.Role)
			}
		}
		le.Value, le.Text = value, f.text(value)
		if f.name == "timeout" {
			le.Value = time.Duration(value).Milliseconds()
		}
		out = append(out, le)
	}
	return out
}
