package wasmsnap

import (
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// Capture reads the state Build needs from an instance of an instrumented
// module: a copy of its whole memory, and the values of the globals
// Instrument reported. Call it after the initialization has returned and
// before the instance is closed; the results do not refer to the instance.
func Capture(mod api.Module, globals []Global) (memory []byte, values []GlobalValue, err error) {
	if mem := mod.Memory(); mem != nil {
		view, ok := mem.Read(0, mem.Size())
		if !ok {
			return nil, nil, fmt.Errorf("reading %d bytes of memory: out of range", mem.Size())
		}
		memory = append([]byte(nil), view...)
	}
	values = make([]GlobalValue, len(globals))
	for i, g := range globals {
		eg := mod.ExportedGlobal(g.Export)
		if eg == nil {
			return nil, nil, fmt.Errorf("%w: no export %q", ErrNotInstrumented, g.Export)
		}
		if eg.Type() != g.Type {
			return nil, nil, fmt.Errorf("%w: export %q is a %s, want %s", ErrNotInstrumented, g.Export, api.ValueTypeName(eg.Type()), api.ValueTypeName(g.Type))
		}
		values[i] = GlobalValue{Index: g.Index, Bits: eg.Get()}
	}
	return memory, values, nil
}
