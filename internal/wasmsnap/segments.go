package wasmsnap

import "encoding/binary"

// mergeGap is the longest run of zero bytes kept inside a data segment
// rather than splitting it in two. Each segment costs an instance some
// bookkeeping (wazero evaluates its offset expression, which allocates),
// and the module a few bytes; a zero byte inside one costs an instance a
// byte of copying. Measured on the Go-built echo tool after initialization
// (3.4 MB of memory, 0.7 MB of it non-zero; BenchmarkMergeGap):
//
//	gap     segments  bytes in segments
//	1        142,156        0.70 MB
//	16        37,978        1.03 MB
//	32           592        1.72 MB
//	128          283        1.73 MB
//	512           72        1.77 MB
//	4096          46        1.83 MB
//
// The Go heap is full of small objects 16 to 31 bytes apart, so below 32
// bytes segments are counted in tens of thousands; from 32 up, a larger
// gap costs little copying and saves segments, until a few hundred bytes
// where there are no segments left to save. Below a page, merging never
// makes an instance touch a page it would not touch anyway.
const mergeGap = 512

// run is a part of memory that a data segment holds.
type run struct{ start, end int }

// runs returns the parts of mem that hold non-zero bytes, merging two when
// fewer than gap zero bytes separate them.
func runs(mem []byte, gap int) []run {
	var out []run
	i := 0
	for {
		i = nextNonZero(mem, i)
		if i == len(mem) {
			return out
		}
		end := nextZero(mem, i)
		if n := len(out); n > 0 && i-out[n-1].end < gap {
			out[n-1].end = end
		} else {
			out = append(out, run{i, end})
		}
		i = end
	}
}

// nextNonZero returns the index of the first non-zero byte of mem at or
// after i, or len(mem).
func nextNonZero(mem []byte, i int) int {
	for ; i < len(mem) && i%8 != 0; i++ {
		if mem[i] != 0 {
			return i
		}
	}
	for ; i+8 <= len(mem); i += 8 {
		if binary.LittleEndian.Uint64(mem[i:]) != 0 {
			break
		}
	}
	for ; i < len(mem); i++ {
		if mem[i] != 0 {
			return i
		}
	}
	return i
}

// nextZero returns the index of the first zero byte of mem at or after i,
// or len(mem).
func nextZero(mem []byte, i int) int {
	for ; i < len(mem); i++ {
		if mem[i] == 0 {
			return i
		}
	}
	return i
}
