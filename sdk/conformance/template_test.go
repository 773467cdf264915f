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

// TestCheckFindsMistakes: capstream check catches each language's common
// build mistake in its template, and says so as an error or a warning with
// a code of its own: Rust without the template's 64 KiB stack (1 MiB, so
// every call is slow), C linked with an undefined function
// (--allow-undefined leaves an env import the host refuses), and
// AssemblyScript without --use abort (env.abort).
func TestCheckFindsMistakes(t *testing.T) {
	root := testwasm.Root(t)
	cases := []struct {
		lang, dir string
		build     func(out string) *exec.Cmd
		severity  wasmcheck.Severity
		code      string
	}{
		{"rust", "examples/hello-rust", func(out string) *exec.Cmd {
			cmd := exec.Command("/usr/bin/cargo", "build", "-q", "--release", "--target", "wasm32-wasi")
			// RUSTFLAGS replaces the template's rustflags, stack size included.
			cmd.Env = append(os.Environ(), "PATH=/usr/bin:"+os.Getenv("PATH"), "RUSTFLAGS=-C opt-level=s", "CARGO_TARGET_DIR="+out)
			return cmd
		}, wasmcheck.Warning, wasmcheck.CodeMemory},
		{"c", "examples/hello-c", func(out string) *exec.Cmd {
			src := filepath.Join(out, "tool.c")
			os.WriteFile(src, []byte(`#include "capstream.h"
int helper(int); // defined in a file the build forgot
static int run(cs_json in) { return helper(1); }
CAPSTREAM_TOOL("{\"name\":\"hello\",\"inputSchema\":{\"type\":\"object\"}}", run)
`), 0o600)
			return exec.Command("clang", "--target=wasm32-wasi", "-mexec-model=reactor", "-Oz", "-I"+filepath.Join(root, "sdk/c"),
				"-Wl,-z,stack-size=65536", "-Wl,--allow-undefined", "-o", filepath.Join(out, "hello.wasm"), src)
		}, wasmcheck.Error, wasmcheck.CodeImportEnv},
		{"assemblyscript", "examples/hello-as", func(out string) *exec.Cmd {
			empty := filepath.Join(out, "asconfig.json")
			os.WriteFile(empty, []byte("{}"), 0o600)
			return exec.Command("node_modules/.bin/asc", "assembly/index.ts", "--config", empty, "--runtime", "stub",
				"-o", filepath.Join(out, "hello.wasm"))
		}, wasmcheck.Error, wasmcheck.CodeImportAbort},
	}
	for _, c := range cases {
		t.Run(c.lang, func(t *testing.T) {
			dir := filepath.Join(root, c.dir)
			if c.lang == "assemblyscript" {
				if out, err := exec.Command("make", "--no-print-directory", "-C", dir, "node_modules").CombinedOutput(); err != nil {
					t.Fatalf("npm ci in %s: %v\n%s", c.dir, err, out)
				}
			}
			out := t.TempDir()
			cmd := c.build(out)
			cmd.Dir = dir
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, msg)
			}
			wasms, _ := filepath.Glob(filepath.Join(out, "*.wasm"))
			if c.lang == "rust" {
				wasms, _ = filepath.Glob(filepath.Join(out, "wasm32-wasi", "release", "*.wasm"))
			}
			if len(wasms) != 1 {
				t.Fatalf("built %v, want one module", wasms)
			}
			wasm, err := os.ReadFile(wasms[0])
			if err != nil {
				t.Fatal(err)
			}
			r, err := wasmcheck.Check(context.Background(), wasm, wasmcheck.Options{File: c.lang + ".wasm", CacheDir: testwasm.CacheDir()})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range r.Findings {
				found = found || f.Code == c.code && f.Severity == c.severity
			}
			if !found {
				t.Errorf("no %s %s among %+v", c.severity, c.code, r.Findings)
			}
		})
	}
}
