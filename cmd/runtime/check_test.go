package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstream/capstream/internal/testwasm"
	"github.com/capstream/capstream/internal/wasmcheck"
)

// runCheckCmd runs capstream check with args, and returns its exit code
// and output.
func runCheckCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"check"}, args...), &out, &errOut)
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		t.Fatalf("check %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

func writeModule(t *testing.T, name string, wasm []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestCheck(t *testing.T) {
	mirror := writeModule(t, "mirror.wasm", testwasm.WATFile(t, "plugins/mirror/mirror.wat"))
	abort := writeModule(t, "abort.wasm", testwasm.WAT(t, `(module
  (import "env" "abort" (func (param i32 i32 i32 i32)))
  (memory (export "memory") 17)
  (func (export "capstream_manifest") (result i32) (i32.const 0))
  (func (export "capstream_run") (result i32) (i32.const 0)))`))
	slow := writeModule(t, "slow.wasm", testwasm.WAT(t, `(module
  (import "capstream_v1" "set_output" (func $set_output (param i32 i32) (result i32)))
  (memory (export "memory") 17)
  (data (i32.const 0) "{\"name\":\"slow\",\"description\":\"x\",\"inputSchema\":{\"type\":\"object\"}}")
  (func (export "capstream_manifest") (result i32) (drop (call $set_output (i32.const 0) (i32.const 65))) (i32.const 0))
  (func (export "capstream_run") (result i32) unreachable))`))

	t.Run("good", func(t *testing.T) {
		code, out, _ := runCheckCmd(t, mirror)
		if code != 0 || !strings.HasSuffix(out, ": ok\n") || !strings.Contains(out, "info: a module of") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("warnings", func(t *testing.T) {
		code, out, _ := runCheckCmd(t, slow)
		if code != 0 || !strings.Contains(out, "warning: every call starts a new instance with 1.06 MiB") || !strings.HasSuffix(out, ": ok, 1 warning\n") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("errors", func(t *testing.T) {
		code, out, _ := runCheckCmd(t, abort)
		for _, want := range []string{
			"error: import env.abort (i32, i32, i32, i32) -> () is AssemblyScript's default abort handler",
			"error: reading the manifest: capstream_manifest set no output",
			"warning: every call starts",
			abort + " sha256:",
			": 2 errors, 1 warning\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if code != 1 || !strings.HasPrefix(out, "error: ") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("json", func(t *testing.T) {
		code, out, _ := runCheckCmd(t, abort, "--json")
		var r wasmcheck.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if code != 1 || r.Count(wasmcheck.Error) != 2 || r.Findings[0].Code != wasmcheck.CodeImportAbort || r.Memory.InitialPages != 17 {
			t.Fatalf("exit %d: %+v", code, r)
		}
	})
	t.Run("sample", func(t *testing.T) {
		input := filepath.Join(t.TempDir(), "input.json")
		os.WriteFile(input, []byte(`{"a": 1}`), 0o644)
		code, out, _ := runCheckCmd(t, "--input", "@"+input, mirror)
		if code != 0 || !strings.Contains(out, "sample call with {\"a\": 1}:\n  host.log {\"level\":\"info\",\"message\":\"mirrored\"}\n  completed in ") || !strings.Contains(out, `ms: {"a": 1}`) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("failed sample", func(t *testing.T) {
		code, out, _ := runCheckCmd(t, slow, "--input", "{}")
		if code != 1 || !strings.Contains(out, "error: the sample call failed (trap)") || !strings.Contains(out, "  failed (trap) in ") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{},
			{mirror, mirror},
			{"--bogus", mirror},
			{filepath.Join(t.TempDir(), "missing.wasm")},
			{mirror, "--input", "[1]"},
			{mirror, "--input", "{"},
			{mirror, "--input", "@" + filepath.Join(t.TempDir(), "missing.json")},
		} {
			if code, _, errOut := runCheckCmd(t, args...); code != 2 || errOut == "" {
				t.Errorf("check %q: exit %d, stderr %q", args, code, errOut)
			}
		}
		if code, _, errOut := runCheckCmd(t, "--help"); code != 0 || !strings.Contains(errOut, "Usage: capstream check") || !strings.Contains(errOut, "-allow-http") {
			t.Errorf("--help: exit %d, %q", code, errOut)
		}
	})
}

// TestCheckGoModule checks a Go tool, as its author would before
// deploying it, with a cache as serve's.
func TestCheckGoModule(t *testing.T) {
	notes := writeModule(t, "notes.wasm", testwasm.Go(t, "plugins/notes"))
	code, out, _ := runCheckCmd(t, notes, "--cache-dir", testwasm.CacheDir(), "--input", `{"op":"add","text":"hello"}`)
	if code != 0 || !strings.Contains(out, "info: a Go module is large by nature") || !strings.Contains(out, `host.kv {"op":"set","key":"note/`) || !strings.Contains(out, `"text":"hello"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
