package wasmcheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/capstream/capstream/sdk/abi"
)

// Reading the manifest of a module the host refuses.
//
// When the host loads a module, its manifest is valid, and the host's Tool
// holds it. When the host refuses a module, for its imports say, check
// still reads its manifest, to report what is wrong with it too: it runs
// capstream_manifest as the host does at load time (in a fresh instance,
// after _initialize, with the acting host functions denied), with a
// stand-in for every import the host would not provide that traps if it is
// called. What it reads, the probes validate (probe.go).

// manifestTimeout bounds a manifest read, as host.Config.ManifestTimeout's
// default does.
const manifestTimeout = 5 * time.Second

// errNotRunnable says why a module cannot be instantiated at all.
var errNotRunnable = errors.New("cannot be instantiated")

// manifestRun is the state of one manifest read.
type manifestRun struct {
	staged    []byte
	output    []byte
	refused   []byte // what set_output last refused as not JSON
	toolErr   string
	violation string
	stderr    bytes.Buffer
}

// errViolation unwinds the guest after an ABI violation.
var errViolation = errors.New("abi violation")

// readManifest runs capstream_manifest of compiled in rt, where WASI is
// instantiated, and returns what it pushed. An error wrapping
// errNotRunnable means the module cannot be instantiated with stand-ins;
// any other error is why the manifest could not be read, worded as the
// host words it.
func readManifest(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, l *layout, wasi map[string]funcType) ([]byte, error) {
	if l != nil {
		for _, imp := range l.imports {
			if imp.kind != kindFunc {
				return nil, fmt.Errorf("%w: it imports a %s", errNotRunnable, kindName(imp.kind))
			}
		}
	}
	if len(compiled.ImportedMemories()) > 0 {
		return nil, fmt.Errorf("%w: it imports its memory", errNotRunnable)
	}
	run := &manifestRun{}
	// One host module per import module but WASI, each function with the
	// type the guest imports it with.
	modules := map[string]map[string]funcType{}
	for _, def := range compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		t := typeOf(def)
		if mod == wasi_snapshot_preview1.ModuleName {
			if want, ok := wasi[name]; !ok || !want.equal(t) {
				return nil, fmt.Errorf("%w: it imports %s.%s %s", errNotRunnable, mod, name, t)
			}
			continue
		}
		if modules[mod] == nil {
			modules[mod] = map[string]funcType{}
		}
		if prev, ok := modules[mod][name]; ok && !prev.equal(t) {
			return nil, fmt.Errorf("%w: it imports %s.%s with two types", errNotRunnable, mod, name)
		}
		modules[mod][name] = t
	}
	for mod, funcs := range modules {
		b := rt.NewHostModuleBuilder(mod)
		for name, t := range funcs {
			fn := run.standIn(mod, name)
			if want, ok := hostFunctions[name]; mod == abi.Module && ok && want.equal(t) {
				fn = run.hostFunction(name)
			}
			b.NewFunctionBuilder().WithGoModuleFunction(fn, t.params, t.results).Export(name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			return nil, fmt.Errorf("%w: %v", errNotRunnable, err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, manifestTimeout)
	defer cancel()
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().WithRandSource(rand.Reader).
		WithSysWalltime().WithSysNanotime().WithStderr(&run.stderr)
	mod, err := rt.InstantiateModule(ctx, compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotRunnable, err)
	}
	defer mod.Close(context.WithoutCancel(ctx))
	exports := compiled.ExportedFunctions()
	if def, ok := exports[abi.ExportInitialize]; ok && typeOf(def).equal(initType) {
		if _, err := mod.ExportedFunction(abi.ExportInitialize).Call(ctx); err != nil {
			return nil, run.failure(abi.ExportInitialize, err)
		}
	}
	res, err := mod.ExportedFunction(abi.ExportManifest).Call(ctx)
	switch {
	case err != nil:
		return nil, run.failure(abi.ExportManifest, err)
	case api.DecodeI32(res[0]) != 0 && run.toolErr != "":
		return nil, errors.New(run.toolErr)
	case api.DecodeI32(res[0]) != 0:
		return nil, fmt.Errorf("capstream_manifest returned %d", api.DecodeI32(res[0]))
	case run.output == nil && run.refused != nil:
		return nil, fmt.Errorf("capstream_manifest set no output: set_output refused %q as not valid JSON", cut(run.refused, 200))
	case run.output == nil:
		return nil, errors.New("capstream_manifest set no output")
	}
	return run.output, nil
}

// failure words a failed export call as the host does: an ABI violation,
// or the error with what the guest wrote to stderr.
func (run *manifestRun) failure(export string, err error) error {
	if run.violation != "" {
		return fmt.Errorf("%s: %s", export, run.violation)
	}
	if msg := strings.TrimSpace(run.stderr.String()); msg != "" {
		return fmt.Errorf("%s: %s\n%v", export, cut([]byte(msg), 2048), err)
	}
	return fmt.Errorf("%s: %v", export, err)
}

// standIn is an import the host does not provide: it traps.
func (run *manifestRun) standIn(mod, name string) api.GoModuleFunction {
	return api.GoModuleFunc(func(context.Context, api.Module, []uint64) {
		panic(fmt.Errorf("the host does not provide %s.%s", mod, name))
	})
}

// hostFunction is a function of capstream_v1 as it behaves while the host
// reads a manifest: input is empty, set_output takes JSON only, and the
// acting functions are denied.
func (run *manifestRun) hostFunction(name string) api.GoModuleFunction {
	const denied = "host calls are not available while reading the manifest"
	return api.GoModuleFunc(func(_ context.Context, mod api.Module, stack []uint64) {
		mem := func(ptr, n uint64) []byte {
			b, ok := mod.Memory().Read(api.DecodeU32(ptr), api.DecodeU32(n))
			if !ok {
				run.violation = fmt.Sprintf("%s: pointer %d and length %d lie outside the memory of %d bytes", name, api.DecodeU32(ptr), api.DecodeU32(n), mod.Memory().Size())
				panic(errViolation)
			}
			return b
		}
		result := abi.OK
		switch name {
		case abi.FuncInput:
			run.staged = nil
		case abi.FuncRead:
			n := min(api.DecodeU32(stack[1]), uint32(len(run.staged)))
			if !mod.Memory().Write(api.DecodeU32(stack[0]), run.staged[:n]) {
				mem(stack[0], uint64(n))
			}
			result = int32(n)
		case abi.FuncSetOutput:
			b := mem(stack[0], stack[1])
			if !json.Valid(b) {
				run.refused = bytes.Clone(b)
				run.staged, result = []byte("output is not valid JSON"), abi.ErrInvalid
				break
			}
			run.output = bytes.Clone(b)
		case abi.FuncSetError:
			run.toolErr = string(cut(mem(stack[0], stack[1]), 4<<10))
		default:
			run.staged, result = []byte(denied), abi.ErrDenied
		}
		stack[0] = api.EncodeI32(result)
	})
}

// cut returns b, or its first n bytes and "…".
func cut(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append(bytes.Clone(b[:n]), "…"...)
}
