// Package wasmbin reads the primitive encodings of the WebAssembly binary
// format, for the packages that parse modules themselves (wasmsnap, which
// rewrites them, and wasmcheck, which checks them).
package wasmbin

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every error of a Reader.
var ErrMalformed = errors.New("malformed module")

// Reader decodes the primitive encodings of the WebAssembly binary format
// from a byte slice. The first error sticks: every later read returns zero
// values, so a parser can read a whole structure and check err once.
type Reader struct {
	B    []byte
	Pos  int
	Base int // offset of B in the module, for messages
	Err  error
}

// Fail records the first error, naming the offset it happened at.
func (r *Reader) Fail(format string, args ...any) {
	if r.Err == nil {
		r.Err = fmt.Errorf("%w: at offset %d: %s", ErrMalformed, r.Base+r.Pos, fmt.Sprintf(format, args...))
	}
}

func (r *Reader) Done() bool { return r.Err != nil || r.Pos >= len(r.B) }

func (r *Reader) Byte() byte {
	if r.Err != nil {
		return 0
	}
	if r.Pos >= len(r.B) {
		r.Fail("unexpected end")
		return 0
	}
	c := r.B[r.Pos]
	r.Pos++
	return c
}

// Bytes returns the next n bytes, aliasing the input.
func (r *Reader) Bytes(n uint64) []byte {
	if r.Err != nil {
		return nil
	}
	if n > uint64(len(r.B)-r.Pos) {
		r.Fail("%d bytes past the end", n-uint64(len(r.B)-r.Pos))
		return nil
	}
	b := r.B[r.Pos : r.Pos+int(n)]
	r.Pos += int(n)
	return b
}

// ULEB reads an unsigned LEB128 number of at most bits bits.
func (r *Reader) ULEB(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.Byte()
		if r.Err != nil {
			return 0
		}
		if shift+7 > bits && c>>(bits-shift) != 0 {
			// The last byte may use only the bits that are left: no
			// continuation bit and no bits beyond the width.
			r.Fail("integer too large for u%d", bits)
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

// U32 reads an unsigned LEB128 u32.
func (r *Reader) U32() uint32 { return uint32(r.ULEB(32)) }

// SLEB reads a signed LEB128 number of at most bits bits.
func (r *Reader) SLEB(bits uint) int64 {
	var v int64
	for shift := uint(0); ; shift += 7 {
		c := r.Byte()
		if r.Err != nil {
			return 0
		}
		if shift+7 >= bits {
			// The last possible byte: no continuation bit, and the unused
			// high bits must all equal the sign bit.
			rest := bits - shift // value bits in this byte, 1..7
			unused := int8(c<<1) >> rest
			if c&0x80 != 0 || (unused != 0 && unused != -1) {
				r.Fail("integer too large for s%d", bits)
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

// Name reads a length-prefixed byte string (a name or a byte vector).
func (r *Reader) Name() []byte { return r.Bytes(uint64(r.U32())) }

// Count reads a vector length and checks that at least min bytes per
// element remain, so that a corrupt length cannot make a parser allocate
// for elements that are not there.
func (r *Reader) Count(min int) int {
	n := r.U32()
	if r.Err == nil && min > 0 && uint64(n)*uint64(min) > uint64(len(r.B)-r.Pos) {
		r.Fail("%d elements cannot fit in %d bytes", n, len(r.B)-r.Pos)
		return 0
	}
	return int(n)
}

// AppendULEB appends v as unsigned LEB128.
func AppendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendSLEB appends v as signed LEB128.
func AppendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendName appends a length-prefixed byte string.
func AppendName(b []byte, s string) []byte {
	b = AppendULEB(b, uint64(len(s)))
	return append(b, s...)
}

// AppendSection appends a section with its id and size.
func AppendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = AppendULEB(b, uint64(len(payload)))
	return append(b, payload...)
}
