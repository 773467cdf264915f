package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// maxNodes bounds the nodes the decoder visits, aliases expanded, so a file
// of nested aliases ("billion laughs") cannot make a reload spin.
const maxNodes = 100_000

// decoder walks the YAML syntax tree of a policy file. It reads the tree
// itself, rather than unmarshalling into structs, so that every problem can
// name its line and the role or rule it is in. It collects problems instead
// of stopping at the first, so one run of Parse shows most of what to fix.
type decoder struct {
	file      string
	anchors   map[string]*ast.AnchorNode // every anchor of the file, by name; see scanAnchors
	visited   int
	exhausted bool // visited passed maxNodes
	errs      []error
}

// errorf records a problem of kind at the line of n (0 when n is nil).
func (d *decoder) errorf(n ast.Node, kind error, format string, args ...any) {
	if len(d.errs) >= maxProblems {
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: lineOf(n), Err: &problem{kind: kind, msg: fmt.Sprintf(format, args...)}})
}

// err returns the problems found: nil, the one *Error, or all of them joined.
func (d *decoder) err() error {
	if len(d.errs) == 1 {
		return d.errs[0]
	}
	return errors.Join(d.errs...)
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// parseYAML parses data into the body of its single document; nil for a
// document with nothing in it. The YAML parser is third-party code fed an
// operator's file on every reload, so a panic in it is turned into an error
// rather than allowed to take the server down.
func (d *decoder) parseYAML(data []byte) (body ast.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			body, err = nil, &Error{File: d.file, Err: &problem{kind: ErrSyntax, msg: fmt.Sprintf("the YAML parser failed: %v", r)}}
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		line := 0
		msg := err.Error()
		if errors.As(err, &ye) {
			msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				line = tk.Position.Line
			}
		}
		return nil, &Error{File: d.file, Line: line, Err: &problem{kind: ErrSyntax, msg: msg}}
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	switch len(docs) {
	case 0:
		return nil, nil
	case 1:
		return docs[0].Body, nil
	}
	return nil, &Error{File: d.file, Line: lineOf(docs[1].Body), Err: &problem{kind: ErrSyntax, msg: "more than one YAML document; a policy file holds one"}}
}

// scanAnchors reads every anchor and alias of the document at body, in the
// order they appear, before anything else is decoded. It records the
// anchors in d.anchors and refuses what would make an alias mean something
// other than what a reader of the file, or another YAML tool, takes it to
// mean: an anchor name defined twice (YAML lets the later one replace the
// earlier, so the meaning of an alias would depend on where it stands), an
// alias to no anchor, an alias before its anchor, and an alias inside its
// own anchor. Walking the syntax tree once, aliases unexpanded, costs time
// in proportion to the file.
func (d *decoder) scanAnchors(body ast.Node) {
	d.anchors = map[string]*ast.AnchorNode{}
	var aliases []*ast.AliasNode
	ast.Walk(&anchorScan{d: d, aliases: &aliases}, body)
	for _, a := range aliases {
		name := nodeText(a.Value)
		if anchor, ok := d.anchors[name]; ok && !before(anchor, a) {
			d.errorf(a, ErrInvalid, "alias *%s comes before its anchor &%s on line %d; YAML reads a file from the top, so define the anchor first", name, name, lineOf(anchor))
		} else if !ok {
			d.errorf(a, ErrInvalid, "alias *%s refers to no anchor; define it with &%s before the alias", name, name)
		}
	}
}

// anchorScan is the ast.Visitor of scanAnchors. Each anchor's value is
// walked with a visitor of its own, so that an alias can tell the anchors it
// is inside of.
type anchorScan struct {
	d       *decoder
	aliases *[]*ast.AliasNode // aliases not yet defined where they stand
	anchor  *ast.AnchorNode   // the innermost anchor being walked; nil at the top
	outer   *anchorScan       // the visitor of the enclosing anchor
}

func (s *anchorScan) Visit(n ast.Node) ast.Visitor {
	switch v := n.(type) {
	case *ast.AnchorNode:
		name := nodeText(v.Name)
		if first, ok := s.d.anchors[name]; ok {
			s.d.errorf(v, ErrInvalid, "anchor &%s is defined twice, on lines %d and %d; give each anchor its own name", name, lineOf(first), lineOf(v))
			return &anchorScan{d: s.d, aliases: s.aliases, outer: s} // keep the first; still walk the value
		}
		s.d.anchors[name] = v
		return &anchorScan{d: s.d, aliases: s.aliases, anchor: v, outer: s}
	case *ast.AliasNode:
		name := nodeText(v.Value)
		if _, ok := s.d.anchors[name]; !ok {
			*s.aliases = append(*s.aliases, v) // undefined, or defined further down: told apart at the end
			return nil
		}
		for o := s; o != nil; o = o.outer {
			if o.anchor != nil && nodeText(o.anchor.Name) == name {
				s.d.errorf(v, ErrInvalid, "alias *%s is inside its own anchor &%s (line %d); a value cannot contain itself", name, name, lineOf(o.anchor))
				break
			}
		}
		return nil
	}
	return s
}

// before reports whether node a starts before node b in the file; true when
// either position is unknown.
func before(a, b ast.Node) bool {
	ta, tb := a.GetToken(), b.GetToken()
	if ta == nil || tb == nil || ta.Position == nil || tb.Position == nil {
		return true
	}
	pa, pb := ta.Position, tb.Position
	return pa.Line < pb.Line || pa.Line == pb.Line && pa.Column < pb.Column
}

// resolve follows anchors and aliases to the node that holds a value.
// scanAnchors has read every anchor by then, so an alias means what it means
// in YAML. It returns nil, with a problem recorded, for an unknown alias, a
// tag, or when the file expands to too many nodes.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for range 100 {
		d.visited++
		if d.visited > maxNodes {
			if !d.exhausted {
				d.exhausted = true
				d.errorf(n, ErrTooLarge, "the policy expands to more than %d YAML nodes (aliases included)", maxNodes)
			}
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			target, ok := d.anchors[nodeText(v.Value)]
			if !ok {
				d.errorf(n, ErrInvalid, "alias *%s refers to no anchor; define it with &%s before the alias", nodeText(v.Value), nodeText(v.Value))
				return nil
			}
			n = target.Value
		case *ast.TagNode:
			d.errorf(n, ErrType, "YAML tags such as %s are not supported in a policy file", nodeText(v))
			return nil
		default:
			return n
		}
	}
	d.errorf(n, ErrInvalid, "aliases nested too deeply")
	return nil
}

// nodeText returns the text of a node's token: for a key or a scalar, what
// the file says.
func nodeText(n ast.Node) string {
	if n == nil {
		return ""
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.TagNode:
		if v.Start != nil {
			return v.Start.Value
		}
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// kindOf names the YAML type of n for messages.
func kindOf(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number (" + nodeText(v) + ")"
	case *ast.BoolNode:
		return "a boolean (" + nodeText(v) + ")"
	case *ast.NullNode:
		return "empty"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return "a " + n.Type().String()
}

// pair is one key and value of a mapping, merge keys expanded.
type pair struct {
	key   string
	keyAt ast.Node
	value ast.Node
}

// mapping returns the pairs of the mapping at n, with the values of merge
// keys ("<<: *base") after the explicit pairs and only where the mapping
// does not set the key itself. what describes n for messages ("role
// \"analyst\""). It returns ok false, with a problem recorded, when n is not
// a mapping; ok true with no pairs when n is empty (YAML null).
func (d *decoder) mapping(n ast.Node, what string) (pairs []pair, ok bool) {
	n = d.resolve(n)
	var values []*ast.MappingValueNode
	switch v := n.(type) {
	case nil:
		return nil, false
	case *ast.NullNode:
		return nil, true
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		d.errorf(n, ErrType, "%s must be a mapping, not %s", what, kindOf(n))
		return nil, false
	}
	var merged []ast.Node
	for _, mv := range values {
		if mv.Key != nil && mv.Key.IsMergeKey() {
			merged = append(merged, mv.Value)
			continue
		}
		switch mv.Key.(type) {
		case *ast.AnchorNode, *ast.AliasNode, *ast.TagNode, *ast.MappingKeyNode:
			d.errorf(mv.Key, ErrType, "a key in %s must be written out as plain text; anchors, aliases, tags and \"?\" keys are not supported as keys in a policy file", what)
			continue
		}
		pairs = append(pairs, pair{key: nodeText(mv.Key), keyAt: mv.Key, value: mv.Value})
	}
	for _, m := range merged {
		m = d.resolve(m)
		var sources []ast.Node
		if seq, isSeq := m.(*ast.SequenceNode); isSeq {
			sources = seq.Values
		} else if m != nil {
			sources = []ast.Node{m}
		}
		for _, src := range sources {
			more, ok := d.mapping(src, "a merge key's value in "+what)
			if !ok {
				continue
			}
			for _, p := range more {
				if !slices.ContainsFunc(pairs, func(q pair) bool { return q.key == p.key }) {
					pairs = append(pairs, p)
				}
			}
		}
	}
	return pairs, true
}

// unknownKey records an unknown key, suggesting the nearest known one;
// where says where it is ("in role \"analyst\"").
func (d *decoder) unknownKey(p pair, where string, known []string) {
	msg := fmt.Sprintf("unknown key %q %s", p.key, where)
	if s := suggest(p.key, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += " (known keys: " + strings.Join(known, ", ") + ")"
	}
	d.errorf(p.keyAt, ErrUnknownKey, "%s", msg)
}

// sequence returns the items of the list at n; ok false, with a problem
// recorded, when n is not a list; nil items and ok true when n is empty.
func (d *decoder) sequence(n ast.Node, what string) (items []ast.Node, ok bool) {
	n = d.resolve(n)
	switch v := n.(type) {
	case nil:
		return nil, false
	case *ast.NullNode:
		return nil, true
	case *ast.SequenceNode:
		return v.Values, true
	}
	d.errorf(n, ErrType, "%s must be a list, not %s", what, kindOf(n))
	return nil, false
}

// string returns the string at n; ok false, with a problem recorded, when n
// is not a string. A number or boolean where a string belongs is refused
// with a hint to quote it, not converted.
func (d *decoder) string(n ast.Node, what string) (string, bool) {
	n = d.resolve(n)
	switch v := n.(type) {
	case nil:
		return "", false
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value, true
		}
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		d.errorf(n, ErrType, "%s must be a string, not %s; quote it if you mean the text", what, kindOf(n))
		return "", false
	}
	d.errorf(n, ErrType, "%s must be a string, not %s", what, kindOf(n))
	return "", false
}

// bool returns the boolean at n.
func (d *decoder) bool(n ast.Node, what string) (bool, bool) {
	n = d.resolve(n)
	if v, ok := n.(*ast.BoolNode); ok {
		return v.Value, true
	}
	if n != nil {
		d.errorf(n, ErrType, "%s must be true or false, not %s", what, kindOf(n))
	}
	return false, false
}

// count returns the positive integer at n, at most math.MaxInt32.
func (d *decoder) count(n ast.Node, what string) (int, bool) {
	n = d.resolve(n)
	v, ok := n.(*ast.IntegerNode)
	if !ok {
		if n != nil {
			d.errorf(n, ErrType, "%s must be a whole number, not %s", what, kindOf(n))
		}
		return 0, false
	}
	var x int64
	switch i := v.Value.(type) {
	case int64:
		x = i
	case uint64:
		x = math.MaxInt64
		if i <= math.MaxInt64 {
			x = int64(i)
		}
	default:
		d.errorf(n, ErrType, "%s must be a whole number, not %s", what, kindOf(n))
		return 0, false
	}
	if x <= 0 || x > math.MaxInt32 {
		d.errorf(n, ErrInvalid, "%s must be between 1 and %d, not %s", what, math.MaxInt32, nodeText(n))
		return 0, false
	}
	return int(x), true
}

// size returns the size at n: a whole number of bytes, or a string with a
// unit such as "64MiB".
func (d *decoder) size(n ast.Node, what string) (int64, bool) {
	n = d.resolve(n)
	var s string
	switch v := n.(type) {
	case nil:
		return 0, false
	case *ast.IntegerNode:
		s = nodeText(v)
		if i, ok := v.Value.(int64); ok {
			if i < 0 {
				d.errorf(n, ErrInvalid, "%s must be positive, not %d", what, i)
				return 0, false
			}
			s = fmt.Sprint(i) // 0x10, 1_000 and the like, as the YAML parser read them
		}
	case *ast.StringNode:
		s = v.Value
	default:
		d.errorf(n, ErrType, "%s must be a size such as 64MiB, not %s", what, kindOf(n))
		return 0, false
	}
	b, err := parseSize(s)
	if err != nil {
		d.errorf(n, ErrInvalid, "%s: %v", what, err)
		return 0, false
	}
	return b, true
}

// suggest returns the known key nearest to key when it is a plausible typo.
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, by bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// duration returns the duration at n: a string such as "30s" or "1h30m".
func (d *decoder) duration(n ast.Node, what string) (time.Duration, bool) {
	n = d.resolve(n)
	switch v := n.(type) {
	case nil:
		return 0, false
	case *ast.StringNode:
		dur, err := parseDuration(v.Value)
		if err != nil {
			d.errorf(n, ErrInvalid, "%s: %v", what, err)
			return 0, false
		}
		return dur, true
	case *ast.IntegerNode, *ast.FloatNode:
		d.errorf(n, ErrType, "%s must be a duration with a unit such as 30s, not the bare number %s", what, nodeText(n))
		return 0, false
	}
	d.errorf(n, ErrType, "%s must be a duration such as 30s, not %s", what, kindOf(n))
	return 0, false
}
