//go:build !wasip1

package conformance_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/testwasm"
	"github.com/capstream/capstream/internal/wasmcheck"
)

// TestTemplates builds each language's template as its README says (make in
// its directory) and calls the hello.wasm it makes: the greeting comes
// back, with one log line, and capstream check finds nothing to change.
func TestTemplates(t *testing.T) {
	for _, dir := range []string{"examples/hello-rust", "examples/hello-c", "examples/hello-as"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			root := filepath.Join(testwasm.Root(t), dir)
			if out, err := exec.Command("make", "--no-print-directory", "-C", root).CombinedOutput(); err != nil {
				t.Fatalf("make in %s: %v\n%s", dir, err, out)
			}
			wasm, err := os.ReadFile(filepath.Join(root, "hello.wasm"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			e, err := host.New(ctx, host.Config{CacheDir: testwasm.CacheDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			tool, err := e.Load(ctx, "hello.wasm", wasm)
			if err != nil {
				t.Fatal(err)
			}
			g := capability.Grants{Tools: []string{"*"}, Limits: defaultLimits}
			c, err := capability.Derive(capability.Principal{Subject: "alice"}, g, tool.Name, tool.Digest, tool.Needs, "hello-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var events []string
			res := e.Call(ctx, host.Invocation{Tool: tool, Capability: &c, Input: json.RawMessage(`{"name":"Ada Lovelace"}`),
				Sink: host.SinkFunc(func(ev host.Event) { events = append(events, ev.Type) })})
			if res.Failure != nil || !sameJSON(res.Output, []byte(`{"greeting":"Hello, Ada Lovelace!"}`)) {
				t.Fatalf("hello: %s %v", res.Output, res.Failure)
			}
			if want := []string{host.EventStarted, "host.log", host.EventCompleted}; len(events) != 3 || events[1] != want[1] {
				t.Errorf("events %v, want %v", events, want)
			}
			r, err := wasmcheck.Check(ctx, wasm, wasmcheck.Options{File: dir + "/hello.wasm", CacheDir: testwasm.CacheDir()})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range r.Findings {
				if f.Severity >= wasmcheck.Warning {
					t.Errorf("check: %s %s: %s", f.Severity, f.Code, f.Message)
				}
			}
		})
	}
}
