package host_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/testwasm"
)

// benchCall measures the engine's whole per-call path: a fresh instance,
// initialization, the call with its events, and closing the instance.
func benchCall(b *testing.B, tool *host.Tool, f *fixture, input string) {
	c := f.capability("alice", tool, grantAll())
	sink := host.SinkFunc(func(host.Event) {})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res := f.e.Call(ctx, host.Invocation{Tool: tool, Capability: c, Input: json.RawMessage(input), Sink: sink})
		if res.Failure != nil {
			b.Fatal(res.Failure)
		}
	}
}

// BenchmarkCallEcho runs the Go-built echo from its load-time snapshot, and,
// for comparison in the same run, with the Go runtime initialized per call,
// and from the snapshot but compiled without wazero's termination checks:
// what keeping every call interruptible costs (never done in production).
func BenchmarkCallEcho(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  host.Config
	}{
		{"snapshot", host.Config{}},
		{"initialize-per-call", host.Config{DisableSnapshots: true}},
		{"snapshot-uninterruptible", host.Uninterruptible(host.Config{})},
	} {
		b.Run(mode.name, func(b *testing.B) {
			f := newFixtureConfig(b, mode.cfg)
			benchCall(b, f.load("plugins/echo"), f, `{"text":"hello"}`)
		})
	}
}

func BenchmarkCallMirrorWAT(b *testing.B) {
	f := newFixture(b, nil)
	tool, err := f.e.Load(context.Background(), "mirror.wat", testwasm.WATFile(b, "plugins/mirror/mirror.wat"))
	if err != nil {
		b.Fatal(err)
	}
	benchCall(b, tool, f, `{"text":"hello"}`)
}
