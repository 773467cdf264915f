//go:build !wasip1

package conformance_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
)

// BenchmarkEcho: one call of the same echo tool in each language, in a
// fresh instance (as every call is), through host.Engine.Call. The module's
// size is reported as a metric beside the time.
//
//	go test -run '^$' -bench Echo -count 6 ./sdk/conformance/
func BenchmarkEcho(b *testing.B) {
	for _, l := range languages {
		wasm, ok := l.tools(b)["echo"]
		if !ok {
			continue
		}
		b.Run("lang="+l.name, func(b *testing.B) {
			ctx := context.Background()
			e, err := host.New(ctx, host.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(ctx)
			tool, err := e.Load(ctx, l.name+"/echo.wasm", wasm)
			if err != nil {
				b.Fatal(err)
			}
			g := capability.Grants{Tools: []string{"*"}, Limits: defaultLimits}
			c, err := capability.Derive(capability.Principal{Subject: "alice"}, g, tool.Name, tool.Digest, tool.Needs, "bench", time.Now())
			if err != nil {
				b.Fatal(err)
			}
			input := json.RawMessage(`{"text":"hello, world"}`)
			sink := host.SinkFunc(func(host.Event) {})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res := e.Call(ctx, host.Invocation{Tool: tool, Capability: &c, Input: input, Sink: sink})
				if res.Failure != nil {
					b.Fatal(res.Failure)
				}
			}
			b.ReportMetric(float64(len(wasm)), "module-bytes")
		})
	}
}
