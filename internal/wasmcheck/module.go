package wasmcheck

import (
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
		return nil, fmt.Errorf("%w: no WebAssembly 1.0 header", errMalformed)
	}
	l := &layout{}
	r := &reader{b: wasm, pos: len(header)}
	for !r.done() {
		id := r.byte()
		payload := r.name()
		if r.err != nil {
			return nil, r.err
		}
		sr := &reader{b: payload, base: r.pos - len(payload)}
		l.section(id, sr)
		if sr.err == nil && id != secCustom && sr.pos != len(payload) && l.known(id) {
			sr.fail("%d bytes after the last entry", len(payload)-sr.pos)
		}
		if sr.err != nil {
			return nil, sr.err
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
		n := r.count(4)
		for i := 0; i < n && r.err == nil; i++ {
			e := entry{module: string(r.name()), name: string(r.name()), kind: r.byte()}
			l.importDesc(r, e.kind)
			l.imports = append(l.imports, e)
		}
	case secMemory:
		n := r.count(2)
		for i := 0; i < n && r.err == nil; i++ {
			min, max, hasMax := r.limits()
			if l.memory == nil {
				l.memory = &memoryLimits{min: min, max: max, hasMax: hasMax}
			}
		}
	case secGlobal:
		n := r.count(3)
		for i := 0; i < n && r.err == nil; i++ {
			typ := r.valueType()
			mut := r.byte()
			if mut > 1 {
				r.fail("global mutability %d", mut)
			}
			value, known := r.constExpr()
			l.globals = append(l.globals, global{i32: typ == typeI32, mutable: mut == 1, value: value, known: known && typ == typeI32})
		}
	case secExport:
		n := r.count(3)
		for i := 0; i < n && r.err == nil; i++ {
			l.exports = append(l.exports, entry{name: string(r.name()), kind: r.byte(), index: r.u32()})
		}
	case secData:
		n := r.count(2)
		for i := 0; i < n && r.err == nil; i++ {
			var offset int64
			known := false
			switch flag := r.u32(); flag {
			case 0:
				offset, known = r.constExpr()
			case 1: // passive
			case 2:
				r.u32() // memory index
				offset, known = r.constExpr()
			default:
				r.fail("data segment flags %d", flag)
			}
			size := uint64(len(r.name()))
			l.dataBytes += size
			l.dataSegments++
			if known && r.err == nil {
				l.active = append(l.active, segment{offset: uint64(uint32(offset)), size: size})
			}
		}
	}
	if len(l.imports) > maxEntries || len(l.exports) > maxEntries || len(l.globals) > maxEntries || len(l.active) > maxEntries {
		r.fail("more than %d entries of one kind", maxEntries)
	}
}

// importDesc reads the description of an import of kind k.
func (l *layout) importDesc(r *reader, k byte) {
	switch k {
	case kindFunc:
		r.u32()
	case kindTable:
		r.valueType()
		r.limits()
	case kindMemory:
		min, max, hasMax := r.limits()
		if l.memory == nil {
			l.memory = &memoryLimits{min: min, max: max, hasMax: hasMax, imported: true}
		}
	case kindGlobal:
		r.valueType()
		r.byte()
		l.importedGlobals++
	case kindTag:
		r.byte()
		r.u32()
	default:
		r.fail("import kind %d", k)
	}
}

// customSection reads the name of a custom section, and the parts of the
// "name" and "producers" sections that layout uses. A custom section that
// does not parse is kept by name only: the format leaves them free, and
// the host ignores them.
func (l *layout) customSection(r *reader) {
	name := string(r.name())
	if r.err != nil {
		return
	}
	if len(l.custom) < maxEntries {
		l.custom = append(l.custom, name)
	}
	rest := &reader{b: r.b[r.pos:], base: r.base + r.pos}
	r.pos = len(r.b)
	switch name {
	case "name":
		if names := globalNames(rest); rest.err == nil {
			l.globalNames = names
		}
	case "producers":
		if p := producers(rest); rest.err == nil {
			l.producers = p
		}
	}
}

// globalNames reads the global names subsection (id 7, from the extended
// name section that wasm-ld writes) of a name section.
func globalNames(r *reader) map[uint32]string {
	for !r.done() {
		id := r.byte()
		sub := r.name()
		if id != 7 || r.err != nil {
			continue
		}
		sr := &reader{b: sub}
		n := sr.count(2)
		names := make(map[uint32]string, min(n, 64))
		for i := 0; i < n && sr.err == nil; i++ {
			idx := sr.u32()
			names[idx] = string(sr.name())
		}
		r.err = sr.err
		return names
	}
	return nil
}

// producers reads the producers section (tool conventions): fields such as
// "language" and "processed-by", each a list of names with versions.
func producers(r *reader) map[string][]string {
	out := map[string][]string{}
	n := r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		field := string(r.name())
		m := r.count(2)
		for j := 0; j < m && r.err == nil; j++ {
			name := string(r.name())
			r.name() // version
			if len(out[field]) < 16 {
				out[field] = append(out[field], name)
			}
		}
	}
	return out
}

// valueType reads a value type and returns it; reference types are
// returned as their first byte.
func (r *reader) valueType() byte {
	switch t := r.byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, // i32 i64 f32 f64 v128
		0x70, 0x6f, 0x6e, 0x6d, 0x6c, 0x6b, 0x6a, 0x71, 0x72, 0x73, 0x74, 0x69: // abstract reference types
		return t
	case 0x63, 0x64: // (ref null ht), (ref ht)
		r.sleb(33)
		return t
	default:
		r.fail("value type 0x%02x", t)
		return 0
	}
}

// limits reads the limits of a table or memory.
func (r *reader) limits() (min, max uint64, hasMax bool) {
	flags := r.byte()
	if flags > 7 {
		r.fail("limits flags 0x%02x", flags)
		return 0, 0, false
	}
	bits := uint(32)
	if flags&4 != 0 {
		bits = 64
	}
	min = r.uleb(bits)
	if flags&1 != 0 {
		max, hasMax = r.uleb(bits), true
	}
	return min, max, hasMax
}

// constExpr reads a constant expression up to and including its end, and
// returns its value if it is a lone i32.const. It decodes every
// instruction, since an immediate may hold the end byte.
func (r *reader) constExpr() (value int64, known bool) {
	for n := 0; r.err == nil; n++ {
		switch op := r.byte(); op {
		case 0x0b: // end
			return value, known && n == 1
		case 0x41: // i32.const
			value, known = r.sleb(32), n == 0
		case 0x42: // i64.const
			r.sleb(64)
		case 0x43: // f32.const
			r.bytes(4)
		case 0x44: // f64.const
			r.bytes(8)
		case 0x23, 0xd2: // global.get, ref.func
			r.u32()
		case 0xd0: // ref.null
			r.sleb(33)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // i32/i64 add, sub, mul (extended constant expressions)
		case 0xfd: // v128.const
			if sub := r.u32(); sub != 12 {
				r.fail("instruction 0xfd %d in a constant expression", sub)
			}
			r.bytes(16)
		default:
			r.fail("instruction 0x%02x in a constant expression", op)
		}
	}
	return 0, false
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
