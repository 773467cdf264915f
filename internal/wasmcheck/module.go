package wasmcheck

import (
	"github.com/capstream/capstream/internal/wasmbin"

	"bytes"
	"fmt"
)

// The parts of a module that wazero's CompiledModule does not show: the
// kinds of every import (it lists imported functions and memories only),
// the limits of a memory that is not exported, the initial values of
// globals, the data segments and the custom sections that name globals and
// the producing toolchain. layout reads them, and nothing else: function
// bodies and types are wazero's business (and it validates the whole
// module, which layout does not).

// Section ids of the WebAssembly binary format.
const (
	secCustom = 0
	secImport = 2
	secMemory = 5
	secGlobal = 6
	secExport = 7
	secData   = 11
)

// Kinds of imports and exports.
const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
	kindTag    = 4
)

var kindNames = [...]string{kindFunc: "func", kindTable: "table", kindMemory: "memory", kindGlobal: "global", kindTag: "tag"}

func kindName(k byte) string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", k)
}

const typeI32 = 0x7f

// maxEntries bounds the entries layout keeps of any one kind, so that a
// module of many tiny entries cannot make it allocate more than a small
// multiple of the module's own size; a real tool has a few dozen imports.
const maxEntries = 100_000

// layout is what the section reader learns of a module.
type layout struct {
	imports []entry // every import, in order
	exports []entry // every export, in order

	memory *memoryLimits // the module's memory, defined or imported; nil if none

	importedGlobals uint32
	globals         []global // defined globals, in index order
	globalNames     map[uint32]string

	dataBytes    uint64    // bytes of all data segments, active and passive
	dataSegments int       // number of data segments
	active       []segment // active segments whose offset is a constant

	custom    []string // names of the custom sections, in order
	producers map[string][]string
}

// entry is an import or an export.
type entry struct {
	module string // imports only
	name   string
	kind   byte
	index  uint32 // exports only
}

type memoryLimits struct {
	min, max uint64 // pages
	hasMax   bool
	imported bool
}

// global is a global the module defines.
type global struct {
	i32     bool // of type i32
	mutable bool
	value   int64 // the initializer's value, if known
	known   bool  // the initializer is a lone i32.const
}

// segment is an active data segment at a constant offset.
type segment struct {
	offset, size uint64
}

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// readLayout reads the layout of wasm. It reads every section it knows
// in full and skips the others by their sizes; it fails on anything
// malformed in what it reads, and never panics, loops or allocates beyond
// the input's bounds.
func readLayout(wasm []byte) (*layout, error) {
	if !bytes.HasPrefix(wasm, header) {
		return nil, fmt.Errorf("%w: no WebAssembly 1.0 header", wasmbin.ErrMalformed)
	}
	l := &layout{}
	r := &reader{wasmbin.Reader{B: wasm, Pos: len(header)}}
	for !r.Done() {
		id := r.Byte()
		payload := r.Name()
		if r.Err != nil {
			return nil, r.Err
		}
		sr := &reader{wasmbin.Reader{B: payload, Base: r.Pos - len(payload)}}
		l.section(id, sr)
		if sr.Err == nil && id != secCustom && sr.Pos != len(payload) && l.known(id) {
			sr.Fail("%d bytes after the last entry", len(payload)-sr.Pos)
		}
		if sr.Err != nil {
			return nil, sr.Err
		}
	}
	return l, nil
}

func (l *layout) known(id byte) bool {
	switch id {
	case secImport, secMemory, secGlobal, secExport, secData:
		return true
	}
	return false
}

// section reads one section's payload.
func (l *layout) section(id byte, r *reader) {
	switch id {
	case secCustom:
		l.customSection(r)
	case secImport:
		n := r.Count(4)
		for i := 0; i < n && r.Err == nil; i++ {
			e := entry{module: string(r.Name()), name: string(r.Name()), kind: r.Byte()}
			l.importDesc(r, e.kind)
			l.imports = append(l.imports, e)
		}
	case secMemory:
		n := r.Count(2)
		for i := 0; i < n && r.Err == nil; i++ {
			min, max, hasMax, _ := r.Limits()
			if l.memory == nil {
				l.memory = &memoryLimits{min: min, max: max, hasMax: hasMax}
			}
		}
	case secGlobal:
		n := r.Count(3)
		for i := 0; i < n && r.Err == nil; i++ {
			typ := r.ValueType()
			mut := r.Byte()
			if mut > 1 {
				r.Fail("global mutability %d", mut)
			}
			value, known := r.ConstExpr()
			l.globals = append(l.globals, global{i32: typ == typeI32, mutable: mut == 1, value: value, known: known && typ == typeI32})
		}
	case secExport:
		n := r.Count(3)
		for i := 0; i < n && r.Err == nil; i++ {
			l.exports = append(l.exports, entry{name: string(r.Name()), kind: r.Byte(), index: r.U32()})
		}
	case secData:
		n := r.Count(2)
		for i := 0; i < n && r.Err == nil; i++ {
			var offset int64
			known := false
			switch flag := r.U32(); flag {
			case 0:
				offset, known = r.ConstExpr()
			case 1: // passive
			case 2:
				r.U32() // memory index
				offset, known = r.ConstExpr()
			default:
				r.Fail("data segment flags %d", flag)
			}
			size := uint64(len(r.Name()))
			l.dataBytes += size
			l.dataSegments++
			if known && r.Err == nil {
				l.active = append(l.active, segment{offset: uint64(uint32(offset)), size: size})
			}
		}
	}
	if len(l.imports) > maxEntries || len(l.exports) > maxEntries || len(l.globals) > maxEntries || len(l.active) > maxEntries {
		r.Fail("more than %d entries of one kind", maxEntries)
	}
}

// importDesc reads the description of an import of kind k.
func (l *layout) importDesc(r *reader, k byte) {
	switch k {
	case kindFunc:
		r.U32()
	case kindTable:
		r.ValueType()
		r.Limits()
	case kindMemory:
		min, max, hasMax, _ := r.Limits()
		if l.memory == nil {
			l.memory = &memoryLimits{min: min, max: max, hasMax: hasMax, imported: true}
		}
	case kindGlobal:
		r.ValueType()
		r.Byte()
		l.importedGlobals++
	case kindTag:
		r.Byte()
		r.U32()
	default:
		r.Fail("import kind %d", k)
	}
}

// customSection reads the name of a custom section, and the parts of the
// "name" and "producers" sections that layout uses. A custom section that
// does not parse is kept by name only: the format leaves them free, and
// the host ignores them.
func (l *layout) customSection(r *reader) {
	name := string(r.Name())
	if r.Err != nil {
		return
	}
	if len(l.custom) < maxEntries {
		l.custom = append(l.custom, name)
	}
	rest := &reader{wasmbin.Reader{B: r.B[r.Pos:], Base: r.Base + r.Pos}}
	r.Pos = len(r.B)
	switch name {
	case "name":
		if names := globalNames(rest); rest.Err == nil {
			l.globalNames = names
		}
	case "producers":
		if p := producers(rest); rest.Err == nil {
			l.producers = p
		}
	}
}

// globalNames reads the global names subsection (id 7, from the extended
// name section that wasm-ld writes) of a name section.
func globalNames(r *reader) map[uint32]string {
	for !r.Done() {
		id := r.Byte()
		sub := r.Name()
		if id != 7 || r.Err != nil {
			continue
		}
		sr := &reader{wasmbin.Reader{B: sub}}
		n := sr.Count(2)
		names := make(map[uint32]string, min(n, 64))
		for i := 0; i < n && sr.Err == nil; i++ {
			idx := sr.U32()
			names[idx] = string(sr.Name())
		}
		r.Err = sr.Err
		return names
	}
	return nil
}

// producers reads the producers section (tool conventions): fields such as
// "language" and "processed-by", each a list of names with versions.
func producers(r *reader) map[string][]string {
	out := map[string][]string{}
	n := r.Count(2)
	for i := 0; i < n && r.Err == nil; i++ {
		field := string(r.Name())
		m := r.Count(2)
		for j := 0; j < m && r.Err == nil; j++ {
			name := string(r.Name())
			r.Name() // version
			if len(out[field]) < 16 {
				out[field] = append(out[field], name)
			}
		}
	}
	return out
}

// exported returns the export of that name and kind.
func (l *layout) exported(name string, kind byte) (entry, bool) {
	for _, e := range l.exports {
		if e.name == name && e.kind == kind {
			return e, true
		}
	}
	return entry{}, false
}

// definedGlobal returns the defined global of index i in the global index
// space (imported globals first).
func (l *layout) definedGlobal(i uint32) (global, bool) {
	if i < l.importedGlobals || uint64(i-l.importedGlobals) >= uint64(len(l.globals)) {
		return global{}, false
	}
	return l.globals[i-l.importedGlobals], true
}

// hasCustom reports whether the module has a custom section of that name.
func (l *layout) hasCustom(name string) bool {
	for _, c := range l.custom {
		if c == name {
			return true
		}
	}
	return false
}
