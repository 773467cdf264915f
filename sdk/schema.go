package sdk

import (
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Schema returns the JSON Schema (2020-12) the SDK derives from T, as it
// does for a tool's input type:
//
//   - a struct is an object with "additionalProperties": false; its exported
//     fields are properties named as encoding/json names them (json tag,
//     "-" skipped, embedded structs flattened), in field order; a field is
//     required unless its json tag says omitempty or omitzero;
//   - string, bool, integers (unsigned ones with "minimum": 0, sized ones
//     with their range) and floats map to their JSON types; []byte is a
//     base64 string; time.Time a date-time string; a type with its own
//     MarshalText or UnmarshalText a string; with its own JSON methods, or
//     an interface, any value;
//   - slices and arrays are arrays, maps with string or integer keys
//     objects, a pointer the schema of what it points to;
//   - a struct type that contains itself is put in "$defs" and referred to.
//
// A field's jsonschema tag adds keywords: comma-separated key=value pairs
// from title, description, enum (values separated by |), default, format,
// pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength,
// maxLength, minItems and maxItems. A value may contain commas unless what
// follows one looks like "key=". On an array field, enum, format, pattern,
// the bounds and the lengths apply to its items. For example:
//
//	Op    string `json:"op" jsonschema:"description=What to do,enum=add|list|clear"`
//	Steps int    `json:"steps" jsonschema:"minimum=1,maximum=1000"`
//
// Schema fails for a channel, function or complex type, a map with other
// keys, and a tag with an unknown key or a value that does not fit the type.
func Schema[T any]() (json.RawMessage, error) {
	s, err := reflectSchema(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	return marshal(s)
}

// schema is one JSON Schema, with its keywords in the order they are
// written.
type schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 string             `json:"type,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Enum                 []json.RawMessage  `json:"enum,omitempty"`
	Default              json.RawMessage    `json:"default,omitempty"`
	Format               string             `json:"format,omitempty"`
	ContentEncoding      string             `json:"contentEncoding,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	Minimum              json.Number        `json:"minimum,omitempty"`
	Maximum              json.Number        `json:"maximum,omitempty"`
	ExclusiveMinimum     json.Number        `json:"exclusiveMinimum,omitempty"`
	ExclusiveMaximum     json.Number        `json:"exclusiveMaximum,omitempty"`
	MinLength            *int               `json:"minLength,omitempty"`
	MaxLength            *int               `json:"maxLength,omitempty"`
	Items                *schema            `json:"items,omitempty"`
	MinItems             *int               `json:"minItems,omitempty"`
	MaxItems             *int               `json:"maxItems,omitempty"`
	Properties           *properties        `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"` // false or *schema
	Defs                 map[string]*schema `json:"$defs,omitempty"`
}

// properties keep their fields' order when encoded.
type properties struct {
	names   []string
	schemas []*schema
}

// MarshalJSON encodes the properties as an object, in order.
func (p *properties) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, name := range p.names {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		v, err := marshal(p.schemas[i])
		if err != nil {
			return nil, err
		}
		buf = append(append(append(buf, k...), ':'), v...)
	}
	return append(buf, '}'), nil
}

// reflectSchema derives the schema of t.
func reflectSchema(t reflect.Type) (*schema, error) {
	r := &reflector{root: t, onStack: map[reflect.Type]bool{}, defNames: map[reflect.Type]string{}}
	s, err := r.typ(t)
	if err != nil {
		return nil, err
	}
	if len(r.defs) > 0 {
		s.Defs = r.defs
	}
	return s, nil
}

// reflector derives the schema of one root type.
type reflector struct {
	root     reflect.Type
	onStack  map[reflect.Type]bool   // struct types being derived
	defNames map[reflect.Type]string // struct types that contain themselves
	defs     map[string]*schema      // their schemas, by def name
}

var (
	typeTime            = reflect.TypeFor[time.Time]()
	typeRawMessage      = reflect.TypeFor[json.RawMessage]()
	typeJSONMarshaler   = reflect.TypeFor[json.Marshaler]()
	typeJSONUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	typeTextMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	typeTextUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// implements reports whether t or *t implements iface.
func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface))
}

func (r *reflector) typ(t reflect.Type) (*schema, error) {
	switch {
	case t == typeTime:
		return &schema{Type: "string", Format: "date-time"}, nil
	case t == typeRawMessage:
		return &schema{}, nil
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(implements(t, typeJSONMarshaler) || implements(t, typeJSONUnmarshaler)):
		return &schema{}, nil
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(implements(t, typeTextMarshaler) || implements(t, typeTextUnmarshaler)):
		return &schema{Type: "string"}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return &schema{Type: "boolean"}, nil
	case reflect.Int, reflect.Int64:
		return &schema{Type: "integer"}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32:
		bits := t.Bits()
		return &schema{Type: "integer", Minimum: number(-(int64(1) << (bits - 1))), Maximum: number(int64(1)<<(bits-1) - 1)}, nil
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return &schema{Type: "integer", Minimum: "0"}, nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return &schema{Type: "integer", Minimum: "0", Maximum: number(int64(1)<<t.Bits() - 1)}, nil
	case reflect.Float32, reflect.Float64:
		return &schema{Type: "number"}, nil
	case reflect.String:
		return &schema{Type: "string"}, nil
	case reflect.Interface:
		return &schema{}, nil
	case reflect.Pointer:
		return r.typ(t.Elem())
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !implements(t.Elem(), typeJSONMarshaler) && !implements(t.Elem(), typeTextMarshaler) {
			return &schema{Type: "string", ContentEncoding: "base64"}, nil
		}
		items, err := r.typ(t.Elem())
		if err != nil {
			return nil, err
		}
		s := &schema{Type: "array", Items: items}
		if t.Kind() == reflect.Array {
			n := t.Len()
			s.MinItems, s.MaxItems = &n, &n
		}
		return s, nil
	case reflect.Map:
		switch k := t.Key(); {
		case k.Kind() == reflect.String, implements(k, typeTextMarshaler),
			k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr:
		default:
			return nil, fmt.Errorf("map key type %v cannot be a JSON object key", k)
		}
		elem, err := r.typ(t.Elem())
		if err != nil {
			return nil, err
		}
		return &schema{Type: "object", AdditionalProperties: elem}, nil
	case reflect.Struct:
		return r.structType(t)
	}
	return nil, fmt.Errorf("type %v has no JSON form", t)
}

// structType derives a struct's schema, or a reference to it when the type
// contains itself.
func (r *reflector) structType(t reflect.Type) (*schema, error) {
	if r.onStack[t] {
		return &schema{Ref: r.ref(r.defName(t))}, nil
	}
	if name, ok := r.defNames[t]; ok && r.defs[name] != nil {
		return &schema{Ref: r.ref(name)}, nil
	}
	r.onStack[t] = true
	s, err := r.fields(t)
	delete(r.onStack, t)
	if err != nil {
		return nil, err
	}
	name, recursive := r.defNames[t]
	if !recursive || t == r.root {
		return s, nil
	}
	if r.defs == nil {
		r.defs = map[string]*schema{}
	}
	r.defs[name] = s
	return &schema{Ref: r.ref(name)}, nil
}

// ref returns the reference to a def; the root is "#" so that the root
// schema stays an object schema.
func (r *reflector) ref(name string) string {
	if name == "" {
		return "#"
	}
	return "#/$defs/" + name
}

// defName names the def of a struct type that contains itself: "" for the
// root, else its type name, made unique.
func (r *reflector) defName(t reflect.Type) string {
	if name, ok := r.defNames[t]; ok {
		return name
	}
	name := ""
	if t != r.root {
		base := t.Name()
		if base == "" {
			base = "T"
		}
		name = base
		for i := 2; r.nameTaken(name); i++ {
			name = base + strconv.Itoa(i)
		}
	}
	r.defNames[t] = name
	return name
}

func (r *reflector) nameTaken(name string) bool {
	for _, n := range r.defNames {
		if n == name {
			return true
		}
	}
	return false
}

// field is a struct field as encoding/json sees it.
type field struct {
	name     string
	index    []int
	typ      reflect.Type
	tagged   bool // named by its json tag
	optional bool // omitempty or omitzero
	quoted   bool // the ",string" option
	tag      string
}

// fields derives the object schema of struct type t.
func (r *reflector) fields(t reflect.Type) (*schema, error) {
	s := &schema{Type: "object", Properties: &properties{}, AdditionalProperties: false}
	for _, f := range jsonFields(t) {
		fs, err := r.typ(f.typ)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.name, err)
		}
		if f.quoted {
			switch fs.Type {
			case "integer", "number", "boolean":
				fs = &schema{Type: "string"}
			case "string":
			default:
				return nil, fmt.Errorf("field %s: the json ,string option applies only to strings, numbers and booleans", f.name)
			}
		}
		if f.tag != "" {
			if err := applyTag(fs, f.tag); err != nil {
				return nil, fmt.Errorf("field %s: jsonschema tag: %w", f.name, err)
			}
		}
		s.Properties.names = append(s.Properties.names, f.name)
		s.Properties.schemas = append(s.Properties.schemas, fs)
		if !f.optional {
			s.Required = append(s.Required, f.name)
		}
	}
	return s, nil
}

// jsonFields lists the fields encoding/json encodes for struct type t, in
// order, with embedded structs flattened: of fields with the same name, the
// shallowest wins, then the one named by a json tag; a tie hides them all.
func jsonFields(t reflect.Type) []field {
	var all []field
	var walk func(t reflect.Type, index []int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, index []int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		defer delete(seen, t)
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := sf.Type
			idx := append(append([]int(nil), index...), i)
			if sf.Anonymous {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if name == "" && et.Kind() == reflect.Struct {
					if !sf.IsExported() && ft.Kind() == reflect.Pointer {
						continue // encoding/json cannot set an unexported embedded pointer
					}
					walk(et, idx, seen)
					continue
				}
				if !sf.IsExported() {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			f := field{name: sf.Name, index: idx, typ: ft, tag: sf.Tag.Get("jsonschema")}
			if name != "" {
				f.name, f.tagged = name, true
			}
			for o := range strings.SplitSeq(opts, ",") {
				switch o {
				case "omitempty", "omitzero":
					f.optional = true
				case "string":
					f.quoted = true
				}
			}
			all = append(all, f)
		}
	}
	walk(t, nil, map[reflect.Type]bool{})

	// Resolve name conflicts as encoding/json does, keeping field order.
	var out []field
	for i, f := range all {
		dominant := true
		for j, g := range all {
			if i == j || g.name != f.name {
				continue
			}
			switch {
			case len(g.index) < len(f.index):
				dominant = false
			case len(g.index) == len(f.index) && (g.tagged == f.tagged || g.tagged):
				dominant = false
			}
		}
		if dominant {
			out = append(out, f)
		}
	}
	return out
}

// tagKeys are the keys a jsonschema tag may use.
var tagKeys = []string{
	"title", "description", "enum", "default", "format", "pattern",
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
	"minLength", "maxLength", "minItems", "maxItems",
}

// splitTag splits a jsonschema tag into key=value pairs; a comma is part
// of a value unless what follows it looks like "key=".
func splitTag(tag string) ([][2]string, error) {
	var pairs [][2]string
	for i, part := range strings.Split(tag, ",") {
		key, value, ok := strings.Cut(part, "=")
		if ok && isTagKey(key) {
			pairs = append(pairs, [2]string{key, value})
			continue
		}
		if i == 0 || (ok && looksLikeKey(key)) {
			return nil, fmt.Errorf("unknown key in %q (known: %s)", part, strings.Join(tagKeys, ", "))
		}
		pairs[len(pairs)-1][1] += "," + part
	}
	return pairs, nil
}

func isTagKey(k string) bool {
	for _, known := range tagKeys {
		if k == known {
			return true
		}
	}
	return false
}

// looksLikeKey reports whether s is a plausible (if unknown) key: letters
// only.
func looksLikeKey(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// applyTag adds the keywords of a jsonschema tag to s.
func applyTag(s *schema, tag string) error {
	pairs, err := splitTag(tag)
	if err != nil {
		return err
	}
	// Value keywords of an array field constrain its items.
	target := s
	if s.Type == "array" && s.Items != nil {
		target = s.Items
	}
	for _, p := range pairs {
		key, value := p[0], p[1]
		var err error
		switch key {
		case "title":
			s.Title = value
		case "description":
			s.Description = value
		case "default":
			s.Default, err = literal(s, value)
		case "enum":
			for v := range strings.SplitSeq(value, "|") {
				lit, lerr := literal(target, v)
				if lerr != nil {
					err = lerr
					break
				}
				target.Enum = append(target.Enum, lit)
			}
		case "format", "pattern", "minLength", "maxLength":
			if target.Type != "string" && target.Type != "" {
				return fmt.Errorf("%s applies to strings, not %s", key, target.Type)
			}
			switch key {
			case "format":
				target.Format = value
			case "pattern":
				target.Pattern = value
			case "minLength":
				target.MinLength, err = count(value)
			case "maxLength":
				target.MaxLength, err = count(value)
			}
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			if target.Type != "integer" && target.Type != "number" && target.Type != "" {
				return fmt.Errorf("%s applies to numbers, not %s", key, target.Type)
			}
			var n json.Number
			if n, err = numberLiteral(value); err == nil {
				switch key {
				case "minimum":
					target.Minimum = n
				case "maximum":
					target.Maximum = n
				case "exclusiveMinimum":
					target.ExclusiveMinimum = n
				case "exclusiveMaximum":
					target.ExclusiveMaximum = n
				}
			}
		case "minItems", "maxItems":
			if s.Type != "array" {
				return fmt.Errorf("%s applies to arrays, not %s", key, cmp.Or(s.Type, "any value"))
			}
			if key == "minItems" {
				s.MinItems, err = count(value)
			} else {
				s.MaxItems, err = count(value)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// literal encodes a tag value as a JSON value of s's type.
func literal(s *schema, v string) (json.RawMessage, error) {
	switch s.Type {
	case "string":
		return json.Marshal(v)
	case "integer":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return nil, fmt.Errorf("%q is not an integer", v)
		}
		return json.RawMessage(v), nil
	case "number":
		n, err := numberLiteral(v)
		return json.RawMessage(n), err
	case "boolean":
		if v != "true" && v != "false" {
			return nil, fmt.Errorf("%q is not true or false", v)
		}
		return json.RawMessage(v), nil
	}
	if json.Valid([]byte(v)) {
		return json.RawMessage(v), nil
	}
	if s.Type == "" {
		return json.Marshal(v)
	}
	return nil, fmt.Errorf("%q is not a JSON %s", v, s.Type)
}

// numberLiteral checks that v is a finite number and returns it as JSON.
func numberLiteral(v string) (json.Number, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || !json.Valid([]byte(v)) {
		return "", fmt.Errorf("%q is not a number", v)
	}
	return json.Number(v), nil
}

// count parses a non-negative count.
func count(v string) (*int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%q is not a non-negative integer", v)
	}
	return &n, nil
}

func number(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

// jsonKind names the JSON form of values of t, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t.Bits() < 64 {
			return fmt.Sprintf("an integer from %d to %d", -(int64(1) << (t.Bits() - 1)), int64(1)<<(t.Bits()-1)-1)
		}
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if t.Bits() < 64 {
			return fmt.Sprintf("an integer from 0 to %d", int64(1)<<t.Bits()-1)
		}
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}
