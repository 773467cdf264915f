// Package wasmcheck checks a WebAssembly module against capstream's plugin
// ABI (sdk/ABI.md) before anyone deploys it, whatever language it was
// written in: its imports and exports, its manifest, what each of its
// calls costs and, if asked, one sample call. It is the engine of
// capstream check, and of the tests that run every language's tools
// through it.
//
// The host has the last word: Check loads the module into a real
// host.Engine, as capstream serve would, and validates the manifest with
// the host's own code (probe.go). A module the host refuses always gets
// at least one error; the other findings say why, and everything else that
// is wrong, in one pass.
package wasmcheck

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/sdk/abi"
)

// Options configures Check. The zero value checks the module without a
// sample call.
type Options struct {
	// File names the module in messages. Empty: "module.wasm".
	File string
	// Input, if set, is the input of a sample call, a JSON object: Check
	// calls the tool once, in the engine that loaded it, and reports the
	// call. Nil: no sample call.
	Input json.RawMessage
	// Egress performs the sample call's outbound HTTP, within the
	// manifest's needs.http, without private addresses or secrets. Nil:
	// every HTTP host call is denied, and the call is made without
	// network.
	Egress host.Egress
	// Limits bound the sample call; zero fields take the defaults of a
	// policy (policy.DefaultLimits), which also set the memory limit the
	// module is checked against.
	Limits host.Limits
	// CacheDir is the engine's compilation and snapshot cache, as
	// host.Config.CacheDir. Empty: none, and a Go module takes seconds to
	// compile and pre-initialize.
	CacheDir string
}

// checker is the state of one Check.
type checker struct {
	opts   Options
	limits host.Limits
	report *Report
	prober *prober
}

// add records a finding.
func (c *checker) add(s Severity, code, format string, args ...any) {
	c.report.Findings = append(c.report.Findings, Finding{Severity: s, Code: code, Message: fmt.Sprintf(format, args...)})
}

// Check checks the module wasm and reports what it found, errors first.
// The error is non-nil only if the check itself could not be made: ctx
// ended, an engine could not be created, or Options.Input is not a JSON
// object. wasm may be anything: Check reads untrusted files.
func Check(ctx context.Context, wasm []byte, opts Options) (*Report, error) {
	if opts.File == "" {
		opts.File = "module.wasm"
	}
	if opts.Input != nil && !isObject(opts.Input) {
		return nil, errors.New("wasmcheck: the sample input is not a JSON object")
	}
	sum := sha256.Sum256(wasm)
	c := &checker{
		opts:   opts,
		limits: opts.Limits.Or(policy.DefaultLimits()),
		report: &Report{File: opts.File, Size: len(wasm), Digest: "sha256:" + hex.EncodeToString(sum[:]),
			Imports: []Import{}, Exports: []Export{}, Findings: []Finding{}},
	}

	// The host's verdict, while the rest is read: compiling and
	// pre-initializing a Go module takes seconds.
	engine, err := host.New(ctx, host.Config{KV: newMemKV(), Egress: opts.Egress, CacheDir: opts.CacheDir})
	if err != nil {
		return nil, err
	}
	defer engine.Close(ctx)
	var tool *host.Tool
	var loadErr error
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		tool, loadErr = engine.Load(ctx, opts.File, wasm)
	}()
	defer func() { <-loaded }() // before the engine is closed

	// An interpreter compiles quickly, and gives the module's imports and
	// exports with their types; it runs the manifest of a module the host
	// refuses (manifest.go).
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCloseOnContextDone(true))
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return nil, err
	}
	wasi := map[string]funcType{}
	for name, def := range rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions() {
		wasi[name] = typeOf(def)
	}
	c.prober, err = newProber(ctx)
	if err != nil {
		return nil, err
	}
	defer c.prober.close(ctx)

	l, layoutErr := readLayout(wasm)
	compiled, compileErr := rt.CompileModule(ctx, wasm)
	<-loaded
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	if compileErr != nil {
		if l != nil {
			c.describe(nil, l)
		}
		if loadErr == nil { // the host's compiler takes what the interpreter does not
			c.add(Info, CodeLayoutUnread, "the module was not checked: %v", compileErr)
			return c.finish(), nil
		}
		msg := loadMessage(loadErr)
		c.add(Error, CodeInvalid, "%s%s", msg, invalidAdvice(wasm, msg))
		return c.finish(), nil
	}
	defer compiled.Close(ctx)
	if layoutErr != nil {
		l = nil
		c.add(Info, CodeLayoutUnread, "the memory layout was not read (%v): the memory, stack and data are not checked", layoutErr)
	}

	c.describe(compiled, l)
	c.importFindings(compiled, l, wasi)
	c.exportFindings(compiled, l)
	if err := c.manifestFindings(ctx, rt, compiled, l, wasi, tool); err != nil {
		return nil, err
	}
	c.costFindings(l)
	if loadErr != nil && c.report.Count(Error) == 0 {
		c.add(Error, CodeRefused, "the host refuses the module: %s", loadMessage(loadErr))
	}
	if opts.Input != nil {
		if tool == nil {
			c.add(Info, CodeSampleSkipped, "no sample call: the host does not load the module")
		} else if err := c.sample(ctx, engine, tool); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return c.finish(), nil
}

// finish sorts the findings, errors first, and returns the report.
func (c *checker) finish() *Report {
	slices.SortStableFunc(c.report.Findings, func(a, b Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	return c.report
}

// loadMessage returns the host's reason to refuse a module, without the
// "loading FILE: " prefix.
func loadMessage(err error) string {
	var le *host.LoadError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}

// invalidAdvice says what to do about a module that does not compile.
func invalidAdvice(wasm []byte, msg string) string {
	switch {
	case len(wasm) >= 8 && bytes.Equal(wasm[:4], header[:4]) && bytes.Equal(wasm[4:8], []byte{0x0d, 0x00, 0x01, 0x00}):
		return ": this is a component (the WebAssembly component model, WASI 0.2), which the host does not run: build a core module for WASI preview 1 (Rust: --target wasm32-wasi or wasm32-wasip1, not cargo component)"
	case strings.Contains(msg, "is disabled"):
		return ": the host enables WebAssembly 2.0 (bulk memory, sign extension, non-trapping conversions, multi-value, reference types, SIMD) and nothing more: build without that feature"
	case !bytes.HasPrefix(wasm, header[:4]):
		return ": the file is not WebAssembly: give the .wasm file the build wrote"
	}
	return ""
}

func isObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

// describe fills in the report's account of the module: imports and
// exports with their types (from compiled, if not nil), memory, stack,
// data, language.
func (c *checker) describe(compiled wazero.CompiledModule, l *layout) {
	r := c.report
	var imported []funcType
	exported := map[string]funcType{}
	if compiled != nil {
		for _, def := range compiled.ImportedFunctions() {
			imported = append(imported, typeOf(def))
		}
		for name, def := range compiled.ExportedFunctions() {
			exported[name] = typeOf(def)
		}
	}
	if l != nil {
		fi := 0
		for _, e := range l.imports {
			imp := Import{Module: e.module, Name: e.name, Kind: kindName(e.kind)}
			if e.kind == kindFunc && fi < len(imported) {
				imp.Signature = imported[fi].String()
				fi++
			}
			r.Imports = append(r.Imports, imp)
		}
		for _, e := range l.exports {
			exp := Export{Name: e.name, Kind: kindName(e.kind)}
			if t, ok := exported[e.name]; ok && e.kind == kindFunc {
				exp.Signature = t.String()
			}
			r.Exports = append(r.Exports, exp)
		}
		if m := l.memory; m != nil {
			r.Memory = &Memory{InitialPages: m.min, Imported: m.imported}
			if m.hasMax {
				r.Memory.MaxPages = &m.max
			}
		}
		r.Stack = l.shadowStack()
		r.DataBytes = l.dataBytes
		r.Language = l.language(r.Imports)
	} else if compiled != nil {
		for _, def := range compiled.ImportedFunctions() {
			mod, name, _ := def.Import()
			r.Imports = append(r.Imports, Import{Module: mod, Name: name, Kind: "func", Signature: typeOf(def).String()})
		}
		for name, t := range exported {
			r.Exports = append(r.Exports, Export{Name: name, Kind: "func", Signature: t.String()})
		}
		for name, m := range compiled.ExportedMemories() {
			r.Exports = append(r.Exports, Export{Name: name, Kind: "memory"})
			r.Memory = &Memory{InitialPages: uint64(m.Min())}
		}
		slices.SortFunc(r.Exports, func(a, b Export) int { return strings.Compare(a.Name, b.Name) })
	}
	if t, ok := exported[abi.ExportInitialize]; ok && t.equal(initType) {
		r.Preinitialized = true
	}
}

// importFindings checks the imports: functions of capstream_v1 and
// wasi_snapshot_preview1 only, with their signatures.
func (c *checker) importFindings(compiled wazero.CompiledModule, l *layout, wasi map[string]funcType) {
	seen := map[string]bool{}
	for _, def := range compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		t := typeOf(def)
		what := fmt.Sprintf("import %s.%s %s", mod, name, t)
		if seen[what] {
			continue
		}
		seen[what] = true
		switch mod {
		case abi.Module:
			want, ok := hostFunctions[name]
			switch {
			case !ok:
				c.add(Error, CodeImportUnknown, "%s: %s has no function %q (it has %s): correct the name, or drop the import", what, abi.Module, name, hostFunctionNames())
			case !want.equal(t):
				c.add(Error, CodeImportSignature, "%s: wrong signature, want %s (sdk/ABI.md): correct the declaration", what, want)
			}
		case wasi_snapshot_preview1.ModuleName:
			want, ok := wasi[name]
			switch {
			case !ok:
				c.add(Error, CodeImportUnknown, "%s: WASI preview 1 has no function %q: correct the name, or drop the import", what, name)
			case !want.equal(t):
				c.add(Error, CodeImportSignature, "%s: wrong signature, want %s: correct the declaration", what, want)
			}
		case "env":
			c.envImport(what, name, t)
		default:
			hint := ""
			switch {
			case mod == "wasi_unstable":
				hint = ": wasi_unstable is an older WASI; build with a toolchain that targets wasi_snapshot_preview1 (wasm32-wasi, wasm32-wasip1)"
			case strings.HasPrefix(mod, "wasi:"):
				hint = ": WASI 0.2 (the component model) is not supported; build a core module for WASI preview 1 (wasm32-wasip1)"
			}
			c.add(Error, CodeImportModule, "%s: the host provides no module %q; a tool may import functions of %s and %s only%s", what, mod, abi.Module, wasi_snapshot_preview1.ModuleName, hint)
		}
	}
	if l == nil {
		if len(compiled.ImportedMemories()) > 0 {
			c.add(Error, CodeImportMemory, "the module imports its memory: a tool defines its own memory and exports it as \"memory\" (sdk/ABI.md); link without --import-memory")
		}
		return
	}
	for _, e := range l.imports {
		what := fmt.Sprintf("import %s.%s", e.module, e.name)
		switch e.kind {
		case kindMemory:
			c.add(Error, CodeImportMemory, "%s is a memory: a tool defines its own memory and exports it as \"memory\" (sdk/ABI.md); link without --import-memory", what)
		case kindTable:
			c.add(Error, CodeImportTable, "%s is a table, which the host does not provide; link without --import-table", what)
		case kindGlobal:
			c.add(Error, CodeImportGlobal, "%s is a global, which the host does not provide (a position-independent build imports __stack_pointer, __memory_base and __table_base); build without -fPIC and -shared", what)
		case kindTag:
			c.add(Error, CodeImportTag, "%s is an exception tag, which the host does not provide; build without exception handling", what)
		}
	}
}

// AssemblyScript's other imports from env, by signature.
const (
	asTrace = "(i32, i32, f64, f64, f64, f64, f64) -> ()"
	asSeed  = "() -> (f64)"
)

// envImport checks an import from env: AssemblyScript's built-in
// handlers, or a symbol the linker left undefined.
func (c *checker) envImport(what, name string, t funcType) {
	switch sig := t.String(); {
	case name == "abort" && sig == asAbort:
		c.add(Error, CodeImportAbort, "%s is AssemblyScript's default abort handler, which the host does not provide: build with --use abort=<your function> (one that writes the message to stderr with WASI fd_write, say), or --use abort= to trap without a message", what)
	case name == "trace" && sig == asTrace:
		c.add(Error, CodeImportAbort, "%s is AssemblyScript's default trace, which the host does not provide: build with --use trace=<your function> (one that logs with capstream_v1.log, say)", what)
	case name == "seed" && sig == asSeed:
		c.add(Error, CodeImportAbort, "%s is AssemblyScript's default seed of Math.random, which the host does not provide: build with --use seed=<your function> (one that reads WASI random_get)", what)
	case c.report.Language == langGo:
		c.add(Error, CodeImportEnv, "%s: the host provides no env module: drop the //go:wasmimport env %s, and reach the host through the SDK (capstream_v1)", what, name)
	default:
		c.add(Error, CodeImportEnv, "%s: the toolchain linked a function the host cannot provide (a symbol left undefined at link time becomes an import from env): define %s in the module, or drop what calls it; wasm-ld names undefined symbols when linked without --allow-undefined", what, name)
	}
}

// exportFindings checks the exports: memory, capstream_run,
// capstream_manifest, and _initialize or _start.
func (c *checker) exportFindings(compiled wazero.CompiledModule, l *layout) {
	lang := c.report.Language
	funcs := compiled.ExportedFunctions()
	_, command := funcs["_start"]
	var missing []string
	for _, e := range []struct{ name, code string }{{abi.ExportRun, CodeExportRun}, {abi.ExportManifest, CodeExportManifest}} {
		def, ok := funcs[e.name]
		switch {
		case !ok && command:
			missing = append(missing, e.name)
		case !ok:
			c.add(Error, e.code, "missing export %s () -> (i32): %s", e.name, exportAdvice(lang, e.name))
		case !typeOf(def).equal(entryType):
			c.add(Error, e.code, "export %s %s: wrong signature, want %s: it takes no arguments and returns 0 for success", e.name, typeOf(def), entryType)
		}
	}
	switch {
	case command && len(missing) > 0:
		c.add(Error, CodeExportStart, "the module is a WASI command (it exports _start) without %s: %s", strings.Join(missing, " and "), reactorAdvice(lang))
	case command:
		c.add(Warning, CodeExportStart, "the module exports _start, the entry point of a WASI command, which the host never calls, though the other exports of a command may depend on what it sets up: %s", reactorAdvice(lang))
	}
	if def, ok := funcs[abi.ExportInitialize]; ok {
		switch {
		case !typeOf(def).equal(initType):
			c.add(Error, CodeExportInitialize, "export _initialize %s: wrong signature, want %s", typeOf(def), initType)
		case lang != langGo:
			c.add(Info, CodeExportInitialize, "the module exports _initialize: the host runs it once, at load time, and starts every call from the memory and globals it leaves, so anything random it draws then is the same in every call (sdk/ABI.md, Randomness)")
		}
	}
	mems := compiled.ExportedMemories()
	if _, ok := mems[abi.ExportMemory]; ok {
		return
	}
	var names []string
	for name := range mems {
		names = append(names, fmt.Sprintf("%q", name))
	}
	slices.Sort(names)
	switch {
	case len(names) > 0:
		c.add(Error, CodeExportMemory, "the memory is exported as %s, not \"memory\": export it as \"memory\"", strings.Join(names, " and "))
	case len(compiled.ImportedMemories()) > 0:
		// import.memory says it all.
	case l != nil && l.memory == nil:
		c.add(Error, CodeExportMemory, "the module has no memory: a tool needs one, exported as \"memory\", to exchange data with the host")
	default:
		c.add(Error, CodeExportMemory, "the memory is not exported: export it as \"memory\" (wasm-ld does unless told otherwise)")
	}
}

// knownFields are the fields of a manifest (sdk/ABI.md).
var knownFields = []string{"name", "title", "description", "inputSchema", "outputSchema", "annotations", "needs"}

// manifestFindings checks the manifest: as the host holds it if the host
// loaded the module, as the module pushes it otherwise.
func (c *checker) manifestFindings(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, l *layout, wasi map[string]funcType, tool *host.Tool) error {
	if tool != nil {
		m := map[string]any{"name": tool.Name, "title": tool.Title, "description": tool.Description,
			"inputSchema": tool.InputSchema, "needs": tool.Needs}
		if tool.OutputSchema != nil {
			m["outputSchema"] = tool.OutputSchema
		}
		if tool.Annotations != nil {
			m["annotations"] = tool.Annotations
		}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		c.report.Manifest = b
		c.describedFindings(tool.Description)
		return nil
	}
	if def, ok := compiled.ExportedFunctions()[abi.ExportManifest]; !ok || !typeOf(def).equal(entryType) {
		return nil // an export finding says so
	}
	raw, err := readManifest(ctx, rt, compiled, l, wasi)
	switch {
	case errors.Is(err, errNotRunnable):
		c.add(Info, CodeManifestUnread, "the manifest was not read: the module %v", err)
		return nil
	case err != nil && ctx.Err() != nil:
		return context.Cause(ctx)
	case err != nil:
		c.add(Error, CodeManifestRun, "reading the manifest: %v", err)
		return nil
	}
	c.report.Manifest = raw
	if _, err := c.prober.load(ctx, raw); err == nil {
		var m struct{ Description string }
		json.Unmarshal(raw, &m)
		c.describedFindings(m.Description)
		return nil
	} else if ctx.Err() != nil {
		return context.Cause(ctx)
	} else if !isObject(raw) {
		c.add(Error, CodeManifestJSON, "the manifest is %s, not a JSON object: push an object with set_output", cut(raw, 200))
		return nil
	} else {
		whole := err
		var fields map[string]json.RawMessage
		json.Unmarshal(raw, &fields)
		errs, err := c.prober.fieldErrors(ctx, fields)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			ia, ib := slices.Index(knownFields, a), slices.Index(knownFields, b)
			if ia < 0 {
				ia = len(knownFields)
			}
			if ib < 0 {
				ib = len(knownFields)
			}
			return cmp.Or(cmp.Compare(ia, ib), strings.Compare(a, b))
		})
		for _, k := range keys {
			if slices.Contains(knownFields, k) {
				c.add(Error, "manifest."+k, "manifest: %s", manifestMessage(errs[k]))
			} else {
				c.add(Error, CodeManifestField, "manifest: %s: drop it, or correct its name (the fields are %s)", manifestMessage(errs[k]), strings.Join(knownFields, ", "))
			}
		}
		if len(errs) == 0 {
			c.add(Error, CodeManifestField, "manifest: %s", manifestMessage(whole))
		}
	}
	return nil
}

// describedFindings checks the description of a manifest the host accepts.
func (c *checker) describedFindings(description string) {
	if strings.TrimSpace(description) == "" {
		c.add(Warning, CodeManifestDescription, "the manifest has no description: MCP clients and models choose tools by it; say what the tool does and when to use it")
	}
}
