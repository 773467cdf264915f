package wasmsnap

import (
	"github.com/capstream/capstream/internal/wasmbin"

	"bytes"
	"fmt"
)

// Section ids of the WebAssembly binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionOrder ranks the known non-custom sections in the order the binary
// format requires them (the tag section sits between memory and global, the
// data count section between element and code).
var sectionOrder = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11,
	secCode: 12, secData: 13,
}

var sectionNames = [...]string{
	secCustom: "custom", secType: "type", secImport: "import", secFunction: "function",
	secTable: "table", secMemory: "memory", secGlobal: "global", secExport: "export",
	secStart: "start", secElement: "element", secCode: "code", secData: "data",
	secDataCount: "data count", secTag: "tag",
}

// Value types of globals.
const (
	typeI32  = 0x7f
	typeI64  = 0x7e
	typeF32  = 0x7d
	typeF64  = 0x7c
	typeV128 = 0x7b
)

// Kinds of imports and exports.
const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
	kindTag    = 4
)

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// section is one section of a module.
type section struct {
	id      byte
	raw     []byte // the whole section: id, size and payload
	payload []byte
}

// global is a global defined by the module.
type global struct {
	index   uint32 // in the module's global index space
	typ     byte   // value type; 0 for a reference type
	mutable bool
	raw     []byte // type, mutability and initializer, as encoded
}

// export is one entry of the export section.
type export struct {
	name string
	kind byte
	raw  []byte // as encoded
}

// segment is one data segment.
type segment struct {
	passive bool
	raw     []byte // as encoded
}

// module is what this package needs to know of a module: its sections, and
// the parts of them it rewrites. Everything it does not rewrite is kept as
// encoded.
type module struct {
	sections []section

	importedGlobals uint32
	globals         []global // defined globals, in index order

	hasMemory  bool
	memMin     uint64 // pages
	memMax     uint64 // pages, if hasMax
	memHasMax  bool
	exports    []export
	segments   []segment
	hasDataCnt bool

	err error // why the module cannot be snapshotted
}

// parse splits wasm into sections and decodes the ones this package
// rewrites. It refuses what the package cannot snapshot: an imported
// memory, several memories, a 64-bit or shared memory, an imported mutable
// global, and mutable globals that are not numbers.
func parse(wasm []byte) (*module, error) {
	if !bytes.HasPrefix(wasm, header) {
		if bytes.HasPrefix(wasm, header[:4]) {
			return nil, fmt.Errorf("%w: binary format version %x", ErrUnsupported, wasm[4:min(8, len(wasm))])
		}
		return nil, fmt.Errorf("%w: not a WebAssembly module", ErrMalformed)
	}
	m := &module{}
	r := &reader{wasmbin.Reader{B: wasm, Pos: len(header)}}
	last := 0
	for !r.Done() {
		start := r.Pos
		id := r.Byte()
		payload := r.Name()
		if r.Err != nil {
			return nil, r.Err
		}
		if id != secCustom {
			if int(id) >= len(sectionOrder) || sectionOrder[id] == 0 {
				return nil, fmt.Errorf("%w: unknown section id %d at offset %d", ErrUnsupported, id, start)
			}
			if sectionOrder[id] <= last {
				return nil, fmt.Errorf("%w: %s section at offset %d out of order or repeated", ErrMalformed, sectionNames[id], start)
			}
			last = sectionOrder[id]
		}
		m.sections = append(m.sections, section{id: id, raw: wasm[start:r.Pos], payload: payload})
		if err := m.decode(id, payload, r.Pos-len(payload)); err != nil {
			return nil, fmt.Errorf("%w (in the %s section)", err, sectionNames[id])
		}
	}
	return m, nil
}

// decode decodes one section, found at offset in the module, if it is one
// this package needs.
func (m *module) decode(id byte, payload []byte, offset int) error {
	r := &reader{wasmbin.Reader{B: payload, Base: offset}}
	switch id {
	case secImport:
		m.decodeImports(r)
	case secMemory:
		n := r.Count(2)
		if n > 1 || (n == 1 && m.hasMemory) {
			return fmt.Errorf("%w: more than one memory", ErrUnsupported)
		}
		if n == 1 {
			m.hasMemory = true
			var shared bool
			m.memMin, m.memMax, m.memHasMax, shared = r.memoryLimits()
			if r.Err == nil && shared {
				return fmt.Errorf("%w: shared memory", ErrUnsupported)
			}
		}
	case secGlobal:
		m.decodeGlobals(r)
	case secExport:
		n := r.Count(3)
		for i := 0; i < n && r.Err == nil; i++ {
			start := r.Pos
			name := r.Name()
			kind := r.Byte()
			r.U32()
			m.exports = append(m.exports, export{name: string(name), kind: kind, raw: r.B[start:r.Pos]})
		}
	case secDataCount:
		r.U32()
		m.hasDataCnt = true
	case secData:
		n := r.Count(2)
		for i := 0; i < n && r.Err == nil; i++ {
			start := r.Pos
			passive := false
			switch flag := r.U32(); flag {
			case 0:
				r.ConstExpr()
			case 1:
				passive = true
			case 2:
				if mem := r.U32(); r.Err == nil && mem != 0 {
					return fmt.Errorf("%w: data segment %d for memory %d", ErrMalformed, i, mem)
				}
				r.ConstExpr()
			default:
				r.Fail("data segment flags %d", flag)
			}
			r.Name()
			m.segments = append(m.segments, segment{passive: passive, raw: r.B[start:r.Pos]})
		}
	default:
		return nil
	}
	if r.Err == nil && r.Pos != len(r.B) {
		r.Fail("%d bytes after the last entry", len(r.B)-r.Pos)
	}
	if r.Err != nil {
		return r.Err
	}
	if m.err != nil {
		return m.err
	}
	return nil
}

func (m *module) decodeImports(r *reader) {
	n := r.Count(4)
	for i := 0; i < n && r.Err == nil; i++ {
		r.Name()
		r.Name()
		switch kind := r.Byte(); kind {
		case kindFunc:
			r.U32()
		case kindTable:
			r.valueType()
			r.Limits()
		case kindMemory:
			r.Limits()
			m.refuse("imported memory")
		case kindGlobal:
			r.valueType()
			if mut := r.Byte(); r.Err == nil && mut != 0 {
				m.refuse("imported mutable global")
			}
			m.importedGlobals++
		case kindTag:
			r.Byte()
			r.U32()
		default:
			r.Fail("import kind %d", kind)
		}
	}
}

func (m *module) decodeGlobals(r *reader) {
	n := r.Count(3)
	for i := 0; i < n && r.Err == nil; i++ {
		start := r.Pos
		typ := r.valueType()
		mut := r.Byte()
		if mut > 1 {
			r.Fail("global mutability %d", mut)
		}
		r.ConstExpr()
		g := global{index: m.importedGlobals + uint32(i), typ: typ, mutable: mut == 1, raw: r.B[start:r.Pos]}
		if r.Err == nil && g.mutable && !isNumber(typ) {
			m.refuse(fmt.Sprintf("mutable global %d is not a number", g.index))
		}
		m.globals = append(m.globals, g)
	}
}

// refuse records that the module cannot be snapshotted.
func (m *module) refuse(why string) {
	if m.err == nil {
		m.err = fmt.Errorf("%w: %s", ErrUnsupported, why)
	}
}

// valueType reads a value type and returns it, or 0 for a reference type.
func (r *reader) valueType() byte {
	if t := r.ValueType(); isNumber(t) || t == typeV128 {
		return t
	}
	return 0
}

func isNumber(t byte) bool { return t == typeI32 || t == typeI64 || t == typeF32 || t == typeF64 }

// memoryLimits reads the limits of a memory, refusing a 64-bit one.
func (r *reader) memoryLimits() (lo, hi uint64, hasMax, shared bool) {
	lo, hi, hasMax, flags := r.Limits()
	switch {
	case r.Err != nil:
	case flags&4 != 0:
		r.Err = fmt.Errorf("%w: 64-bit memory", ErrUnsupported)
	case lo > maxPages || (hasMax && (hi > maxPages || hi < lo)):
		r.Fail("memory limits %d..%d", lo, hi)
	}
	return lo, hi, hasMax, flags&2 != 0
}

// mutableGlobals returns the defined mutable globals.
func (m *module) mutableGlobals() []global {
	var out []global
	for _, g := range m.globals {
		if g.mutable {
			out = append(out, g)
		}
	}
	return out
}
