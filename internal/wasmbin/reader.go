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

// ValueType reads a value type and returns it; reference types are
// returned as their first byte.
func (r *Reader) ValueType() byte {
	switch t := r.Byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, // i32 i64 f32 f64 v128
		0x70, 0x6f, 0x6e, 0x6d, 0x6c, 0x6b, 0x6a, 0x71, 0x72, 0x73, 0x74, 0x69: // abstract reference types
		return t
	case 0x63, 0x64: // (ref null ht), (ref ht)
		r.SLEB(33)
		return t
	default:
		r.Fail("value type 0x%02x", t)
		return 0
	}
}

// Limits reads the limits of a table or memory.
func (r *Reader) Limits() (lo, hi uint64, hasMax bool, flags byte) {
	flags = r.Byte()
	if flags > 7 {
		r.Fail("limits flags 0x%02x", flags)
		return
	}
	bits := uint(32)
	if flags&4 != 0 {
		bits = 64
	}
	lo = r.ULEB(bits)
	if flags&1 != 0 {
		hi = r.ULEB(bits)
		hasMax = true
	}
	return lo, hi, hasMax, flags
}

// ConstExpr reads a constant expression up to and including its end, and
// returns its value if it is a lone i32.const. It decodes every
// instruction, since an immediate may hold the end byte.
func (r *Reader) ConstExpr() (value int64, known bool) {
	for n := 0; r.Err == nil; n++ {
		switch op := r.Byte(); op {
		case 0x0b: // end
			return value, known && n == 1
		case 0x41: // i32.const
			value, known = r.SLEB(32), n == 0
		case 0x42: // i64.const
			r.SLEB(64)
		case 0x43: // f32.const
			r.Bytes(4)
		case 0x44: // f64.const
			r.Bytes(8)
		case 0x23, 0xd2: // global.get, ref.func
			r.U32()
		case 0xd0: // ref.null
			r.SLEB(33)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // i32/i64 add, sub, mul (extended constant expressions)
		case 0xfd: // v128.const
			if sub := r.U32(); sub != 12 {
				r.Fail("instruction 0xfd %d in a constant expression", sub)
			}
			r.Bytes(16)
		case 0xfb: // GC
			switch sub := r.U32(); sub {
			case 0, 1, 6, 7: // struct.new, struct.new_default, array.new, array.new_default
				r.U32()
			case 8: // array.new_fixed
				r.U32()
				r.U32()
			case 26, 27, 28: // any.convert_extern, extern.convert_any, ref.i31
			default:
				r.Fail("instruction 0xfb %d in a constant expression", sub)
			}
		default:
			r.Fail("instruction 0x%02x in a constant expression", op)
		}
	}
	return 0, false
}
