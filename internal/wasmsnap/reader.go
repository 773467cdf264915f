package wasmsnap

import (
	"math"

	"github.com/capstream/capstream/internal/wasmbin"
)

// reader is the binary format reader wasmsnap parses modules with, and
// the parts of the format only wasmsnap reads.
type reader struct{ wasmbin.Reader }

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
