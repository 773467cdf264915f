package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Tool is a capstream tool written in Go: what its manifest says about it,
// and the function that runs it, with typed input In and output Out.
//
// In is decoded from the call's input object with encoding/json, and its
// JSON Schema, which the host checks every input against before the call
// starts, is derived from In's type (see Schema) unless InputSchema is set.
// Out is encoded with encoding/json as the call's result.
type Tool[In, Out any] struct {
	// Name identifies the tool: ^[a-z][a-z0-9_-]{0,63}$, unique among the
	// tools a host loads.
	Name string
	// Title is a short name for people; Description says what the tool
	// does, for people and for the models that choose tools.
	Title, Description string
	// InputSchema, if set, is the input's JSON Schema (2020-12), used
	// instead of the schema derived from In. It must be an object with
	// "type": "object".
	InputSchema json.RawMessage
	// OutputSchema, if set, is the JSON Schema of the result, for clients.
	// It is not derived from Out; Schema[Out]() gives one to start from.
	OutputSchema json.RawMessage
	// Annotations are MCP tool annotations for clients; nil for none.
	Annotations *Annotations
	// Needs are what the tool may use. A call gets no more than this,
	// whatever its caller is granted; the zero value needs nothing.
	Needs Needs
	// Run does the tool's work once per call, in a fresh instance. An error
	// it returns fails the call with the failure code tool_error and the
	// error's text as message; a panic fails it with trap.
	Run func(c *Call, in In) (Out, error)
}

// Needs are what a tool declares it may use.
type Needs struct {
	// HTTP lists the URL prefixes and methods the tool may call.
	HTTP []HTTPNeed `json:"http,omitempty"`
	// KV, if set, gives the tool its KV namespace: read, and write when
	// KV.Write is set.
	KV *KVNeed `json:"kv,omitempty"`
}

// HTTPNeed is one outbound HTTP allowance a tool asks for. URL is "*" for
// any URL or "scheme://host[:port]/path-prefix" (host may start with "*."
// for subdomains); Methods empty means GET only, "*" any method. Whether to
// allow private addresses or secrets is the policy's choice, not the tool's.
type HTTPNeed struct {
	URL     string   `json:"url"`
	Methods []string `json:"methods,omitempty"`
}

// KVNeed asks for the tool's KV namespace; Write for KVSet and KVDelete.
type KVNeed struct {
	Write bool `json:"write"`
}

// Annotations are the MCP tool annotations: hints for clients, never
// enforced. A nil hint is left to its MCP default (destructive and
// open-world true, read-only and idempotent false); new(true) sets one.
type Annotations struct {
	Title           string `json:"title,omitempty"`
	ReadOnlyHint    *bool  `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `json:"openWorldHint,omitempty"`
}

// handler is a Tool with its type parameters erased: what the exports call.
type handler interface {
	name() string
	manifest() ([]byte, error)
	handle(c *Call, input []byte) ([]byte, error)
}

// registered is the module's one tool, set by Register during package
// initialization and never changed after.
var registered handler

// Register makes t the tool this module provides. Call it exactly once,
// from an init function of package main: a module built with
// -buildmode=c-shared never runs main, and the host calls the tool's exports
// right after initialization.
//
// Register panics if a tool is already registered, if t has no valid Name,
// or if t.Run is nil. A schema that cannot be derived is reported when the
// host loads the module (and by sdktest and Tool.Manifest natively).
func Register[In, Out any](t Tool[In, Out]) {
	if registered != nil {
		panic(fmt.Sprintf("sdk: Register(%q): tool %q is already registered; a module provides exactly one tool", t.Name, registered.name()))
	}
	if err := t.check(); err != nil {
		panic("sdk: Register: " + err.Error())
	}
	registered = t
	t.warm()
}

// warm fills encoding/json's caches for In and Out. A host that
// pre-initializes modules (runs _initialize once and snapshots the memory)
// then starts every call with them warm, which saves most of a small
// tool's run time; otherwise the cost only moves from the first call's
// decoding to initialization. Errors are the real call's to report.
func (t Tool[In, Out]) warm() {
	var in In
	_ = json.Unmarshal([]byte("{}"), &in)
	var out Out
	_, _ = marshal(out)
}

// Manifest returns the manifest the host reads from the module: name,
// title, description, input schema (given or derived), output schema,
// annotations and needs, as JSON.
func (t Tool[In, Out]) Manifest() (json.RawMessage, error) {
	return t.manifest()
}

func (t Tool[In, Out]) name() string { return t.Name }

// check validates what Register can check cheaply.
func (t Tool[In, Out]) check() error {
	if !validName(t.Name) {
		return fmt.Errorf("tool name %q does not match ^[a-z][a-z0-9_-]{0,63}$", t.Name)
	}
	if t.Run == nil {
		return fmt.Errorf("tool %q has no Run function", t.Name)
	}
	return nil
}

// manifestJSON is the manifest as sdk/ABI.md specifies it.
type manifestJSON struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  *Annotations    `json:"annotations,omitempty"`
	Needs        *Needs          `json:"needs,omitempty"`
}

func (t Tool[In, Out]) manifest() ([]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	m := manifestJSON{Name: t.Name, Title: t.Title, Description: t.Description, Annotations: t.Annotations}
	var err error
	if t.InputSchema != nil {
		m.InputSchema, err = objectSchema(t.InputSchema, true)
		if err != nil {
			return nil, fmt.Errorf("tool %q: InputSchema: %w", t.Name, err)
		}
	} else {
		in := reflect.TypeFor[In]()
		s, err := reflectSchema(in)
		if err != nil {
			return nil, fmt.Errorf("tool %q: input schema of %v: %w", t.Name, in, err)
		}
		if s.Type != "object" {
			return nil, fmt.Errorf("tool %q: input type %v is not a JSON object; use a struct or a map, or set InputSchema", t.Name, in)
		}
		if m.InputSchema, err = marshal(s); err != nil {
			return nil, fmt.Errorf("tool %q: input schema: %w", t.Name, err)
		}
	}
	if t.OutputSchema != nil {
		if m.OutputSchema, err = objectSchema(t.OutputSchema, false); err != nil {
			return nil, fmt.Errorf("tool %q: OutputSchema: %w", t.Name, err)
		}
	}
	if len(t.Needs.HTTP) > 0 || t.Needs.KV != nil {
		m.Needs = &t.Needs
	}
	return marshal(m)
}

// objectSchema checks that s is a JSON object, with "type": "object" when
// mustBeObject, and returns it compacted.
func objectSchema(s json.RawMessage, mustBeObject bool) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(s, &fields); err != nil || fields == nil {
		return nil, errors.New("not a JSON object")
	}
	if mustBeObject && string(fields["type"]) != `"object"` {
		return nil, errors.New(`the input schema must have "type": "object"`)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (t Tool[In, Out]) handle(c *Call, input []byte) ([]byte, error) {
	var in In
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, inputError(err)
	}
	out, err := t.Run(c, in)
	if err != nil {
		return nil, err
	}
	b, err := marshal(out)
	if err != nil {
		return nil, fmt.Errorf("sdk: encoding output: %w", err)
	}
	return b, nil
}

// inputError describes an input that does not decode into the tool's
// input type. The host checks inputs against the schema first, so this
// happens only when the schema and the type disagree (an explicit
// InputSchema) or the tool is called outside capstream.
func inputError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("invalid input: field %q: want %s, got %s", te.Field, jsonKind(te.Type), te.Value)
	}
	return fmt.Errorf("invalid input: %w", err)
}

// marshal encodes v as compact JSON without escaping <, > and &.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// validName reports whether s matches ^[a-z][a-z0-9_-]{0,63}$.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
