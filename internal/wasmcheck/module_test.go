package wasmcheck

import (
	"github.com/capstream/capstream/internal/wasmbin"

	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/capstream/capstream/internal/testwasm"
)

func TestReadLayout(t *testing.T) {
	wasm := testwasm.WAT(t, `(module
  (import "capstream_v1" "input" (func (result i32)))
  (import "env" "t" (table 1 funcref))
  (import "env" "g" (global i32))
  (memory (export "memory") 3 10)
  (global (mut i32) (i32.const 4096))
  (global i64 (i64.const 7))
  (global (export "__data_end") i32 (global.get 0))
  (data (i32.const 16) "hello")
  (data "passive!")
  (func (export "capstream_run") (result i32) (i32.const 0)))`)
	l, err := readLayout(wasm)
	if err != nil {
		t.Fatal(err)
	}
	wantImports := []entry{
		{module: "capstream_v1", name: "input", kind: kindFunc},
		{module: "env", name: "t", kind: kindTable},
		{module: "env", name: "g", kind: kindGlobal},
	}
	if !slices.Equal(l.imports, wantImports) {
		t.Errorf("imports %+v", l.imports)
	}
	if l.memory == nil || *l.memory != (memoryLimits{min: 3, max: 10, hasMax: true}) {
		t.Errorf("memory %+v", l.memory)
	}
	wantGlobals := []global{
		{i32: true, mutable: true, value: 4096, known: true},
		{},
		{i32: true}, // not a lone i32.const
	}
	if l.importedGlobals != 1 || !slices.Equal(l.globals, wantGlobals) {
		t.Errorf("globals %d imported, %+v", l.importedGlobals, l.globals)
	}
	if g, ok := l.definedGlobal(1); !ok || g.value != 4096 {
		t.Errorf("global 1: %+v %v", g, ok)
	}
	if _, ok := l.definedGlobal(0); ok {
		t.Error("global 0 is imported, not defined")
	}
	if len(l.exports) != 3 || l.exports[1] != (entry{name: "__data_end", kind: kindGlobal, index: 3}) {
		t.Errorf("exports %+v", l.exports)
	}
	if l.dataBytes != 13 || l.dataSegments != 2 || !slices.Equal(l.active, []segment{{offset: 16, size: 5}}) {
		t.Errorf("data %d bytes in %d segments, active %+v", l.dataBytes, l.dataSegments, l.active)
	}
}

// nameSection returns a name section that names globals.
func nameSection(names map[uint32]string) []byte {
	var sub []byte
	sub = wasmbin.AppendULEB(sub, uint64(len(names)))
	for i := uint32(0); i < 16; i++ {
		if n, ok := names[i]; ok {
			sub = wasmbin.AppendName(wasmbin.AppendULEB(sub, uint64(i)), n)
		}
	}
	payload := wasmbin.AppendName(nil, "name")
	payload = append(payload, 1, 2, 0, 0) // an empty function names subsection
	payload = wasmbin.AppendULEB(append(payload, 7), uint64(len(sub)))
	return wasmbin.AppendSection(nil, secCustom, append(payload, sub...))
}

func TestShadowStack(t *testing.T) {
	tests := []struct {
		name  string
		wat   string
		names map[uint32]string
		want  *Stack
	}{
		{
			// rustc: --stack-first, stripped, __heap_base and __data_end exported.
			name: "stack first",
			wat: `(memory 17) (global (mut i32) (i32.const 1048576))
  (global (export "__heap_base") i32 (i32.const 1051248)) (global (export "__data_end") i32 (i32.const 1051236))
  (data (i32.const 1048576) "rodata")`,
			want: &Stack{Bytes: 1 << 20},
		},
		{
			name: "after the data, __data_end exported",
			wat: `(memory 3) (global (mut i32) (i32.const 134096))
  (global (export "__data_end") i32 (i32.const 68560)) (data (i32.const 1024) "rodata")`,
			want: &Stack{Bytes: 65536},
		},
		{
			// clang: the data, the zero-initialized data, then the stack; named.
			name:  "after the data, named",
			wat:   `(memory 3) (global (mut i32) (i32.const 169152)) (data (i32.const 1024) "rodata")`,
			names: map[uint32]string{0: "__stack_pointer"},
			want:  &Stack{Bytes: 169152 - 1030, AtMost: true},
		},
		{
			name:  "named, not first",
			wat:   `(memory 2) (global (mut i32) (i32.const 0)) (global (mut i32) (i32.const 65536))`,
			names: map[uint32]string{1: "__stack_pointer"},
			want:  &Stack{Bytes: 65536, AtMost: true},
		},
		{
			// Go: global 0 is its stack pointer, set at run time.
			name: "Go",
			wat:  `(memory 44) (global (mut i32) (i32.const 0)) (global (mut i64) (i64.const 0))`,
		},
		{
			name: "no wasm-ld symbols",
			wat:  `(memory 17) (global (mut i32) (i32.const 1048576))`,
		},
		{
			name: "unaligned",
			wat:  `(memory 17) (global (mut i32) (i32.const 1048570)) (global (export "__heap_base") i32 (i32.const 1048576))`,
		},
		{
			name: "beyond the memory",
			wat:  `(memory 1) (global (mut i32) (i32.const 1048576)) (global (export "__heap_base") i32 (i32.const 1048576))`,
		},
		{
			name:  "immutable",
			wat:   `(memory 1) (global i32 (i32.const 4096))`,
			names: map[uint32]string{0: "__stack_pointer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := testwasm.WAT(t, "(module "+tt.wat+")")
			if tt.names != nil {
				wasm = append(slices.Clone(wasm), nameSection(tt.names)...)
			}
			l, err := readLayout(wasm)
			if err != nil {
				t.Fatal(err)
			}
			got := l.shadowStack()
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Fatalf("stack %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	producers := func(field, value string) []byte {
		p := wasmbin.AppendName(nil, "producers")
		p = wasmbin.AppendULEB(p, 1)
		p = wasmbin.AppendName(p, field)
		p = wasmbin.AppendULEB(p, 1)
		p = wasmbin.AppendName(wasmbin.AppendName(p, value), "1.0")
		return wasmbin.AppendSection(nil, secCustom, p)
	}
	base := testwasm.WAT(t, `(module)`)
	for _, tt := range []struct {
		extra []byte
		want  string
	}{
		{wasmbin.AppendSection(nil, secCustom, wasmbin.AppendName(nil, "go:buildid")), langGo},
		{producers("language", "Rust"), langRust},
		{producers("language", "C11"), langC},
		{producers("language", "C++14"), langCPP},
		{producers("processed-by", "clang"), langC},
		{producers("language", "Fortran"), ""},
		{nil, ""},
	} {
		l, err := readLayout(append(slices.Clone(base), tt.extra...))
		if err != nil {
			t.Fatal(err)
		}
		if got := l.language(nil); got != tt.want {
			t.Errorf("language of %q: %q, want %q", tt.extra, got, tt.want)
		}
	}
	l, _ := readLayout(base)
	if got := l.language([]Import{{Module: "env", Name: "abort", Kind: "func", Signature: asAbort}}); got != langAS {
		t.Errorf("a module importing env.abort: %q", got)
	}
}

// FuzzLayout checks that the section reader, which reads untrusted
// files, returns an error rather than panicking, looping or allocating
// beyond its input, and that what it reads is bounded by the input.
func FuzzLayout(f *testing.F) {
	for _, src := range []string{
		`(module)`,
		`(module (import "env" "m" (memory 1 2)) (import "env" "t" (table 1 funcref)) (import "env" "g" (global (mut i32))) (import "a" "f" (func (param i32))))`,
		`(module (memory (export "memory") 17) (global (mut i32) (i32.const 1048576)) (global (export "__heap_base") i32 (i32.const 1048576)) (data (i32.const 1048576) "x") (data "p"))`,
		`(module (global f64 (f64.const 1)) (global v128 (v128.const i64x2 1 2)) (global funcref (ref.null func)))`,
	} {
		f.Add(testwasm.WAT(f, src))
	}
	f.Add(probeModule([]byte(`{"name":"x"}`)))
	f.Add(append(testwasm.WAT(f, `(module (memory 1) (global (mut i32) (i32.const 16)))`), nameSection(map[uint32]string{0: "__stack_pointer"})...))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		l, err := readLayout(wasm)
		if err != nil {
			return
		}
		if n := len(l.imports) + len(l.exports) + len(l.globals) + len(l.active); n > len(wasm) {
			t.Fatalf("%d entries from %d bytes", n, len(wasm))
		}
		if l.dataBytes > uint64(len(wasm)) {
			t.Fatalf("%d bytes of data from %d bytes", l.dataBytes, len(wasm))
		}
		if s := l.shadowStack(); s != nil && l.memory != nil && s.Bytes > l.memory.min*wasmPage {
			t.Fatalf("a stack of %d bytes in %d pages", s.Bytes, l.memory.min)
		}
		l.language(nil)
	})
}

// FuzzProbeModule checks that a probe module, whatever its manifest, is a
// valid module that holds the manifest as its data, round trip.
func FuzzProbeModule(f *testing.F) {
	f.Add([]byte(`{"name":"x","inputSchema":{"type":"object"}}`))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte("a"), 70000))
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, manifest []byte) {
		wasm := probeModule(manifest)
		l, err := readLayout(wasm)
		if err != nil {
			t.Fatal(err)
		}
		if l.dataBytes != uint64(len(manifest)) || len(l.active) != 1 || l.memory.min*wasmPage < uint64(len(manifest)) {
			t.Fatalf("data %d bytes, active %+v, memory %+v", l.dataBytes, l.active, l.memory)
		}
		if len(l.exports) != 3 || l.exports[1].name != "capstream_manifest" {
			t.Fatalf("exports %+v", l.exports)
		}
		compiled, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		compiled.Close(ctx)
	})
}
