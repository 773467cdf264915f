package wasmsnap

import (
	"fmt"

	"github.com/capstream/capstream/internal/wasmbin"
)

// DetachData separates a module from the initial contents of its memory.
// It returns the module with every active data segment replaced by an empty
// passive one (indexes, and so the data count section and any memory.init
// or data.drop in code, stay valid), and the image those active segments
// write: the module's minimum memory with each of them applied in order.
//
// An instance of the detached module whose memory starts as a copy of image
// is the same as an instance of wasm; an embedder can then make that copy
// cheaply (copy-on-write mappings of one image shared by every instance)
// instead of having each instantiation write every segment. A segment whose
// offset is not a constant i32.const, or that does not fit the minimum
// memory, is refused with ErrUnsupported: wasm would fail to instantiate
// then, or its layout would depend on an import.
//
// A module without memory, or without active segments, comes back
// unchanged with a nil image (the memory starts zeroed).
func DetachData(wasm []byte) (module, image []byte, err error) {
	m, err := parse(wasm)
	if err != nil {
		return nil, nil, err
	}
	active := 0
	for _, s := range m.segments {
		if !s.passive {
			active++
		}
	}
	if !m.hasMemory || active == 0 {
		return wasm, nil, nil
	}
	if m.memMin > maxPages {
		return nil, nil, fmt.Errorf("%w: a minimum of %d pages of memory", ErrUnsupported, m.memMin)
	}
	image = make([]byte, m.memMin*pageSize)
	var p []byte
	p = wasmbin.AppendULEB(p, uint64(len(m.segments)))
	for i, s := range m.segments {
		if s.passive {
			p = append(p, s.raw...)
			continue
		}
		offset, init, err := activeSegment(s.raw)
		if err != nil {
			return nil, nil, fmt.Errorf("data segment %d: %w", i, err)
		}
		if offset+uint64(len(init)) > uint64(len(image)) {
			return nil, nil, fmt.Errorf("%w: data segment %d at %d, %d bytes, lies outside the %d bytes of memory", ErrUnsupported, i, offset, len(init), len(image))
		}
		copy(image[offset:], init)
		p = append(p, 1, 0) // passive, empty
	}

	out := make([]byte, 0, len(wasm))
	out = append(out, header...)
	for _, s := range m.sections {
		if s.id == secData {
			out = wasmbin.AppendSection(out, secData, p)
		} else {
			out = append(out, s.raw...)
		}
	}
	return out, image, nil
}

// activeSegment decodes an active data segment of memory 0 whose offset is
// an i32.const.
func activeSegment(raw []byte) (offset uint64, init []byte, err error) {
	r := &reader{wasmbin.Reader{B: raw}}
	flag := r.U32()
	if flag == 2 {
		r.U32() // memory 0: parse checked it
	}
	if op := r.Byte(); r.Err == nil && op != 0x41 {
		return 0, nil, fmt.Errorf("%w: offset is not an i32.const (opcode 0x%02x)", ErrUnsupported, op)
	}
	offset = uint64(uint32(int32(r.SLEB(32))))
	if end := r.Byte(); r.Err == nil && end != 0x0b {
		return 0, nil, fmt.Errorf("%w: offset is not a single i32.const", ErrUnsupported)
	}
	init = r.Name()
	if r.Err != nil {
		return 0, nil, r.Err
	}
	return offset, init, nil
}
