package wasmsnap

import (
	"github.com/capstream/capstream/internal/wasmbin"

	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/capstream/capstream/internal/testwasm"
)

// assemble returns a module of the given sections; sec makes one.
func assemble(sections ...[]byte) []byte {
	return slices.Concat(append([][]byte{header}, sections...)...)
}

func sec(id byte, payload ...byte) []byte { return wasmbin.AppendSection(nil, id, payload) }

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		wasm func(t *testing.T) []byte
		want error
	}{
		{"not wasm", func(*testing.T) []byte { return []byte("#!/bin/sh\n") }, ErrMalformed},
		{"empty", func(*testing.T) []byte { return nil }, ErrMalformed},
		{"version 2", func(*testing.T) []byte { return []byte("\x00asm\x02\x00\x00\x00") }, ErrUnsupported},
		{"truncated", func(t *testing.T) []byte { return testwasm.WAT(t, stateful)[:100] }, ErrMalformed},
		{"section past the end", func(*testing.T) []byte { return assemble([]byte{secType, 10, 0}) }, ErrMalformed},
		{"unknown section", func(*testing.T) []byte { return assemble(sec(14)) }, ErrUnsupported},
		{"repeated section", func(*testing.T) []byte { return assemble(sec(secMemory, 0), sec(secMemory, 0)) }, ErrMalformed},
		{"sections out of order", func(*testing.T) []byte { return assemble(sec(secGlobal, 0), sec(secMemory, 0)) }, ErrMalformed},
		{"bytes after the entries", func(*testing.T) []byte { return assemble(sec(secGlobal, 0, 0)) }, ErrMalformed},
		{"overlong count", func(*testing.T) []byte { return assemble(sec(secGlobal, 0xff, 0xff, 0xff, 0xff, 0x7f)) }, ErrMalformed},
		{"count beyond the section", func(*testing.T) []byte { return assemble(sec(secGlobal, 0xff, 0xff, 0x03)) }, ErrMalformed},
		{"unknown value type", func(*testing.T) []byte { return assemble(sec(secGlobal, 1, 0x40, 1, 0x41, 0, 0x0b)) }, ErrMalformed},
		{"unknown instruction", func(*testing.T) []byte { return assemble(sec(secGlobal, 1, typeI32, 1, 0x20, 0, 0x0b)) }, ErrMalformed},
		{"unterminated expression", func(*testing.T) []byte { return assemble(sec(secGlobal, 1, typeI32, 1, 0x41, 0x0b)) }, ErrMalformed},
		{"data for memory 1", func(*testing.T) []byte {
			return assemble(sec(secMemory, 1, 0, 1), sec(secData, 1, 2, 1, 0x41, 0, 0x0b, 0))
		}, ErrMalformed},
		{"memory min above max", func(*testing.T) []byte { return assemble(sec(secMemory, 1, 1, 2, 1)) }, ErrMalformed},
		{"imported memory", func(t *testing.T) []byte {
			return testwasm.WAT(t, `(module (import "env" "memory" (memory 1)))`)
		}, ErrUnsupported},
		{"two memories", func(*testing.T) []byte { return assemble(sec(secMemory, 2, 0, 1, 0, 1)) }, ErrUnsupported},
		{"64-bit memory", func(*testing.T) []byte { return assemble(sec(secMemory, 1, 4, 1)) }, ErrUnsupported},
		{"shared memory", func(*testing.T) []byte { return assemble(sec(secMemory, 1, 3, 1, 1)) }, ErrUnsupported},
		{"imported mutable global", func(t *testing.T) []byte {
			return testwasm.WAT(t, `(module (import "env" "g" (global (mut i32))))`)
		}, ErrUnsupported},
		{"mutable v128 global", func(t *testing.T) []byte {
			return testwasm.WAT(t, `(module (global (mut v128) (v128.const i64x2 0 0)))`)
		}, ErrUnsupported},
		{"mutable funcref global", func(t *testing.T) []byte {
			return testwasm.WAT(t, `(module (global (mut funcref) (ref.null func)))`)
		}, ErrUnsupported},
		{"export name taken", func(t *testing.T) []byte {
			return testwasm.WAT(t, `(module (global (export "capstream.snapshot.global.0") (mut i32) (i32.const 0)))`)
		}, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wasm := tc.wasm(t)
			_, _, err := Instrument(wasm)
			t.Log(err)
			if !errors.Is(err, tc.want) {
				t.Errorf("Instrument: %v, want %v", err, tc.want)
			}
			if tc.name == "export name taken" {
				return // Build adds no exports
			}
			if _, err := Build(wasm, nil, nil); !errors.Is(err, tc.want) {
				t.Errorf("Build: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBuildRefusesState(t *testing.T) {
	mod := testwasm.WAT(t, `(module
	  (memory 2 3)
	  (global (mut i32) (i32.const 0))
	  (global i32 (i32.const 0))
	  (global (mut i64) (i64.const 0)))`)
	noMemory := testwasm.WAT(t, `(module)`)
	page := make([]byte, pageSize)
	values := []GlobalValue{{0, 1}, {2, 2}}
	for _, tc := range []struct {
		name    string
		wasm    []byte
		memory  []byte
		globals []GlobalValue
	}{
		{"memory below the minimum", mod, page, values},
		{"memory above the maximum", mod, bytes.Repeat(page, 4), values},
		{"memory not in pages", mod, make([]byte, 2*pageSize+1), values},
		{"memory for a module without", noMemory, page, nil},
		{"a global missing", mod, bytes.Repeat(page, 2), values[:1]},
		{"an immutable global", mod, bytes.Repeat(page, 2), append(values, GlobalValue{1, 0})},
		{"an unknown global", mod, bytes.Repeat(page, 2), append(values, GlobalValue{3, 0})},
		{"a global twice", mod, bytes.Repeat(page, 2), append(values, GlobalValue{2, 0})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Build(tc.wasm, tc.memory, tc.globals); !errors.Is(err, ErrState) {
				t.Errorf("Build: %v, want %v", err, ErrState)
			}
		})
	}
	if _, err := Build(mod, bytes.Repeat(page, 3), []GlobalValue{values[1], values[0]}); err != nil {
		t.Errorf("Build with the globals in another order: %v", err)
	}
}

// TestKeepsWhatItDoesNotRewrite checks that Instrument and Build copy what
// they need not understand: immutable globals with any constant
// expression, custom sections, the name section without data segment
// names.
func TestKeepsWhatItDoesNotRewrite(t *testing.T) {
	// An immutable global whose initializer has the end opcode as an
	// immediate and uses extended constant expressions, a mutable one, and
	// a start function.
	imm := []byte{typeI64, 0, 0x42, 0x0b, 0x42, 0x02, 0x7c, 0x0b} // i64.const 11, i64.const 2, i64.add
	global := slices.Concat([]byte{2}, imm, []byte{typeF32, 1, 0x43, 0, 0, 0, 0, 0x0b})
	names := slices.Concat(
		wasmbin.AppendName(nil, "name"),
		[]byte{1, 4, 1, 0, 1, 'f'}, // function 0 is "f"
		[]byte{9, 4, 1, 0, 1, 'd'}, // data segment 0 is "d"
	)
	wasm := assemble(
		sec(secCustom, wasmbin.AppendName(nil, "before")...),
		sec(secType, 1, 0x60, 0, 0),
		sec(secFunction, 1, 0),
		sec(secMemory, 1, 0, 1),
		sec(secGlobal, global...),
		sec(secStart, 0),
		sec(secCode, 1, 2, 0, 0x0b),
		sec(secData, 1, 0, 0x41, 0, 0x0b, 1, 'x'),
		sec(secCustom, names...),
	)
	instrumented, globals, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Global{{1, typeF32, GlobalExportPrefix + "1"}}; !slices.Equal(globals, want) {
		t.Errorf("globals %v, want %v", globals, want)
	}
	if !bytes.Contains(instrumented, imm) || !bytes.HasPrefix(instrumented[len(header):], sec(secCustom, wasmbin.AppendName(nil, "before")...)) {
		t.Error("Instrument changed what it need not")
	}

	memory := make([]byte, pageSize)
	memory[5] = 'y'
	snap, err := Build(wasm, memory, []GlobalValue{{1, 0x3fc00000}})
	if err != nil {
		t.Fatal(err)
	}
	want := assemble(
		sec(secCustom, wasmbin.AppendName(nil, "before")...),
		sec(secType, 1, 0x60, 0, 0),
		sec(secFunction, 1, 0),
		sec(secMemory, 1, 0, 1),
		sec(secGlobal, slices.Concat([]byte{2}, imm, []byte{typeF32, 1, 0x43, 0, 0, 0xc0, 0x3f, 0x0b})...),
		sec(secCode, 1, 2, 0, 0x0b),
		sec(secData, 1, 0, 0x41, 5, 0x0b, 1, 'y'),
		sec(secCustom, slices.Concat(wasmbin.AppendName(nil, "name"), []byte{1, 4, 1, 0, 1, 'f'})...),
	)
	if !bytes.Equal(snap, want) {
		t.Errorf("Build made\n%x\nwant\n%x", snap, want)
	}
}

// TestAddsSections checks that Instrument adds an export section, and Build
// a data section, where the module has none.
func TestAddsSections(t *testing.T) {
	ctx := context.Background()
	wasm := testwasm.WAT(t, `(module (memory 1) (global (mut i32) (i32.const 0)) (func (result i32) (i32.const 1)))`)
	instrumented, globals, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if len(globals) != 1 || instantiate(t, rt, instrumented).ExportedGlobal(globals[0].Export) == nil {
		t.Errorf("the instrumented module does not export the globals Instrument reported: %v", globals)
	}

	memory := make([]byte, pageSize)
	copy(memory[100:], "state")
	snap, err := Build(wasm, memory, []GlobalValue{{0, 5}})
	if err != nil {
		t.Fatal(err)
	}
	got, values := state(t, rt, snap)
	if !bytes.Equal(got, memory) || values[0].Bits != 5 {
		t.Error("the snapshot does not start in the state given")
	}
}

func TestLEB128(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits uint
		want int64
		ok   bool
		sign bool
	}{
		{"\x00", 32, 0, true, false},
		{"\xff\xff\xff\xff\x0f", 32, 0xffffffff, true, false},
		{"\xff\xff\xff\xff\x1f", 32, 0, false, false},
		{"\x80\x80\x80\x80\x80\x00", 32, 0, false, false},
		{"\x80\x80\x80\x80\x00", 32, 0, true, false},
		{"\x80", 32, 0, false, false},
		{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 64, -1, true, false},
		{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x03", 64, 0, false, false},
		{"\x7f", 32, -1, true, true},
		{"\x80\x80\x80\x80\x78", 32, -1 << 31, true, true},
		{"\xff\xff\xff\xff\x07", 32, 1<<31 - 1, true, true},
		{"\xff\xff\xff\xff\x0f", 32, 0, false, true},
		{"\x80\x80\x80\x80\x70", 32, 0, false, true},
		{"\xff\xff\xff\xff\x7f", 32, -1, true, true},
		{"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f", 64, -1 << 63, true, true},
		{"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 64, 0, false, true},
		{"\x40", 33, -64, true, true},
	} {
		r := &reader{wasmbin.Reader{B: []byte(tc.in)}}
		var got int64
		if tc.sign {
			got = r.SLEB(tc.bits)
		} else {
			got = int64(r.ULEB(tc.bits))
		}
		if ok := r.Err == nil && r.Done(); ok != tc.ok || got != tc.want {
			t.Errorf("reading %x as %d bits (signed %v): %d, %v; want %d, %v", tc.in, tc.bits, tc.sign, got, r.Err, tc.want, tc.ok)
		}
	}
}
