package wasmsnap

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
)

// Snapshot does every step in one: it instruments wasm, instantiates it in
// rt with cfg, calls its InitializeExport if it exports one, captures the
// instance's state, closes the instance and returns the module Build makes
// of it.
//
// rt must already hold the modules wasm imports, and they and cfg must be
// those of the instances the snapshot will serve: the initialization reads
// its environment (arguments, environment variables, clocks, random
// source) and the snapshot keeps what it read. Snapshot runs no start
// functions of cfg (it uses cfg.WithStartFunctions()). ctx is passed to
// every call, so the host functions find in it whatever they need, and
// cancelling it stops the initialization if rt closes on context done.
//
// The result differs from one initialization to the next (random seeds,
// clock readings), so a compilation cache keyed on module bytes finds it
// again only if the snapshot itself is kept: store it to reuse it.
func Snapshot(ctx context.Context, rt wazero.Runtime, wasm []byte, cfg wazero.ModuleConfig) ([]byte, error) {
	instrumented, globals, err := Instrument(wasm)
	if err != nil {
		return nil, err
	}
	compiled, err := rt.CompileModule(ctx, instrumented)
	if err != nil {
		return nil, fmt.Errorf("compiling the instrumented module: %w", err)
	}
	defer compiled.Close(ctx)
	mod, err := rt.InstantiateModule(ctx, compiled, cfg.WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("instantiating the instrumented module: %w", err)
	}
	defer mod.Close(ctx)
	if init := mod.ExportedFunction(InitializeExport); init != nil {
		if _, err := init.Call(ctx); err != nil {
			return nil, fmt.Errorf("calling %s: %w", InitializeExport, err)
		}
	}
	memory, values, err := Capture(mod, globals)
	if err != nil {
		return nil, err
	}
	return Build(wasm, memory, values)
}
