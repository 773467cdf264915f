package wasmsnap

import (
	"github.com/capstream/capstream/internal/wasmbin"

	"encoding/binary"
	"fmt"
)

// Build returns a module whose instances start in the state given: the
// original module (the one before Instrument), with
//
//   - the initializer of every mutable global it defines replaced by a
//     constant holding the global's value;
//   - its memory's minimum size raised to len(memory), its maximum kept;
//   - its active data segments replaced by segments holding the non-zero
//     parts of memory, merged across runs of fewer than 512 zero bytes
//     (passive segments are kept, at their indexes, and the data count
//     section counts the new segments);
//   - the InitializeExport export removed, so that nothing can run the
//     initialization again;
//   - the start section removed: the start function ran when the instance
//     that memory was read from was created, and its effects are in the
//     state;
//   - the names of data segments removed from the name section (the other
//     names, and every other custom section, are kept).
//
// memory is the instance's whole memory (api.Memory.Read(0, Size())), a
// whole number of pages; globals holds one value for each mutable global
// Instrument reported. Build does not keep or modify either.
func Build(original []byte, memory []byte, globals []GlobalValue) ([]byte, error) {
	return build(original, memory, globals, mergeGap)
}

func build(original []byte, memory []byte, globals []GlobalValue, gap int) ([]byte, error) {
	m, err := parse(original)
	if err != nil {
		return nil, err
	}
	pages, err := m.checkMemory(memory)
	if err != nil {
		return nil, err
	}
	values, err := m.checkGlobals(globals)
	if err != nil {
		return nil, err
	}

	data := m.dataPayload(memory, gap)
	out := make([]byte, 0, len(original)+len(data.payload))
	out = append(out, header...)
	wroteData := false
	for i, s := range m.sections {
		switch s.id {
		case secMemory:
			out = wasmbin.AppendSection(out, secMemory, m.memoryPayload(pages))
		case secGlobal:
			out = wasmbin.AppendSection(out, secGlobal, m.globalPayload(values))
		case secExport:
			if p, ok := m.exportPayload(); ok {
				out = wasmbin.AppendSection(out, secExport, p)
			}
		case secStart:
		case secDataCount:
			out = wasmbin.AppendSection(out, secDataCount, wasmbin.AppendULEB(nil, uint64(data.count)))
		case secData:
			out = wasmbin.AppendSection(out, secData, data.payload)
			wroteData = true
		case secCustom:
			out = append(out, filterNames(s)...)
		default:
			out = append(out, s.raw...)
		}
		if !wroteData && data.count > 0 && m.lastKnownSection() == i {
			out = wasmbin.AppendSection(out, secData, data.payload)
			wroteData = true
		}
	}
	return out, nil
}

// checkMemory checks that memory fits the module and returns its size in
// pages.
func (m *module) checkMemory(memory []byte) (uint64, error) {
	if !m.hasMemory {
		if len(memory) > 0 {
			return 0, fmt.Errorf("%w: %d bytes of memory for a module that has none", ErrState, len(memory))
		}
		return 0, nil
	}
	if len(memory)%pageSize != 0 {
		return 0, fmt.Errorf("%w: %d bytes of memory is not a whole number of pages", ErrState, len(memory))
	}
	pages := uint64(len(memory) / pageSize)
	switch {
	case pages < m.memMin:
		return 0, fmt.Errorf("%w: %d pages of memory, below the module's minimum of %d", ErrState, pages, m.memMin)
	case m.memHasMax && pages > m.memMax:
		return 0, fmt.Errorf("%w: %d pages of memory, above the module's maximum of %d", ErrState, pages, m.memMax)
	case pages > maxPages:
		return 0, fmt.Errorf("%w: %d pages of memory, above 4 GiB", ErrState, pages)
	}
	return pages, nil
}

// checkGlobals checks that globals holds exactly one value for each mutable
// global, and returns them by index.
func (m *module) checkGlobals(globals []GlobalValue) (map[uint32]uint64, error) {
	mutable := map[uint32]bool{}
	for _, g := range m.mutableGlobals() {
		mutable[g.index] = true
	}
	values := make(map[uint32]uint64, len(globals))
	for _, v := range globals {
		if !mutable[v.Index] {
			return nil, fmt.Errorf("%w: global %d is not a mutable global the module defines", ErrState, v.Index)
		}
		if _, dup := values[v.Index]; dup {
			return nil, fmt.Errorf("%w: two values for global %d", ErrState, v.Index)
		}
		values[v.Index] = v.Bits
	}
	if len(values) != len(mutable) {
		for i := range mutable {
			if _, ok := values[i]; !ok {
				return nil, fmt.Errorf("%w: no value for mutable global %d", ErrState, i)
			}
		}
	}
	return values, nil
}

// lastKnownSection returns the position of the last section that is not a
// custom one, after which a data section the module lacks is added.
func (m *module) lastKnownSection() int {
	for i := len(m.sections) - 1; i >= 0; i-- {
		if m.sections[i].id != secCustom {
			return i
		}
	}
	return -1
}

func (m *module) memoryPayload(pages uint64) []byte {
	p := []byte{1} // one memory
	if m.memHasMax {
		p = append(p, 1)
		p = wasmbin.AppendULEB(p, pages)
		return wasmbin.AppendULEB(p, m.memMax)
	}
	p = append(p, 0)
	return wasmbin.AppendULEB(p, pages)
}

func (m *module) globalPayload(values map[uint32]uint64) []byte {
	p := wasmbin.AppendULEB(nil, uint64(len(m.globals)))
	for _, g := range m.globals {
		if !g.mutable {
			p = append(p, g.raw...)
			continue
		}
		bits := values[g.index]
		p = append(p, g.typ, 1)
		switch g.typ {
		case typeI32:
			p = wasmbin.AppendSLEB(append(p, 0x41), int64(int32(bits)))
		case typeI64:
			p = wasmbin.AppendSLEB(append(p, 0x42), int64(bits))
		case typeF32:
			p = binary.LittleEndian.AppendUint32(append(p, 0x43), uint32(bits))
		case typeF64:
			p = binary.LittleEndian.AppendUint64(append(p, 0x44), bits)
		}
		p = append(p, 0x0b)
	}
	return p
}

// exportPayload returns the exports without InitializeExport, and false if
// none is left.
func (m *module) exportPayload() ([]byte, bool) {
	var entries []byte
	n := 0
	for _, e := range m.exports {
		if e.kind == kindFunc && e.name == InitializeExport {
			continue
		}
		entries = append(entries, e.raw...)
		n++
	}
	if n == 0 {
		return nil, false
	}
	return append(wasmbin.AppendULEB(nil, uint64(n)), entries...), true
}

// dataSection is a new data section and its number of segments.
type dataSection struct {
	payload []byte
	count   int
}

// dataPayload encodes the data segments of the snapshot: one active segment
// for each run of memory, and the module's passive segments at their
// original indexes, which code refers to. An active segment of the
// original before the last passive one that no run takes the place of
// becomes an empty passive segment, which code cannot tell from a dropped
// active one.
func (m *module) dataPayload(memory []byte, gap int) dataSection {
	rs := runs(memory, gap)
	lastPassive := -1
	for i, s := range m.segments {
		if s.passive {
			lastPassive = i
		}
	}
	var p []byte
	n := 0
	for _, s := range m.segments[:lastPassive+1] {
		switch {
		case s.passive:
			p = append(p, s.raw...)
		case len(rs) > 0:
			p = appendActive(p, memory, rs[0])
			rs = rs[1:]
		default:
			p = append(p, 1, 0) // passive, empty
		}
		n++
	}
	for _, r := range rs {
		p = appendActive(p, memory, r)
		n++
	}
	return dataSection{payload: append(wasmbin.AppendULEB(nil, uint64(n)), p...), count: n}
}

func appendActive(p, memory []byte, r run) []byte {
	p = append(p, 0, 0x41) // active in memory 0, at i32.const
	p = wasmbin.AppendSLEB(p, int64(int32(uint32(r.start))))
	p = append(p, 0x0b)
	p = wasmbin.AppendULEB(p, uint64(r.end-r.start))
	return append(p, memory[r.start:r.end]...)
}

// filterNames returns a custom section unchanged, unless it is the name
// section: then without its data segment names, which name the segments
// Build replaced. A name section this package cannot read is kept as it is.
func filterNames(s section) []byte {
	r := &reader{wasmbin.Reader{B: s.payload}}
	if string(r.Name()) != "name" || r.Err != nil {
		return s.raw
	}
	kept := append([]byte(nil), s.payload[:r.Pos]...)
	dropped := false
	for !r.Done() {
		start := r.Pos
		id := r.Byte()
		r.Name()
		if id == 9 { // data segment names
			dropped = true
			continue
		}
		kept = append(kept, s.payload[start:r.Pos]...)
	}
	if r.Err != nil || !dropped {
		return s.raw
	}
	return wasmbin.AppendSection(nil, secCustom, kept)
}
