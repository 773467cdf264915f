package wasmcheck

import (
	"github.com/capstream/capstream/internal/wasmbin"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/sdk/abi"
)

// Probes.
//
// The host validates a manifest when it loads a tool, and stops at the
// first problem. To report every problem of a manifest in the host's own
// words, check loads probe modules into an engine of its own: minimal
// tools whose capstream_manifest pushes a given manifest. A probe of the
// whole manifest says whether the host accepts it; when it does not, a
// probe per field (each alone in an otherwise valid manifest) says which
// fields it refuses, and why. The same trick validates a sample call's
// output against the outputSchema, as the input schema of a probe.

// prober loads probe modules into an engine of its own.
type prober struct {
	engine *host.Engine
	n      int
}

func newProber(ctx context.Context) (*prober, error) {
	e, err := host.New(ctx, host.Config{DisableSnapshots: true})
	if err != nil {
		return nil, err
	}
	return &prober{engine: e}, nil
}

func (p *prober) close(ctx context.Context) { p.engine.Close(ctx) }

// load loads a probe that pushes manifest, and returns the host's tool or
// its reason to refuse it, without the "loading FILE" prefix. Every tool
// an engine loads needs a name of its own: a caller that loads more than
// one manifest of the same name uses a new prober.
func (p *prober) load(ctx context.Context, manifest []byte) (*host.Tool, error) {
	p.n++
	t, err := p.engine.Load(ctx, fmt.Sprintf("probe-%d.wasm", p.n), probeModule(manifest))
	var le *host.LoadError
	if errors.As(err, &le) {
		return nil, le.Err
	}
	return t, err
}

// name returns a tool name for a probe whose own name does not matter,
// other than avoid.
func (p *prober) name(avoid string) string {
	for {
		p.n++
		if n := fmt.Sprintf("probe-%d", p.n); n != avoid {
			return n
		}
	}
}

// fieldErrors returns the host's reason to refuse each field of manifest,
// an object whose whole the host refused: each field alone in an
// otherwise valid manifest, and each required field left out, is a probe.
// The keys of the result are the field names.
func (p *prober) fieldErrors(ctx context.Context, fields map[string]json.RawMessage) (map[string]error, error) {
	var toolName string
	json.Unmarshal(fields["name"], &toolName)
	keys := []string{"name", "inputSchema"}
	for k := range fields {
		if k != "name" && k != "inputSchema" {
			keys = append(keys, k)
		}
	}
	out := map[string]error{}
	for _, k := range keys {
		name, _ := json.Marshal(p.name(toolName))
		m := map[string]json.RawMessage{"name": name, "inputSchema": json.RawMessage(`{"type":"object"}`)}
		if v, ok := fields[k]; ok {
			m[k] = v
		} else {
			delete(m, k)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		if _, err := p.load(ctx, b); err != nil {
			out[k] = err
		}
	}
	return out, nil
}

// manifestMessage returns the host's reason to refuse a manifest without
// its "invalid manifest: " prefix.
func manifestMessage(err error) string {
	return strings.TrimPrefix(err.Error(), host.ErrInvalidManifest.Error()+": ")
}

// probeModule returns a tool whose capstream_manifest pushes manifest with
// set_output, and whose capstream_run returns 0:
//
//	(module
//	  (import "capstream_v1" "set_output" (func (param i32 i32) (result i32)))
//	  (memory (export "memory") N)
//	  (data (i32.const 0) "<manifest>")
//	  (func (export "capstream_manifest") (result i32)
//	    (drop (call 0 (i32.const 0) (i32.const <len>))) (i32.const 0))
//	  (func (export "capstream_run") (result i32) (i32.const 0)))
func probeModule(manifest []byte) []byte {
	pages := max(1, (uint64(len(manifest))+wasmPage-1)/wasmPage)
	b := append([]byte(nil), header...)
	b = wasmbin.AppendSection(b, 1, []byte{2, 0x60, 2, 0x7f, 0x7f, 1, 0x7f, 0x60, 0, 1, 0x7f})
	imp := wasmbin.AppendULEB(nil, 1)
	imp = wasmbin.AppendName(imp, abi.Module)
	imp = wasmbin.AppendName(imp, abi.FuncSetOutput)
	b = wasmbin.AppendSection(b, 2, append(imp, kindFunc, 0))
	b = wasmbin.AppendSection(b, 3, []byte{2, 1, 1})
	b = wasmbin.AppendSection(b, 5, wasmbin.AppendULEB([]byte{1, 0}, pages))
	exp := wasmbin.AppendULEB(nil, 3)
	exp = append(wasmbin.AppendName(exp, abi.ExportMemory), kindMemory, 0)
	exp = append(wasmbin.AppendName(exp, abi.ExportManifest), kindFunc, 1)
	exp = append(wasmbin.AppendName(exp, abi.ExportRun), kindFunc, 2)
	b = wasmbin.AppendSection(b, 7, exp)
	pushManifest := []byte{0, 0x41, 0}        // no locals; i32.const 0
	pushManifest = append(pushManifest, 0x41) // i32.const len
	pushManifest = wasmbin.AppendSLEB(pushManifest, int64(len(manifest)))
	pushManifest = append(pushManifest, 0x10, 0, 0x1a, 0x41, 0, 0x0b) // call 0; drop; i32.const 0; end
	run := []byte{0, 0x41, 0, 0x0b}                                   // no locals; i32.const 0; end
	code := wasmbin.AppendULEB(nil, 2)
	code = append(wasmbin.AppendULEB(code, uint64(len(pushManifest))), pushManifest...)
	code = append(wasmbin.AppendULEB(code, uint64(len(run))), run...)
	b = wasmbin.AppendSection(b, 10, code)
	data := []byte{1, 0, 0x41, 0, 0x0b} // one active segment at i32.const 0
	data = append(wasmbin.AppendULEB(data, uint64(len(manifest))), manifest...)
	return wasmbin.AppendSection(b, 11, data)
}

const wasmPage = 65536
