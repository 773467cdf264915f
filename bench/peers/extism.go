package main

import (
	"context"
	"fmt"

	extism "github.com/extism/go-sdk"
)

// extismExport is the function extism-echo exports.
const extismExport = "echo"

// newExtism compiles the Extism echo once and returns the path that runs
// each call as Extism's documented way to do so concurrently: a fresh
// instance of the compiled plugin (CompiledPlugin.Instance), one call of the
// export, and closing the instance.
//
// The limits match capstream's (see limits), and the log level is info, so
// that the guest's log line reaches a host callback as capstream's reaches
// its Sink; with Extism's default level (off) the guest would skip the
// host call. The level is a global of the Extism SDK.
func newExtism(ctx context.Context, name string, wasm []byte) (*path, error) {
	extism.SetLogLevel(extism.LogLevelInfo)
	manifest := extism.Manifest{
		Wasm:    []extism.Wasm{extism.WasmData{Data: wasm, Name: "main"}},
		Memory:  &extism.ManifestMemory{MaxPages: uint32(limits.Memory >> 16)},
		Timeout: uint64(limits.Timeout.Milliseconds()),
	}
	compiled, err := extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{EnableWasi: true}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: compiling: %w", name, err)
	}

	p := &path{name: name, close: compiled.Close}
	logger := func(_ extism.LogLevel, msg string) {
		if p.onLog != nil {
			p.onLog(msg)
		}
	}
	p.call = func(ctx context.Context, input []byte) ([]byte, error) {
		inst, err := compiled.Instance(ctx, extism.PluginInstanceConfig{})
		if err != nil {
			return nil, fmt.Errorf("instantiating: %w", err)
		}
		defer inst.Close(ctx)
		inst.SetLogger(logger)
		rc, out, err := inst.CallWithContext(ctx, extismExport, input)
		if err != nil {
			return nil, fmt.Errorf("calling %s: %w", extismExport, err)
		}
		if rc != 0 {
			return nil, fmt.Errorf("calling %s: returned %d", extismExport, rc)
		}
		return out, nil
	}
	return p, nil
}
