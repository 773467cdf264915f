package wasmcheck

import "github.com/capstream/capstream/internal/wasmbin"

// reader is the binary format reader wasmcheck parses modules with. It
// never reads past its slice and never allocates for a length it has not
// checked against the bytes left.
type reader struct{ wasmbin.Reader }
