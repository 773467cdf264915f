package policy

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"

	"github.com/capstream/capstream/internal/capability"
)

// MaxFileSize is the largest policy file Load reads, 4MiB: far more than a
// policy needs, and small enough that a wrong path (a log, a binary) fails
// fast rather than being parsed.
const MaxFileSize = 4 << 20

// Bounds of the memory limit: one Wasm page, and the 32-bit address space.
const (
	minMemory = 64 << 10
	maxMemory = 4 << 30
)

var (
	toolName   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	secretName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`) // as the egress client reads {{secret:NAME}}
	// methods are the HTTP methods a rule may name, in the order rules list
	// them. CONNECT and TRACE are not among them: the egress client refuses both.
	methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// The keys of each mapping of the format, for unknown-key messages.
var (
	topKeys      = []string{"roles_claim", "defaults", "roles"}
	defaultsKeys = []string{"limits"}
	roleKeys     = []string{"tools", "http", "kv", "limits"}
	ruleKeys     = []string{"url", "methods", "allow_private", "secrets"}
	kvKeys       = []string{"write", "quota"}
	limitKeys    = []string{"timeout", "memory", "output", "events", "host_calls"}
)

// Load reads and parses the policy file at path; see Parse.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Err: &problem{kind: ErrTooLarge, msg: fmt.Sprintf("larger than %s; is this the policy file?", formatSize(MaxFileSize))}}
	}
	return Parse(path, data)
}

// Parse parses and validates a policy file; name is used in errors and as
// the policy's Source. It reports problems as *Error values with the line
// they are on: one *Error, or, when there are several, up to ten joined with
// errors.Join (errors.As finds the first).
func Parse(name string, data []byte) (*Policy, error) {
	d := &decoder{file: name}
	body, err := d.parseYAML(data)
	if err != nil {
		return nil, err
	}
	if body == nil {
		return nil, &Error{File: name, Err: &problem{kind: ErrEmpty, msg: `empty policy file; a policy needs at least "roles:"`}}
	}
	if d.scanAnchors(body); len(d.errs) > 0 {
		return nil, d.err() // with an alias in doubt, whatever else is reported could mislead
	}
	p := &Policy{RolesClaim: DefaultRolesClaim, Defaults: DefaultLimits(), Roles: map[string]Role{}, Source: name}
	pairs, ok := d.mapping(body, "a policy file")
	hasRoles := false
	for _, kv := range pairs {
		switch kv.key {
		case "roles_claim":
			if s, ok := d.string(kv.value, `"roles_claim"`); ok {
				if strings.TrimSpace(s) == "" {
					d.errorf(kv.value, ErrInvalid, `"roles_claim" must name a claim`)
				}
				p.RolesClaim = s
			}
		case "defaults":
			p.Defaults = d.defaults(kv.value).Or(DefaultLimits())
		case "roles":
			hasRoles = true
			d.roles(kv.value, p.Roles)
		default:
			if strings.HasPrefix(kv.key, "x-") {
				continue // a place for shared parts to anchor, as in Compose files
			}
			d.unknownKey(kv, "at the top level", topKeys)
		}
	}
	if ok && !hasRoles {
		d.errorf(nil, ErrMissing, `missing key "roles"; write "roles: {}" for a policy that permits nothing`)
	}
	if len(d.errs) > 0 {
		return nil, d.err()
	}
	return p, nil
}

// defaults reads the defaults mapping: its limits, partial.
func (d *decoder) defaults(n ast.Node) capability.Limits {
	var lim capability.Limits
	pairs, _ := d.mapping(n, `"defaults"`)
	for _, kv := range pairs {
		switch kv.key {
		case "limits":
			lim = d.limits(kv.value, "defaults.limits")
		default:
			d.unknownKey(kv, `in "defaults"`, defaultsKeys)
		}
	}
	return lim
}

// roles reads the roles mapping into roles.
func (d *decoder) roles(n ast.Node, roles map[string]Role) {
	pairs, _ := d.mapping(n, `"roles"`)
	for _, kv := range pairs {
		if msg := checkRoleName(kv.key); msg != "" {
			d.errorf(kv.keyAt, ErrInvalid, "role name %q: %s", kv.key, msg)
			continue
		}
		roles[kv.key] = d.role(kv.value, kv.key)
	}
}

// checkRoleName returns what is wrong with a role name, or "". Role names
// come from an identity provider, so they may hold spaces and most
// punctuation; a string roles claim is split on spaces and commas, though,
// so such roles can be given only in an array claim.
func checkRoleName(name string) string {
	switch {
	case name == "":
		return "a role needs a name"
	case len(name) > 128:
		return "longer than 128 bytes"
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case strings.TrimSpace(name) != name:
		return "leading or trailing space"
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return "holds a control character"
	}
	return ""
}

// role reads one role; name is its name, for messages.
func (d *decoder) role(n ast.Node, name string) Role {
	var r Role
	what := fmt.Sprintf("role %q", name)
	pairs, _ := d.mapping(n, what)
	for _, kv := range pairs {
		switch kv.key {
		case "tools":
			r.Tools = d.tools(kv.value, what)
		case "http":
			items, _ := d.sequence(kv.value, `"http" of `+what)
			for i, item := range items {
				if rule, ok := d.rule(item, fmt.Sprintf("http rule %d of %s", i+1, what)); ok {
					if !slices.ContainsFunc(r.HTTP, func(h capability.HTTPRule) bool { return sameRule(h, rule) }) {
						r.HTTP = append(r.HTTP, rule)
					}
				}
			}
		case "kv":
			r.KV = d.kv(kv.value, "kv of "+what)
		case "limits":
			r.Limits = d.limits(kv.value, "limits of "+what)
		default:
			d.unknownKey(kv, "in "+what, roleKeys)
		}
	}
	return r
}

// tools reads a role's tool list.
func (d *decoder) tools(n ast.Node, what string) []string {
	items, _ := d.sequence(n, `"tools" of `+what)
	var tools []string
	for _, item := range items {
		name, ok := d.string(item, "a tool name in "+what)
		if !ok {
			continue
		}
		if name != "*" && !toolName.MatchString(name) {
			d.errorf(item, ErrInvalid, `tool name %q in %s: want lower-case letters, digits, "_" and "-", starting with a letter (at most 64), or "*" for every tool`, name, what)
			continue
		}
		tools = append(tools, name)
	}
	return normalizeTools(tools)
}

// rule reads one HTTP rule; ok is false when it has no valid URL.
func (d *decoder) rule(n ast.Node, what string) (capability.HTTPRule, bool) {
	var r capability.HTTPRule
	pairs, ok := d.mapping(n, what)
	if !ok {
		return r, false
	}
	var urlAt, secretsAt ast.Node
	for _, kv := range pairs {
		switch kv.key {
		case "url":
			urlAt = kv.value
			if s, ok := d.string(kv.value, "url of "+what); ok {
				if err := capability.ParseRuleURL(s); err != nil {
					d.errorf(kv.value, ErrInvalid, "url of %s: %s", what, strings.TrimPrefix(err.Error(), "capability: "))
				} else {
					r.URL = s
				}
			}
		case "methods":
			r.Methods = d.methods(kv.value, "methods of "+what)
		case "allow_private":
			r.AllowPrivate, _ = d.bool(kv.value, "allow_private of "+what)
		case "secrets":
			secretsAt = kv.value
			r.Secrets = d.secrets(kv.value, "secrets of "+what)
		default:
			d.unknownKey(kv, "in "+what, ruleKeys)
		}
	}
	if urlAt == nil {
		d.errorf(n, ErrMissing, `missing key "url" in %s`, what)
	}
	if r.URL == "*" && len(r.Secrets) > 0 {
		d.errorf(secretsAt, ErrInvalid, `secrets of %s: a secret needs a concrete url; granted for "*" it could be sent anywhere`, what)
	}
	if r.Methods == nil {
		r.Methods = []string{"GET"}
	}
	return r, r.URL != ""
}

// methods reads a rule's methods: known names in upper case, or "*".
func (d *decoder) methods(n ast.Node, what string) []string {
	items, ok := d.sequence(n, what)
	if ok && len(items) == 0 {
		d.errorf(n, ErrInvalid, `%s: an empty list allows nothing; leave "methods" out for GET only, or list them`, what)
		return nil
	}
	var set []string
	for _, item := range items {
		m, ok := d.string(item, "a method in "+what)
		switch {
		case !ok:
		case m == "*" || slices.Contains(methods, m):
			set = append(set, m)
		case slices.Contains(methods, strings.ToUpper(m)):
			d.errorf(item, ErrInvalid, "method %q in %s: methods are upper case (%s)", m, what, strings.ToUpper(m))
		default:
			d.errorf(item, ErrInvalid, `method %q in %s: want one of %s, or "*" for any`, m, what, strings.Join(methods, ", "))
		}
	}
	if slices.Contains(set, "*") {
		return []string{"*"}
	}
	var out []string
	for _, m := range methods { // canonical order, each once, so equal rules compare equal
		if slices.Contains(set, m) {
			out = append(out, m)
		}
	}
	return out
}

// secrets reads a rule's secret names.
func (d *decoder) secrets(n ast.Node, what string) []string {
	items, _ := d.sequence(n, what+` (a list of secret names)`)
	var out []string
	for _, item := range items {
		s, ok := d.string(item, "a secret name in "+what)
		if !ok {
			continue
		}
		if !secretName.MatchString(s) {
			d.errorf(item, ErrInvalid, `secret name %q in %s: want letters, digits, "_", "." and "-" (a name, never a value)`, s, what)
			continue
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// kv reads a kv grant; nil when it is empty or broken.
func (d *decoder) kv(n ast.Node, what string) *capability.KV {
	pairs, ok := d.mapping(n, what)
	if !ok {
		return nil
	}
	kv := &capability.KV{}
	var quotaAt ast.Node
	for _, p := range pairs {
		switch p.key {
		case "write":
			kv.Write, _ = d.bool(p.value, "write of "+what)
		case "quota":
			quotaAt = p.value
			if q, ok := d.size(p.value, "quota of "+what); ok {
				if q <= 0 {
					d.errorf(p.value, ErrInvalid, "quota of %s must be positive", what)
				}
				kv.Quota = q
			}
		default:
			d.unknownKey(p, "in "+what, kvKeys)
		}
	}
	switch {
	case kv.Write && quotaAt == nil:
		d.errorf(n, ErrMissing, `missing key "quota" in %s: a grant to write needs a quota, e.g. {write: true, quota: 1MiB}`, what)
	case !kv.Write && quotaAt != nil:
		d.errorf(quotaAt, ErrInvalid, "quota of %s has no effect without write: true", what)
	}
	return kv
}

// limits reads a limits mapping; fields it does not set stay zero.
func (d *decoder) limits(n ast.Node, what string) capability.Limits {
	var l capability.Limits
	pairs, _ := d.mapping(n, what)
	for _, p := range pairs {
		field := p.key + " in " + what
		switch p.key {
		case "timeout":
			if t, ok := d.duration(p.value, field); ok {
				if t < time.Millisecond {
					d.errorf(p.value, ErrInvalid, "%s must be at least 1ms, not %s", field, nodeText(p.value))
				}
				l.Timeout = t
			}
		case "memory":
			if m, ok := d.size(p.value, field); ok {
				if m < minMemory || m > maxMemory {
					d.errorf(p.value, ErrInvalid, "%s must be between 64KiB (one Wasm page) and 4GiB, not %s", field, nodeText(p.value))
				}
				l.Memory = m
			}
		case "output":
			if o, ok := d.size(p.value, field); ok {
				if o <= 0 {
					d.errorf(p.value, ErrInvalid, "%s must be positive", field)
				}
				l.Output = o
			}
		case "events":
			l.Events, _ = d.count(p.value, field)
		case "host_calls":
			l.HostCalls, _ = d.count(p.value, field)
		default:
			d.unknownKey(p, "in "+what, limitKeys)
		}
	}
	return l
}
