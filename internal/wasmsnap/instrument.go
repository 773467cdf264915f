package wasmsnap

import (
	"github.com/capstream/capstream/internal/wasmbin"

	"fmt"
	"strconv"
)

// Instrument returns wasm with an export added for every mutable global the
// module defines, named GlobalExportPrefix followed by the global's index,
// so that their values can be read from an instance after initialization;
// and the list of those globals. Nothing else changes.
//
// It refuses a module that Build could not snapshot (ErrUnsupported), so an
// engine learns that before it runs anything. wasm is not modified.
func Instrument(wasm []byte) (out []byte, globals []Global, err error) {
	m, err := parse(wasm)
	if err != nil {
		return nil, nil, err
	}
	names := map[string]bool{}
	for _, e := range m.exports {
		names[e.name] = true
	}
	var added []byte
	for _, g := range m.mutableGlobals() {
		name := GlobalExportPrefix + strconv.FormatUint(uint64(g.index), 10)
		if names[name] {
			return nil, nil, fmt.Errorf("%w: the module already exports %q", ErrUnsupported, name)
		}
		added = wasmbin.AppendName(added, name)
		added = append(added, kindGlobal)
		added = wasmbin.AppendULEB(added, uint64(g.index))
		globals = append(globals, Global{Index: g.index, Type: g.typ, Export: name})
	}
	if len(globals) == 0 {
		return append([]byte(nil), wasm...), nil, nil
	}

	payload := wasmbin.AppendULEB(nil, uint64(len(m.exports)+len(globals)))
	for _, e := range m.exports {
		payload = append(payload, e.raw...)
	}
	payload = append(payload, added...)

	out = make([]byte, 0, len(wasm)+len(payload)+8)
	out = append(out, header...)
	inserted := false
	for _, s := range m.sections {
		if !inserted && s.id != secCustom && sectionOrder[s.id] >= sectionOrder[secExport] {
			out = wasmbin.AppendSection(out, secExport, payload)
			inserted = true
		}
		if s.id == secExport {
			continue
		}
		out = append(out, s.raw...)
	}
	if !inserted {
		out = wasmbin.AppendSection(out, secExport, payload)
	}
	return out, globals, nil
}
