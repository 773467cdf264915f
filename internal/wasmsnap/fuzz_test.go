package wasmsnap

import (
	"github.com/capstream/capstream/internal/wasmbin"

	"bytes"
	"encoding/binary"
	"testing"

	"github.com/capstream/capstream/internal/testwasm"
)

// FuzzSnapshot checks that Instrument and Build return errors, never panic,
// on any input; that what they make parses again; and that Build is
// idempotent: a snapshot of a snapshot's own state is that snapshot.
// (Whether wazero accepts what they make is left to the tests with real
// modules: wazero itself can take minutes and gigabytes on some of the
// inputs a fuzzer makes.)
func FuzzSnapshot(f *testing.F) {
	for _, src := range []string{
		stateful,
		env,
		`(module)`,
		`(module (memory 1) (global (mut i64) (i64.const -1)) (data (i32.const 8) "x") (data "p"))`,
		`(module (memory (export "memory") 1 2) (func (export "_initialize")) (start 0))`,
		`(module (global (mut f64) (f64.const 1)) (global (mut f32) (f32.const 1)) (global funcref (ref.null func)))`,
	} {
		f.Add(testwasm.WAT(f, src), []byte("seed"), uint8(1))
	}
	f.Fuzz(func(t *testing.T, wasm, fill []byte, pages uint8) {
		instrumented, globals, err := Instrument(wasm)
		if err == nil {
			if _, err := parse(instrumented); err != nil {
				t.Fatalf("Instrument made a module that does not parse: %v", err)
			}
		}

		memory := make([]byte, int(pages%4)*pageSize)
		copy(memory[min(len(memory), 4000):], fill)
		values := make([]GlobalValue, len(globals))
		for i, g := range globals {
			var word [8]byte
			copy(word[:], fill[min(len(fill), i):])
			values[i] = GlobalValue{Index: g.Index, Bits: binary.LittleEndian.Uint64(word[:])}
		}
		snap, err := Build(wasm, memory, values)
		if err != nil {
			return
		}
		if _, err := parse(snap); err != nil {
			t.Fatalf("Build made a module that does not parse: %v", err)
		}
		again, err := Build(snap, memory, values)
		if err != nil {
			t.Fatalf("Build of its own output: %v", err)
		}
		if !bytes.Equal(again, snap) {
			t.Fatalf("Build is not idempotent")
		}
	})
}

// FuzzLEB128 checks that what the writers write, the readers read back.
func FuzzLEB128(f *testing.F) {
	f.Add(uint64(0), int64(0))
	f.Add(uint64(1<<64-1), int64(-1<<63))
	f.Fuzz(func(t *testing.T, u uint64, s int64) {
		r := &reader{wasmbin.Reader{B: wasmbin.AppendSLEB(wasmbin.AppendULEB(nil, u), s)}}
		if got := r.ULEB(64); got != u || r.Err != nil {
			t.Errorf("uleb %d read back as %d, %v", u, got, r.Err)
		}
		if got := r.SLEB(64); got != s || r.Err != nil || !r.Done() {
			t.Errorf("sleb %d read back as %d, %v", s, got, r.Err)
		}
		r = &reader{wasmbin.Reader{B: wasmbin.AppendSLEB(nil, int64(int32(s)))}}
		if got := r.SLEB(32); got != int64(int32(s)) || r.Err != nil {
			t.Errorf("sleb %d read back as %d, %v", int32(s), got, r.Err)
		}
	})
}
