package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/capstream/capstream/internal/wasmsnap"
	"github.com/capstream/capstream/sdk/abi"
)

// snapshotVersion names the format of cached snapshots: change it when
// what goes into one changes (wasmsnap, wazero, the module config, the host
// module, the random section).
const snapshotVersion = "v2"

// snapshotTimeout bounds each run of a module's initialization while its
// snapshot is made, which must not hang the load forever. Compiling the
// instrumented module, which ends on its own, is not counted: it takes
// seconds for a large Go module, more on a busy machine.
const snapshotTimeout = time.Minute

// preinitialize replaces a reactor's compiled code with a snapshot of it
// taken right after _initialize: every call then starts from the state the
// Go runtime (and every package's init) reached once, at load time, instead
// of running that start-up again; only its random state is fresh in every
// instance (random.go). The snapshot is made before any call, in an
// instance where every acting host function is denied, so no call's data
// can be in it; it is kept beside the compilation cache, so a restart
// neither re-snapshots nor recompiles.
func (e *Engine) preinitialize(ctx context.Context, t *Tool, wasm []byte) error {
	snap, err := e.snapshot(ctx, t, wasm)
	if err != nil {
		return fmt.Errorf("%w: pre-initializing: %w", ErrInvalidManifest, err)
	}
	return e.useSnapshot(ctx, t, snap)
}

// useSnapshot makes t run from snap, a snapshot of its module.
func (e *Engine) useSnapshot(ctx context.Context, t *Tool, snap []byte) error {
	// The snapshot's memory becomes the tool's image: instances start from
	// a copy of it rather than from its data segments (memory.go).
	detached, image, err := wasmsnap.DetachData(snap)
	if err != nil {
		return fmt.Errorf("%w: pre-initializing: %w", ErrInvalidManifest, err)
	}
	compiled, err := e.rt.CompileModule(ctx, detached)
	if err != nil {
		return fmt.Errorf("compiling the pre-initialized module: %w", err)
	}
	if t.compiled != nil {
		t.compiled.Close(ctx)
	}
	random, err := readRandomSection(detached, len(image))
	if err != nil {
		compiled.Close(ctx)
		return fmt.Errorf("%w: pre-initializing: %w", ErrInvalidManifest, err)
	}
	t.compiled, t.hasInit = compiled, false
	t.image = &memoryImage{bytes: image, random: random}
	if mem, ok := compiled.ExportedMemories()[abi.ExportMemory]; ok {
		t.minMemory = uint64(mem.Min()) * wasmPageSize
	}
	return nil
}

// snapshotFile is where the snapshot of the module with this digest is
// cached; "" without a cache directory.
func (e *Engine) snapshotFile(digest string) string {
	if e.cfg.CacheDir == "" {
		return ""
	}
	name := strings.TrimPrefix(digest, "sha256:") + "." + snapshotVersion + ".wasm"
	return filepath.Join(e.cfg.CacheDir, "snapshots", name)
}

// cachedSnapshot returns the cached snapshot of the module with this
// digest, if there is one and snapshots are on.
func (e *Engine) cachedSnapshot(digest string) ([]byte, bool) {
	file := e.snapshotFile(digest)
	if file == "" || e.cfg.DisableSnapshots {
		return nil, false
	}
	b, err := os.ReadFile(file)
	return b, err == nil
}

// snapshot returns the pre-initialized module of wasm, made now and cached.
// It runs the initialization twice, with different random sources, to find
// the random state in memory (random.go); the snapshot, made from the
// first, lists it in a custom section.
func (e *Engine) snapshot(ctx context.Context, t *Tool, wasm []byte) ([]byte, error) {
	instrumented, globals, err := wasmsnap.Instrument(wasm)
	if err != nil {
		return nil, err
	}
	compiled, err := e.rt.CompileModule(ctx, instrumented)
	if err != nil {
		return nil, fmt.Errorf("compiling the instrumented module: %w", err)
	}
	defer compiled.Close(ctx)
	memory, values, err := e.initialize(ctx, compiled, globals)
	if err != nil {
		return nil, err
	}
	again, _, err := e.initialize(ctx, compiled, globals)
	if err != nil {
		return nil, err
	}
	snap, err := wasmsnap.Build(wasm, memory, values)
	if err != nil {
		return nil, err
	}
	snap = appendRandomSection(snap, findRandomState(memory, again))
	if file := e.snapshotFile(t.Digest); file != "" {
		if err := writeFileAtomic(file, snap); err != nil {
			e.log.Warn("caching a snapshot failed: the next start makes it again")
		}
	}
	return snap, nil
}

// initialize instantiates an instrumented module with the configuration of
// every call (its start functions run, as a call's would), in an instance
// where the acting host functions are denied, calls its _initialize and
// returns its memory and globals.
func (e *Engine) initialize(ctx context.Context, compiled wazero.CompiledModule, globals []wasmsnap.Global) ([]byte, []wasmsnap.GlobalValue, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	st := &callState{e: e, manifest: true}
	ctx = context.WithValue(ctx, stateKey{}, st)
	fail := func(err error) ([]byte, []wasmsnap.GlobalValue, error) {
		if msg := strings.TrimSpace(st.stderr.String()); msg != "" {
			return nil, nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, nil, err
	}
	mod, err := e.rt.InstantiateModule(ctx, compiled, e.modCfg.WithStderr(&st.stderr).WithStartFunctions())
	if err != nil {
		return fail(fmt.Errorf("instantiating the instrumented module: %w", err))
	}
	defer mod.Close(ctx)
	if init := mod.ExportedFunction(wasmsnap.InitializeExport); init != nil {
		if _, err := init.Call(ctx); err != nil {
			return fail(fmt.Errorf("calling %s: %w", wasmsnap.InitializeExport, err))
		}
	}
	return wasmsnap.Capture(mod, globals)
}

// writeFileAtomic writes b to file through a temporary file and a rename,
// so a crash leaves the old file or the new one, never half of one.
func writeFileAtomic(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
