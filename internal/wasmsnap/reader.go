package wasmsnap

import (
	"fmt"
	"math"
)

// reader decodes the primitive encodings of the WebAssembly binary format
// from a byte slice. The first error sticks: every later read returns zero
// values, so a parser can read a whole structure and check err once.
type reader struct {
	b    []byte
	pos  int
	base int // offset of b in the module, for messages
	err  error
}

// fail records the first error, naming the offset it happened at.
func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at offset %d: %s", ErrMalformed, r.base+r.pos, fmt.Sprintf(format, args...))
	}
}

func (r *reader) done() bool { return r.err != nil || r.pos >= len(r.b) }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

// bytes returns the next n bytes, aliasing the input.
func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.pos) {
		r.fail("%d bytes past the end", n-uint64(len(r.b)-r.pos))
		return nil
	}
	b := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift+7 > bits && c>>(bits-shift) != 0 {
			// The last byte may use only the bits that are left: no
			// continuation bit and no bits beyond the width.
			r.fail("integer too large for u%d", bits)
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

// u32 reads an unsigned LEB128 u32.
func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

// sleb reads a signed LEB128 number of at most bits bits.
func (r *reader) sleb(bits uint) int64 {
	var v int64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift+7 >= bits {
			// The last possible byte: no continuation bit, and the unused
			// high bits must all equal the sign bit.
			rest := bits - shift // value bits in this byte, 1..7
			unused := int8(c<<1) >> rest
			if c&0x80 != 0 || (unused != 0 && unused != -1) {
				r.fail("integer too large for s%d", bits)
				return 0
			}
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v
		}
	}
}

// name reads a length-prefixed byte string (a name or a byte vector).
func (r *reader) name() []byte { return r.bytes(uint64(r.u32())) }

// count reads a vector length and checks that at least min bytes per
// element remain, so that a corrupt length cannot make a parser allocate
// for elements that are not there.
func (r *reader) count(min int) int {
	n := r.u32()
	if r.err == nil && min > 0 && uint64(n)*uint64(min) > uint64(len(r.b)-r.pos) {
		r.fail("%d elements cannot fit in %d bytes", n, len(r.b)-r.pos)
		return 0
	}
	return int(n)
}

// appendULEB appends v as unsigned LEB128.
func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendSLEB appends v as signed LEB128.
func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendName appends a length-prefixed byte string.
func appendName(b []byte, s string) []byte {
	b = appendULEB(b, uint64(len(s)))
	return append(b, s...)
}

// appendSection appends a section with its id and size.
func appendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = appendULEB(b, uint64(len(payload)))
	return append(b, payload...)
}

// maxPages is the most 64 KiB pages a 32-bit memory can have.
const maxPages = math.MaxUint32/pageSize + 1

// pageSize is the size of a WebAssembly page.
const pageSize = 65536
