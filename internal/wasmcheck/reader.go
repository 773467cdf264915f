package wasmcheck

import (
	"errors"
	"fmt"
)

// errMalformed is wrapped by every error of the section reader.
var errMalformed = errors.New("malformed module")

// reader decodes the primitive encodings of the WebAssembly binary format
// from a byte slice. It never reads past its slice and never allocates
// for a length it has not checked against the bytes left. The first error
// sticks: every later read returns zero values, so a parser can read a
// whole entry and check err once.
type reader struct {
	b    []byte
	pos  int
	base int // offset of b in the module, for messages
	err  error
}

// fail records the first error, naming the offset it happened at.
func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at offset %d: %s", errMalformed, r.base+r.pos, fmt.Sprintf(format, args...))
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
			unused := int8(c<<1) >> (bits - shift)
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
// element remain, so that a corrupt length cannot make a parser loop or
// allocate for elements that are not there.
func (r *reader) count(min int) int {
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(min) > uint64(len(r.b)-r.pos) {
		r.fail("%d entries cannot fit in %d bytes", n, len(r.b)-r.pos)
		return 0
	}
	return int(n)
}
