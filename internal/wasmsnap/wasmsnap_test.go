package wasmsnap

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testwasm.Cleanup()
	os.Exit(code)
}

// stateful mutates globals and memory in _initialize, and in its start
// function; it has a passive data segment after three active ones (which
// become two segments in a snapshot), an immutable global and an imported
// one, and data in a page that _initialize grows.
const stateful = `(module
  (import "env" "base" (global $base i32))
  (memory (export "memory") 1 8)
  (global $counter (mut i32) (i32.const 0))
  (global $big (mut i64) (i64.const 0))
  (global $f (mut f32) (f32.const 0))
  (global $d (mut f64) (f64.const 0))
  (global $k i32 (i32.const 42))
  (global $sum (mut i32) (global.get $base))
  (data (i32.const 16) "hello")
  (data (i32.const 21) " there")
  (data (i32.const 332) "world")
  (data $p "passive!")
  (func $start (global.set $counter (i32.add (global.get $counter) (i32.const 1))))
  (start $start)
  (func (export "_initialize")
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 70000) (i32.const 0xdeadbeef))
    (memory.fill (i32.const 30) (i32.const 0xab) (i32.const 300))
    (memory.init $p (i32.const 340) (i32.const 0) (i32.const 8))
    (i32.store8 (i32.const 16) (i32.const 72))
    (global.set $big (i64.const -1234567890123))
    (global.set $f (f32.const 1.5))
    (global.set $d (f64.const -2.25))
    (global.set $counter (i32.add (global.get $counter) (i32.const 10)))
    (global.set $sum (i32.add (global.get $sum) (global.get $k))))
  (func (export "counter") (result i32) (global.get $counter))
  (func (export "copy_passive") (memory.init $p (i32.const 3000) (i32.const 0) (i32.const 8))))`

// env provides the global stateful imports.
const env = `(module (global (export "base") i32 (i32.const 7)))`

// newRuntime returns a runtime with stateful's imports, closed with t.
func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	if _, err := rt.InstantiateWithConfig(ctx, testwasm.WAT(t, env), wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	return rt
}

// instantiate compiles wasm and instantiates it anonymously, closing both
// with t.
func instantiate(t testing.TB, rt wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compiling: %v", err)
	}
	t.Cleanup(func() { c.Close(ctx) })
	mod, err := rt.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	t.Cleanup(func() { mod.Close(ctx) })
	return mod
}

// state instruments wasm, instantiates it without initializing it and
// returns its memory and globals: the state an instance of wasm starts in.
func state(t testing.TB, rt wazero.Runtime, wasm []byte) ([]byte, []GlobalValue) {
	t.Helper()
	instrumented, globals, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	mem, values, err := Capture(instantiate(t, rt, instrumented), globals)
	if err != nil {
		t.Fatal(err)
	}
	return mem, values
}

func TestSnapshotWAT(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	original := testwasm.WAT(t, stateful)

	// Steps 1-3: instrument, initialize, capture.
	instrumented, globals, err := Instrument(original)
	if err != nil {
		t.Fatal(err)
	}
	wantGlobals := []Global{
		{1, 0x7f, GlobalExportPrefix + "1"}, {2, 0x7e, GlobalExportPrefix + "2"},
		{3, 0x7d, GlobalExportPrefix + "3"}, {4, 0x7c, GlobalExportPrefix + "4"},
		{6, 0x7f, GlobalExportPrefix + "6"},
	}
	if !slices.Equal(globals, wantGlobals) {
		t.Fatalf("Instrument reported globals %v, want %v", globals, wantGlobals)
	}
	mod := instantiate(t, rt, instrumented)
	if _, err := mod.ExportedFunction("_initialize").Call(ctx); err != nil {
		t.Fatal(err)
	}
	memory, values, err := Capture(mod, globals)
	if err != nil {
		t.Fatal(err)
	}
	big := int64(-1234567890123)
	wantValues := []GlobalValue{{1, 11}, {2, uint64(big)}, {3, uint64(api.EncodeF32(1.5))}, {4, api.EncodeF64(-2.25)}, {6, 49}}
	if !slices.Equal(values, wantValues) {
		t.Fatalf("Capture read globals %v, want %v", values, wantValues)
	}
	if len(memory) != 2*pageSize {
		t.Fatalf("Capture read %d bytes of memory, want 2 pages", len(memory))
	}

	// Step 4: the snapshot starts where the initialized instance was.
	snap, err := Build(original, memory, values)
	if err != nil {
		t.Fatal(err)
	}
	gotMem, gotValues := state(t, rt, snap)
	if !bytes.Equal(gotMem, memory) {
		t.Error("a snapshot instance's memory differs from the initialized instance's")
	}
	if !slices.Equal(gotValues, values) {
		t.Errorf("a snapshot instance's globals are %v, want %v", gotValues, values)
	}
	if string(gotMem[16:27]) != "Hello there" || string(gotMem[340:348]) != "passive!" {
		t.Errorf("snapshot memory holds %q and %q", gotMem[16:27], gotMem[340:348])
	}

	inst := instantiate(t, rt, snap)
	if inst.ExportedFunction("_initialize") != nil {
		t.Error("the snapshot still exports _initialize")
	}
	if res, err := inst.ExportedFunction("counter").Call(ctx); err != nil || res[0] != 11 {
		t.Errorf("counter() = %v, %v; want 11: the start function must not run again", res, err)
	}
	if _, err := inst.ExportedFunction("copy_passive").Call(ctx); err != nil {
		t.Fatalf("memory.init of the kept passive segment: %v", err)
	}
	if got, _ := inst.Memory().Read(3000, 8); string(got) != "passive!" {
		t.Errorf("memory.init of the passive segment wrote %q", got)
	}
	if max, ok := inst.Memory().Definition().Max(); !ok || max != 8 {
		t.Errorf("the snapshot's memory maximum is %d, %v; want 8", max, ok)
	}

	m, err := parse(snap)
	if err != nil {
		t.Fatal(err)
	}
	// [16, 348) and [70000, 70004) in the first two, an empty one, and
	// the passive one kept at index 3.
	var kinds []string
	for _, s := range m.segments {
		kinds = append(kinds, fmt.Sprintf("passive=%v:%d", s.passive, len(s.raw)))
	}
	if want := []string{"passive=false:338", "passive=false:11", "passive=true:2", "passive=true:10"}; !slices.Equal(kinds, want) || !m.hasDataCnt {
		t.Errorf("the snapshot's data segments are %v, want %v", kinds, want)
	}
	for _, s := range m.sections {
		if s.id == secStart {
			t.Error("the snapshot kept the start section")
		}
	}
}

// TestSnapshotIdempotent checks that snapshotting an instance that was not
// initialized gives a module in the same state as the original.
func TestSnapshotIdempotent(t *testing.T) {
	rt := newRuntime(t)
	original := testwasm.WAT(t, stateful)
	memory, values := state(t, rt, original)
	snap, err := Build(original, memory, values)
	if err != nil {
		t.Fatal(err)
	}
	gotMem, gotValues := state(t, rt, snap)
	if !bytes.Equal(gotMem, memory) || !slices.Equal(gotValues, values) {
		t.Error("a snapshot of a fresh instance does not start as the original does")
	}
	again, err := Build(snap, gotMem, gotValues)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, snap) {
		t.Error("snapshotting a snapshot's fresh instance changed it")
	}
}

func TestSnapshotFunc(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	snap, err := Snapshot(ctx, rt, testwasm.WAT(t, stateful), wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	inst := instantiate(t, rt, snap)
	if res, err := inst.ExportedFunction("counter").Call(ctx); err != nil || res[0] != 11 {
		t.Errorf("counter() = %v, %v; want 11", res, err)
	}
	if _, err := Snapshot(ctx, rt, []byte("\x00asm\x01\x00\x00\x00\x05\x03\x01\x00"), wazero.NewModuleConfig()); err == nil {
		t.Error("Snapshot of a malformed module succeeded")
	}
}
