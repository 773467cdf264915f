package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/capstream/capstream/internal/capability"
)

// String renders e for people: the text `capstream policy explain` prints.
func (e *Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tool %q for subject %q\n", e.Tool, e.Principal.Subject)
	fmt.Fprintf(&b, "  policy  %s (roles from claim %q)\n", e.Policy, e.RolesClaim)
	b.WriteString("  roles   ")
	if len(e.Roles) == 0 {
		b.WriteString("none: the principal has no role, so it gets nothing\n")
	} else {
		for i, r := range e.Roles {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(r.Name)
			if !r.Known {
				b.WriteString(" (not in the policy: grants nothing)")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")

	if !e.Permitted {
		fmt.Fprintf(&b, "NOT PERMITTED: no role of the principal grants tool %q; a call is refused with 403 tool_not_permitted.\n", e.Tool)
		if len(e.PermittedByOthers) > 0 {
			fmt.Fprintf(&b, "  Roles of the policy that grant it: %s.\n", strings.Join(e.PermittedByOthers, ", "))
		} else {
			b.WriteString("  No role of the policy grants it.\n")
		}
		return b.String()
	}
	var by []string
	for _, g := range e.GrantedBy {
		if g.Wildcard {
			by = append(by, g.Role+` (by "*")`)
		} else {
			by = append(by, g.Role)
		}
	}
	fmt.Fprintf(&b, "PERMITTED by %s%s.\n\n", roleWord(by), strings.Join(by, ", "))

	e.writeHTTP(&b)
	e.writeKV(&b)
	e.writeLimits(&b)
	return b.String()
}

func (e *Explanation) writeHTTP(b *strings.Builder) {
	if len(e.HTTP)+len(e.DroppedHTTP)+len(e.UnmetHTTP) == 0 {
		b.WriteString("Outbound HTTP: none (no role grants any, and the tool declares none)\n\n")
		return
	}
	b.WriteString("Outbound HTTP: each rule of the roles, narrowed to what the tool declares it needs\n")
	for _, g := range e.HTTP {
		fmt.Fprintf(b, "  granted  %s\n", formatRule(g.Rule))
		fmt.Fprintf(b, "             from rule  %s  (%s%s)\n", formatRule(g.PolicyRule), roleWord(g.Roles), strings.Join(g.Roles, ", "))
		fmt.Fprintf(b, "             tool need  %s\n", formatRule(g.Need))
		var how []string
		if g.URLNarrowed {
			how = append(how, "url narrowed to the need")
		}
		if g.MethodsNarrowed {
			how = append(how, "methods narrowed to "+joinMethods(methodsOf(g.Rule)))
		}
		if len(how) == 0 {
			how = append(how, "as the rule grants it")
		}
		if len(g.MethodsNotAllowed) > 0 {
			how = append(how, "the rule does not allow the tool's "+strings.Join(g.MethodsNotAllowed, ","))
		}
		how = append(how, g.Notes...)
		fmt.Fprintf(b, "             %s\n", strings.Join(how, "; "))
	}
	for _, d := range e.DroppedHTTP {
		fmt.Fprintf(b, "  dropped  %s  (%s%s)\n", formatRule(d.Rule), roleWord(d.Roles), strings.Join(d.Roles, ", "))
		fmt.Fprintf(b, "             %s\n", d.Reason)
	}
	for _, u := range e.UnmetHTTP {
		fmt.Fprintf(b, "  refused  %s  (declared by the tool; requests there will be denied)\n", formatRule(u.Need))
		fmt.Fprintf(b, "             %s\n", u.Reason)
	}
	b.WriteString("\n")
}

func (e *Explanation) writeKV(b *strings.Builder) {
	k := e.KV
	if k == nil {
		return
	}
	switch {
	case k.Granted == nil:
		b.WriteString("KV storage: none\n")
	case k.Granted.Write:
		fmt.Fprintf(b, "KV storage: read-write, quota %s, namespace %q\n", formatSize(k.Granted.Quota), k.Namespace)
	default:
		fmt.Fprintf(b, "KV storage: read-only, namespace %q\n", k.Namespace)
	}
	fmt.Fprintf(b, "  %s\n", k.Reason)
	for _, r := range k.Roles {
		if r.Write {
			fmt.Fprintf(b, "  role %s: write, quota %s\n", r.Role, formatSize(r.Quota))
		} else {
			fmt.Fprintf(b, "  role %s: read\n", r.Role)
		}
	}
	b.WriteString("\n")
}

func (e *Explanation) writeLimits(b *strings.Builder) {
	b.WriteString("Limits: the largest any role gets; a role that does not set one gets the default\n")
	for _, l := range e.Limits {
		var src string
		if l.From == "role" {
			src = roleList(l.Roles)
			var others []string
			for _, s := range l.Set {
				if !slices.Contains(l.Roles, s.Role) {
					others = append(others, s.Role+" "+s.Text)
				}
			}
			if len(others) > 0 {
				src += "; lower: " + strings.Join(others, ", ")
			}
			src += " (default " + l.Default + ")"
		} else {
			src = "default"
			if len(l.Set) > 0 {
				var lower []string
				for _, s := range l.Set {
					lower = append(lower, s.Role+" "+s.Text)
				}
				src += ", as " + roleList(l.Unset) + agree(l.Unset, " sets", " set") + " none; lower: " + strings.Join(lower, ", ")
			}
		}
		fmt.Fprintf(b, "  %-10s  %-7s  %s\n", l.Name, l.Text, src)
	}
}

// formatRule renders a rule on one line: "GET,POST https://x/ allow_private secrets: A".
func formatRule(r capability.HTTPRule) string {
	s := joinMethods(methodsOf(r)) + " " + r.URL
	if r.URL == "*" {
		s += " (every url)"
	}
	if r.AllowPrivate {
		s += " allow_private"
	}
	if len(r.Secrets) > 0 {
		s += " secrets: " + strings.Join(r.Secrets, ", ")
	}
	return s
}

// joinMethods renders methods: "GET,POST", or "any method" for "*".
func joinMethods(m []string) string {
	if slices.Contains(m, "*") {
		return "any method"
	}
	return strings.Join(m, ",")
}

func formatCount(n int64) string { return strconv.FormatInt(n, 10) }

// roleWord returns "role " or "roles " for a list of role names.
func roleWord(roles []string) string {
	if len(roles) == 1 {
		return "role "
	}
	return "roles "
}

// roleList renders role names for a sentence: "role a", "roles a, b".
func roleList(roles []string) string {
	return roleWord(roles) + strings.Join(roles, ", ")
}

// agree returns one or many to agree in number with roles.
func agree(roles []string, one, many string) string {
	if len(roles) == 1 {
		return one
	}
	return many
}
