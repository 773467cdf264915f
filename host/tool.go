package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"go.uber.org/zap"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/sdk/abi"
)

// Tool is a loaded tool: its manifest, its module's digest and its compiled
// code. A Tool is immutable and shared by all of its calls.
type Tool struct {
	Name         string
	Title        string
	Description  string
	InputSchema  json.RawMessage
	OutputSchema json.RawMessage // nil if the tool declares none
	Annotations  json.RawMessage // nil if the tool declares none
	Needs        capability.Needs
	Digest       string // "sha256:<hex>" of the .wasm file
	File         string // where it was loaded from, for messages

	compiled  wazero.CompiledModule
	schema    *jsonschema.Schema
	hasInit   bool         // exports _initialize
	minMemory uint64       // bytes of memory an instance starts with
	image     *memoryImage // what that memory holds
}

// manifest is the JSON a tool pushes from capstream_manifest (sdk/ABI.md).
type manifest struct {
	Name         string           `json:"name"`
	Title        string           `json:"title"`
	Description  string           `json:"description"`
	InputSchema  json.RawMessage  `json:"inputSchema"`
	OutputSchema json.RawMessage  `json:"outputSchema,omitempty"`
	Annotations  json.RawMessage  `json:"annotations,omitempty"`
	Needs        capability.Needs `json:"needs"`
}

// LoadError is the reason one file could not be loaded as a tool.
type LoadError struct {
	File string
	Err  error
}

func (e *LoadError) Error() string { return fmt.Sprintf("loading %s: %v", e.File, e.Err) }

// Unwrap returns the reason.
func (e *LoadError) Unwrap() error { return e.Err }

// Reasons a file is refused as a tool; a LoadError wraps one of them.
var (
	ErrNotWasm                = errors.New("not a WebAssembly module")
	ErrNoEntry                = errors.New("missing export " + abi.ExportRun + " () -> i32")
	ErrBadImport              = errors.New("unsupported import")
	ErrInvalidManifest        = errors.New("invalid manifest")
	ErrDuplicateTool          = errors.New("duplicate tool name")
	errCommandModule          = errors.New("module is a WASI command (exports _start): build Go tools with -buildmode=c-shared")
	toolNamePattern           = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	wasmMagic                 = []byte{0x00, 'a', 's', 'm'}
	wasmPageSize       uint64 = 65536
)

// LoadDir loads every .wasm file in dir. A file that cannot be loaded is
// reported as a *LoadError and the others still load; when two files name
// the same tool, the first in directory order wins and the other is refused.
// Files are compiled concurrently, one per CPU. The error is non-nil only if
// dir cannot be read.
func (e *Engine) LoadDir(ctx context.Context, dir string) ([]*Tool, []error, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading plugin directory: %w", err)
	}
	var files []string
	for _, ent := range entries {
		if !ent.IsDir() && strings.HasSuffix(ent.Name(), ".wasm") {
			files = append(files, filepath.Join(dir, ent.Name()))
		}
	}
	type loaded struct {
		t   *Tool
		err error
	}
	results := make([]loaded, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, file := range files {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			wasm, err := os.ReadFile(file)
			if err != nil {
				results[i].err = &LoadError{File: file, Err: err}
				return
			}
			t, err := e.compile(ctx, file, wasm)
			if err != nil {
				err = &LoadError{File: file, Err: err}
			}
			results[i] = loaded{t, err}
		})
	}
	wg.Wait()

	var tools []*Tool
	var errs []error
	for _, r := range results {
		if r.err == nil {
			r.err = e.add(ctx, r.t)
		}
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		tools = append(tools, r.t)
	}
	return tools, errs, nil
}

// Load compiles one module, reads its manifest and adds it to the engine's
// tools. The file name is used in messages only. Errors are *LoadError.
func (e *Engine) Load(ctx context.Context, file string, wasm []byte) (*Tool, error) {
	t, err := e.compile(ctx, file, wasm)
	if err != nil {
		return nil, &LoadError{File: file, Err: err}
	}
	if err := e.add(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// add makes a compiled tool callable, unless its name is taken.
func (e *Engine) add(ctx context.Context, t *Tool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, ok := e.tools[t.Name]; ok {
		t.close(ctx)
		return &LoadError{File: t.File, Err: fmt.Errorf("%w %q: already loaded from %s", ErrDuplicateTool, t.Name, prev.File)}
	}
	e.tools[t.Name] = t
	e.log.Info("loaded tool", zap.String("tool", t.Name), zap.String("file", t.File), zap.String("digest", t.Digest))
	return nil
}

func (e *Engine) compile(ctx context.Context, file string, wasm []byte) (*Tool, error) {
	if !bytes.HasPrefix(wasm, wasmMagic) {
		return nil, ErrNotWasm
	}
	sum := sha256.Sum256(wasm)
	t := &Tool{File: file, Digest: "sha256:" + hex.EncodeToString(sum[:]), image: &memoryImage{}}
	if snap, ok := e.cachedSnapshot(t.Digest); ok {
		// Pre-initialized at an earlier start: compile the snapshot only.
		// It has the original's imports and exports, less _initialize.
		if err := e.useSnapshot(ctx, t, snap); err == nil {
			if err := e.checkShape(t); err != nil {
				t.close(ctx)
				return nil, err
			}
			if err := e.readManifest(ctx, t); err != nil {
				t.close(ctx)
				return nil, err
			}
			return t, nil
		}
		e.log.Warn("a cached snapshot does not compile: making it again", zap.String("file", file))
	}

	compiled, err := e.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotWasm, err)
	}
	t.compiled = compiled
	if err := e.checkShape(t); err != nil {
		t.close(ctx)
		return nil, err
	}
	if t.hasInit && !e.cfg.DisableSnapshots {
		if err := e.preinitialize(ctx, t, wasm); err != nil {
			t.close(ctx)
			return nil, err
		}
	}
	if err := e.readManifest(ctx, t); err != nil {
		t.close(ctx)
		return nil, err
	}
	return t, nil
}

// close releases the tool's compiled code.
func (t *Tool) close(ctx context.Context) {
	if t.compiled != nil {
		t.compiled.Close(ctx)
	}
}

// checkShape checks the module's imports and exports against sdk/ABI.md.
func (e *Engine) checkShape(t *Tool) error {
	c := t.compiled
	for _, imp := range c.ImportedFunctions() {
		mod, name, _ := imp.Import()
		want, ok := e.imports[mod+"\x00"+name]
		if !ok {
			return fmt.Errorf("%w %s.%s", ErrBadImport, mod, name)
		}
		if !slices.Equal(imp.ParamTypes(), want.ParamTypes()) || !slices.Equal(imp.ResultTypes(), want.ResultTypes()) {
			return fmt.Errorf("%w %s.%s: signature %s, want %s", ErrBadImport, mod, name, signature(imp), signature(want))
		}
	}
	if len(c.ImportedMemories()) > 0 {
		return fmt.Errorf("%w: imported memory", ErrBadImport)
	}
	exports := c.ExportedFunctions()
	for _, name := range []string{abi.ExportRun, abi.ExportManifest} {
		def, ok := exports[name]
		if !ok || len(def.ParamTypes()) != 0 || !slices.Equal(def.ResultTypes(), []api.ValueType{api.ValueTypeI32}) {
			if _, isCommand := exports["_start"]; isCommand && !ok {
				return errCommandModule
			}
			if name == abi.ExportRun {
				return ErrNoEntry
			}
			return fmt.Errorf("%w: missing export %s () -> i32", ErrInvalidManifest, name)
		}
	}
	if def, ok := exports[abi.ExportInitialize]; ok {
		if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
			return fmt.Errorf("%w: %s must be () -> ()", ErrNoEntry, abi.ExportInitialize)
		}
		t.hasInit = true
	}
	mem, ok := c.ExportedMemories()[abi.ExportMemory]
	if !ok {
		return fmt.Errorf("%w: missing memory export %q", ErrNoEntry, abi.ExportMemory)
	}
	t.minMemory = uint64(mem.Min()) * wasmPageSize
	return nil
}

func signature(f api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, vt := range ts {
			s[i] = api.ValueTypeName(vt)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(f.ParamTypes()) + " -> " + names(f.ResultTypes())
}

// readManifest runs capstream_manifest in a fresh instance and validates
// what it pushes.
func (e *Engine) readManifest(ctx context.Context, t *Tool) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ManifestTimeout)
	defer cancel()
	st := &callState{manifest: true}
	rc, err := e.run(ctx, t, st, abi.ExportManifest)
	switch {
	case st.failure != nil:
		return fmt.Errorf("%w: capstream_manifest: %s", ErrInvalidManifest, st.failure.Message)
	case err != nil:
		return fmt.Errorf("%w: capstream_manifest: %v", ErrInvalidManifest, err)
	case rc != 0 && st.toolErr != "":
		return fmt.Errorf("%w: %s", ErrInvalidManifest, st.toolErr)
	case rc != 0:
		return fmt.Errorf("%w: capstream_manifest returned %d", ErrInvalidManifest, rc)
	case st.output == nil:
		return fmt.Errorf("%w: capstream_manifest set no output", ErrInvalidManifest)
	}
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(st.output))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if !toolNamePattern.MatchString(m.Name) {
		return fmt.Errorf("%w: name %q must match %s", ErrInvalidManifest, m.Name, toolNamePattern)
	}
	schema, err := compileSchema(m.InputSchema)
	if err != nil {
		return fmt.Errorf("%w: inputSchema: %v", ErrInvalidManifest, err)
	}
	if len(m.OutputSchema) > 0 {
		if _, err := compileSchema(m.OutputSchema); err != nil {
			return fmt.Errorf("%w: outputSchema: %v", ErrInvalidManifest, err)
		}
	}
	for _, r := range m.Needs.HTTP {
		if err := capability.ParseRuleURL(r.URL); err != nil {
			return fmt.Errorf("%w: needs: %v", ErrInvalidManifest, err)
		}
	}
	t.Name, t.Title, t.Description = m.Name, m.Title, m.Description
	t.InputSchema, t.OutputSchema, t.Annotations = m.InputSchema, m.OutputSchema, m.Annotations
	t.Needs, t.schema = m.Needs, schema
	if t.Title == "" {
		t.Title = t.Name
	}
	return nil
}

// compileSchema compiles a JSON Schema for tool input; it must describe an object.
//
// A schema may refer only to itself ("#/$defs/name", or a subschema's $id)
// and to the JSON Schema metaschemas the validator carries. Any other
// reference ($ref, $dynamicRef or $schema naming a file, a URL or a
// relative path, however an $id rebases it) refuses the schema: the host
// must not read a file or fetch a URL because a tool said so, let alone
// quote it in a validation error.
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if obj, ok := doc.(map[string]any); !ok || obj["type"] != "object" {
		return nil, errors.New(`must have "type": "object"`)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(schemaBase, doc); err != nil {
		return nil, err
	}
	schema, err := c.Compile(schemaBase)
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) && errors.Is(le.Err, errExternalRef) {
		return nil, externalRefError(doc, le.URL)
	}
	return schema, err
}

// schemaBase is the URL a tool's schema is compiled under, against which a
// relative reference resolves. It names no file, so that nothing about the
// host (such as its working directory) reaches a message.
const schemaBase = "https://tool.capstream.invalid/"

// errExternalRef is what refuseLoader answers every URL with.
var errExternalRef = errors.New("external reference")

// refuseLoader is the schema compiler's loader: it loads nothing.
// (jsonschema's default reads file:// URLs.)
type refuseLoader struct{}

func (refuseLoader) Load(string) (any, error) { return nil, errExternalRef }

// externalRefError says which reference of doc made the compiler ask for
// url: the first $ref, $dynamicRef or $schema whose value (before any
// fragment, and less a leading "./" or "../") ends url, quoted as the tool
// wrote it.
func externalRefError(doc any, url string) error {
	const allowed = `a tool's schema may refer only to itself ("#/$defs/name") and to the standard JSON Schema metaschemas; nothing else is loaded`
	for _, r := range schemaRefs(doc, "", nil) {
		target, _, _ := strings.Cut(r.value, "#")
		target = strings.TrimLeft(target, "./")
		if target != "" && strings.HasSuffix(url, target) {
			return fmt.Errorf("%s %q at %s refers outside the schema: %s", r.keyword, r.value, orRoot(r.at), allowed)
		}
	}
	return fmt.Errorf("a reference to %q is outside the schema: %s", url, allowed)
}

// schemaRef is a reference keyword in a schema document.
type schemaRef struct {
	at      string // JSON pointer of the object that holds it
	keyword string // $ref, $dynamicRef or $schema
	value   string
}

// schemaRefs appends the reference keywords under v, at pointer at, in
// document order (object keys sorted).
func schemaRefs(v any, at string, out []schemaRef) []schemaRef {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := v[k].(string); ok && (k == "$ref" || k == "$dynamicRef" || k == "$schema") {
				out = append(out, schemaRef{at, k, s})
			}
			out = schemaRefs(v[k], at+"/"+pointerEscaper.Replace(k), out)
		}
	case []any:
		for i, e := range v {
			out = schemaRefs(e, fmt.Sprintf("%s/%d", at, i), out)
		}
	}
	return out
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func orRoot(pointer string) string {
	if pointer == "" {
		return "the root"
	}
	return pointer
}

// InputError is an input that does not satisfy the tool's input schema.
type InputError struct {
	Field   string // JSON pointer of the offending value; "" for the whole input
	Message string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return "input: " + e.Message
	}
	return e.Field + ": " + e.Message
}

// ValidateInput checks input, a JSON document, against the tool's input
// schema. It returns an *InputError that names the first offending field.
func (t *Tool) ValidateInput(input []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(input))
	if err != nil {
		return &InputError{Message: "input is not valid JSON: " + err.Error()}
	}
	err = t.schema.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	// Report the deepest cause: it names the field.
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	field := ""
	for _, tok := range ve.InstanceLocation {
		field += "/" + pointerEscaper.Replace(tok)
	}
	msg := ve.ErrorKind.LocalizedString(message.NewPrinter(language.English))
	return &InputError{Field: field, Message: msg}
}

func sortTools(ts []*Tool) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
}
