package wasmsnap

import (
	"math"

	"github.com/capstream/capstream/internal/wasmbin"
)

// reader is the binary format reader wasmsnap parses modules with, and
// the parts of the format only wasmsnap reads.
type reader struct{ wasmbin.Reader }

// maxPages is the most 64 KiB pages a 32-bit memory can have.
const maxPages = math.MaxUint32/pageSize + 1

// pageSize is the size of a WebAssembly page.
const pageSize = 65536
