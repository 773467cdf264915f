package wasmsnap

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/capstream/capstream/internal/testwasm"
	"github.com/capstream/capstream/sdk/abi"
)

// This file snapshots Go-built tools (sdk/ABI.md) and runs them under a
// stub of the capstream_v1 host module.

// stubCall is one call's state in the stub host, found in the context.
type stubCall struct {
	input   []byte
	staged  []byte
	output  []byte
	toolErr string
	logs    []string
}

type stubKey struct{}

func stub(ctx context.Context) *stubCall { return ctx.Value(stubKey{}).(*stubCall) }

// instantiateStubHost adds a capstream_v1 module to rt with the plumbing
// functions and log.
func instantiateStubHost(ctx context.Context, rt wazero.Runtime) error {
	i32 := api.ValueTypeI32
	b := rt.NewHostModuleBuilder(abi.Module)
	export := func(name string, fn api.GoModuleFunc, params ...api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(fn, params, []api.ValueType{i32}).Export(name)
	}
	read := func(mod api.Module, ptr, n uint64) []byte {
		b, ok := mod.Memory().Read(api.DecodeU32(ptr), api.DecodeU32(n))
		if !ok {
			panic("out of range")
		}
		return append([]byte(nil), b...)
	}
	export(abi.FuncInput, func(ctx context.Context, _ api.Module, stack []uint64) {
		st := stub(ctx)
		st.staged = st.input
		stack[0] = api.EncodeI32(int32(len(st.staged)))
	})
	export(abi.FuncRead, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := stub(ctx)
		n := min(int(api.DecodeU32(stack[1])), len(st.staged))
		if !mod.Memory().Write(api.DecodeU32(stack[0]), st.staged[:n]) {
			panic("out of range")
		}
		stack[0] = api.EncodeI32(int32(n))
	}, i32, i32)
	export(abi.FuncSetOutput, func(ctx context.Context, mod api.Module, stack []uint64) {
		stub(ctx).output = read(mod, stack[0], stack[1])
		stack[0] = api.EncodeI32(abi.OK)
	}, i32, i32)
	export(abi.FuncSetError, func(ctx context.Context, mod api.Module, stack []uint64) {
		stub(ctx).toolErr = string(read(mod, stack[0], stack[1]))
		stack[0] = api.EncodeI32(abi.OK)
	}, i32, i32)
	export(abi.FuncLog, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := stub(ctx)
		st.logs = append(st.logs, string(read(mod, stack[1], stack[2])))
		stack[0] = api.EncodeI32(abi.OK)
	}, i32, i32, i32)
	_, err := b.Instantiate(ctx)
	return err
}

// cache keeps compiled code across the runtimes of this package's tests.
var cache = wazero.NewCompilationCache()

// newGoRuntime returns a runtime with WASI and the stub host, closed with
// tb.
func newGoRuntime(tb testing.TB) wazero.Runtime {
	tb.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	tb.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	if err := instantiateStubHost(ctx, rt); err != nil {
		tb.Fatal(err)
	}
	return rt
}

// sysConfig is the module configuration of the engine (host/engine.go): real
// clocks and crypto/rand.
func sysConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep()
}

// compile compiles wasm, closed with tb.
func compile(tb testing.TB, rt wazero.Runtime, wasm []byte) wazero.CompiledModule {
	tb.Helper()
	ctx := context.Background()
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(ctx) })
	return c
}

// call runs one call in a fresh instance of c, as the engine does:
// instantiate, _initialize if init, capstream_run, close.
func call(ctx context.Context, rt wazero.Runtime, c wazero.CompiledModule, cfg wazero.ModuleConfig, init bool, input string) (int32, *stubCall, error) {
	st := &stubCall{input: []byte(input)}
	ctx = context.WithValue(ctx, stubKey{}, st)
	mod, err := rt.InstantiateModule(ctx, c, cfg)
	if err != nil {
		return 0, st, err
	}
	defer mod.Close(ctx)
	if init {
		if _, err := mod.ExportedFunction(InitializeExport).Call(ctx); err != nil {
			return 0, st, err
		}
	}
	res, err := mod.ExportedFunction(abi.ExportRun).Call(ctx)
	if err != nil {
		return 0, st, err
	}
	return api.DecodeI32(res[0]), st, nil
}

func TestSnapshotEcho(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt := newGoRuntime(t)
	original := testwasm.Go(t, "plugins/echo")
	snap, err := Snapshot(ctx, rt, original, sysConfig())
	if err != nil {
		t.Fatal(err)
	}
	c := compile(t, rt, snap)
	if _, ok := c.ExportedFunctions()[InitializeExport]; ok {
		t.Error("the snapshot exports _initialize")
	}
	for i := range 2 {
		rc, st, err := call(ctx, rt, c, sysConfig(), false, `{"text":"hi"}`)
		if err != nil || rc != 0 || string(st.output) != `{"text":"hi"}` {
			t.Fatalf("call %d: returned %d, %v, output %s, error %q", i, rc, err, st.output, st.toolErr)
		}
		if len(st.logs) != 1 || st.logs[0] != "echoing 2 bytes" {
			t.Errorf("call %d logged %q", i, st.logs)
		}
	}

	before, err := parse(original)
	if err != nil {
		t.Fatal(err)
	}
	after, err := parse(snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("data segments: %d in the original, %d in the snapshot; %d bytes, %d bytes", len(before.segments), len(after.segments), len(original), len(snap))
	if len(after.segments) > 1000 {
		t.Errorf("the snapshot has %d data segments", len(after.segments))
	}
}

// clockOutput is the output of the clock guest (testdata/clock).
type clockOutput struct {
	SinceInitNs int64  `json:"sinceInitNs"`
	InitWallNs  int64  `json:"initWallNs"`
	WallNs      int64  `json:"wallNs"`
	SleptNs     int64  `json:"sleptNs"`
	InitRand    uint64 `json:"initRand"`
	RunRand     uint64 `json:"runRand"`
	MapOrder    string `json:"mapOrder"`
	Crypto      string `json:"crypto"`
}

// runClock calls the clock guest in a fresh instance of c.
func runClock(t *testing.T, rt wazero.Runtime, c wazero.CompiledModule, cfg wazero.ModuleConfig) clockOutput {
	t.Helper()
	rc, st, err := call(context.Background(), rt, c, cfg, false, `{}`)
	if err != nil || rc != 0 {
		t.Fatalf("the clock guest returned %d, %v: %s", rc, err, st.toolErr)
	}
	var out clockOutput
	if err := json.Unmarshal(st.output, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshotFrom initializes an instance of the compiled instrumented module
// under cfg and builds the snapshot of original from it.
func snapshotFrom(t *testing.T, rt wazero.Runtime, instrumented wazero.CompiledModule, globals []Global, original []byte, cfg wazero.ModuleConfig) []byte {
	t.Helper()
	ctx := context.WithValue(context.Background(), stubKey{}, &stubCall{})
	mod, err := rt.InstantiateModule(ctx, instrumented, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	if _, err := mod.ExportedFunction(InitializeExport).Call(ctx); err != nil {
		t.Fatal(err)
	}
	memory, values, err := Capture(mod, globals)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Build(original, memory, values)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestSnapshotClock shows what instances of a snapshot of a Go module share
// and what they do not.
func TestSnapshotClock(t *testing.T) {
	t.Parallel()
	rt := newGoRuntime(t)
	original := testwasm.Go(t, "internal/wasmsnap/testdata/clock")
	wasm, globals, err := Instrument(original)
	if err != nil {
		t.Fatal(err)
	}
	instrumented := compile(t, rt, wasm)

	// The runtime random state drawn at initialization (math/rand, map
	// iteration order) is shared, crypto/rand is not, and the clocks keep
	// moving forward from the initialization.
	t.Run("shared", func(t *testing.T) {
		c := compile(t, rt, snapshotFrom(t, rt, instrumented, globals, original, sysConfig()))
		const pause = 10 * time.Millisecond
		time.Sleep(pause)
		a := runClock(t, rt, c, sysConfig())
		b := runClock(t, rt, c, sysConfig())
		for _, o := range []clockOutput{a, b} {
			if o.SinceInitNs < int64(pause) || o.WallNs-o.InitWallNs < int64(pause) {
				t.Errorf("%v after the initialization, the guest measured %v on its monotonic clock and %v on its wall clock",
					pause, time.Duration(o.SinceInitNs), time.Duration(o.WallNs-o.InitWallNs))
			}
			if o.SleptNs < int64(time.Millisecond) {
				t.Errorf("time.Sleep(1ms) took %v", time.Duration(o.SleptNs))
			}
		}
		if b.SinceInitNs <= a.SinceInitNs || b.WallNs <= a.WallNs {
			t.Errorf("the second instance's clocks (%d, %d) are not past the first's (%d, %d)", b.SinceInitNs, b.WallNs, a.SinceInitNs, a.WallNs)
		}
		if a.Crypto == b.Crypto {
			t.Errorf("two instances read the same crypto/rand bytes %s", a.Crypto)
		}
		// The documented cost of a snapshot: its instances continue the
		// same runtime random stream.
		if a.InitRand != b.InitRand || a.RunRand != b.RunRand || a.MapOrder != b.MapOrder {
			t.Errorf("instances of one snapshot drew different runtime random numbers: %+v, %+v", a, b)
		}
	})

	// Without a snapshot, each instance seeds its own.
	t.Run("initialized", func(t *testing.T) {
		var fresh [2]clockOutput
		for i := range fresh {
			rc, st, err := call(context.Background(), rt, instrumented, sysConfig(), true, `{}`)
			if err != nil || rc != 0 {
				t.Fatalf("the clock guest returned %d, %v", rc, err)
			}
			if err := json.Unmarshal(st.output, &fresh[i]); err != nil {
				t.Fatal(err)
			}
		}
		if fresh[0].RunRand == fresh[1].RunRand {
			t.Errorf("two initialized instances drew the same math/rand number %d", fresh[0].RunRand)
		}
	})

	// Under a monotonic clock behind the one it was initialized under, as
	// after a reboot or on another machine (wazero's WithSysNanotime reads
	// the host's CLOCK_MONOTONIC), the Go runtime copes: only durations
	// measured from readings taken at initialization come out negative.
	t.Run("clock behind", func(t *testing.T) {
		start := time.Now()
		ahead := sysConfig().WithNanotime(func() int64 { return int64(time.Since(start) + time.Hour) }, 1)
		c := compile(t, rt, snapshotFrom(t, rt, instrumented, globals, original, ahead))
		var n int64
		for name, cfg := range map[string]wazero.ModuleConfig{
			"an hour behind":            sysConfig().WithNanotime(func() int64 { return int64(time.Since(start)) }, 1),
			"clock from zero, per call": sysConfig().WithNanotime(func() int64 { n += 1000; return n }, 1),
		} {
			o := runClock(t, rt, c, cfg)
			if o.SinceInitNs > -int64(59*time.Minute) || o.SleptNs < int64(time.Millisecond) {
				t.Errorf("%s: since initialization %v, time.Sleep(1ms) took %v", name, time.Duration(o.SinceInitNs), time.Duration(o.SleptNs))
			}
		}
	})
}
