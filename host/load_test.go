package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/testwasm"
)

func TestLoadDirRefusesBadModules(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("echo.wasm", testwasm.Go(t, "plugins/echo"))
	write("mirror.wasm", testwasm.WATFile(t, "plugins/mirror/mirror.wat"))
	write("notwasm.wasm", []byte("#!/bin/sh\necho not a module\n"))
	write("truncated.wasm", testwasm.Go(t, "plugins/echo")[:1000])
	write("noentry.wasm", testwasm.WAT(t, `(module (memory (export "memory") 1)
		(func (export "capstream_manifest") (result i32) (i32.const 0)))`))
	write("badimport.wasm", testwasm.WAT(t, `(module (import "env" "system" (func (param i32)))
		(memory (export "memory") 1)
		(func (export "capstream_run") (result i32) (i32.const 0))
		(func (export "capstream_manifest") (result i32) (i32.const 0)))`))
	write("badsignature.wasm", testwasm.WAT(t, `(module (import "capstream_v1" "log" (func (param i32)))
		(memory (export "memory") 1)
		(func (export "capstream_run") (result i32) (i32.const 0))
		(func (export "capstream_manifest") (result i32) (i32.const 0)))`))
	write("badname.wasm", testwasm.WAT(t, watTool("Bad Name", "")))
	write("nomanifest.wasm", testwasm.WAT(t, `(module (memory (export "memory") 1)
		(func (export "capstream_run") (result i32) (i32.const 0))
		(func (export "capstream_manifest") (result i32) (i32.const 0)))`))
	write("duplicate.wasm", testwasm.WAT(t, watTool("echo", "")))
	write("README.txt", []byte("not a plugin: ignored"))

	f := newFixture(t, nil)
	tools, errs, err := f.e.LoadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools {
		names = append(names, tool.Name)
	}
	// duplicate.wasm sorts before echo.wasm, so it is the one that loads as
	// "echo" and the Go echo is the duplicate.
	if strings.Join(names, ",") != "echo,mirror" {
		t.Fatalf("loaded %v, want echo and mirror", names)
	}
	want := map[string]error{
		"notwasm.wasm":      host.ErrNotWasm,
		"truncated.wasm":    host.ErrNotWasm,
		"noentry.wasm":      host.ErrNoEntry,
		"badimport.wasm":    host.ErrBadImport,
		"badsignature.wasm": host.ErrBadImport,
		"badname.wasm":      host.ErrInvalidManifest,
		"nomanifest.wasm":   host.ErrInvalidManifest,
		"echo.wasm":         host.ErrDuplicateTool,
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for _, err := range errs {
		var le *host.LoadError
		if !errors.As(err, &le) {
			t.Fatalf("%v is not a *LoadError", err)
		}
		base := filepath.Base(le.File)
		if !errors.Is(err, want[base]) {
			t.Errorf("%s: %v, want %v", base, err, want[base])
		}
		if !strings.Contains(err.Error(), base) {
			t.Errorf("message %q does not name the file", err)
		}
	}
}

func TestInputValidationNamesField(t *testing.T) {
	f := newFixture(t, nil)
	slow := f.load("plugins/slow")
	tests := []struct{ input, field string }{
		{`{"steps":"many","delayMs":1}`, "/steps"},
		{`{"delayMs":1}`, ""},
		{`[1]`, ""},
		{`{"steps":1,"delayMs":1,"extra":true}`, ""},
	}
	for _, tt := range tests {
		err := slow.ValidateInput([]byte(tt.input))
		var ie *host.InputError
		if !errors.As(err, &ie) {
			t.Fatalf("%s: %v, want an *InputError", tt.input, err)
		}
		if tt.field != "" && ie.Field != tt.field {
			t.Errorf("%s: field %q, want %q (%v)", tt.input, ie.Field, tt.field, err)
		}
	}
	if err := slow.ValidateInput([]byte(`{"steps":2,"delayMs":1}`)); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
}

func TestRestartUsesCompilationCache(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	wasm := testwasm.Go(t, "plugins/echo")
	for i := range 2 {
		e, err := host.New(ctx, host.Config{CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Load(ctx, "echo.wasm", wasm); err != nil {
			t.Fatal(err)
		}
		e.Close(ctx)
		entries, _ := os.ReadDir(cache)
		if i == 0 && len(entries) == 0 {
			t.Fatal("compilation cache directory is empty after a load")
		}
	}
}

// TestSnapshotCachedAndClean: a Go tool's snapshot is made once, at load
// time, before any call; calls never change it; a restart reuses it.
func TestSnapshotCachedAndClean(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	wasm := testwasm.Go(t, "host/testdata/guests/counter")
	snapshots := func() map[string][]byte {
		out := map[string][]byte{}
		entries, _ := os.ReadDir(filepath.Join(cache, "snapshots"))
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(cache, "snapshots", e.Name()))
			out[e.Name()] = b
		}
		return out
	}
	var before map[string][]byte
	for restart := range 2 {
		e, err := host.New(ctx, host.Config{CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		tool, err := e.Load(ctx, "counter.wasm", wasm)
		if err != nil {
			t.Fatal(err)
		}
		if restart == 0 {
			before = snapshots()
			if len(before) != 1 {
				t.Fatalf("snapshots after load: %d, want 1", len(before))
			}
		}
		for range 3 {
			c := &capability.Capability{ID: "x", Subject: "alice", Tool: tool.Name, Limits: defaultLimits}
			res := e.Call(ctx, host.Invocation{Tool: tool, Capability: c, Input: json.RawMessage(`{}`)})
			if string(res.Output) != `{"count":1}` {
				t.Fatalf("restart %d: output %s: state leaked into the snapshot", restart, res.Output)
			}
		}
		e.Close(ctx)
		after := snapshots()
		for name, b := range before {
			if !bytes.Equal(after[name], b) {
				t.Fatalf("restart %d: snapshot %s changed", restart, name)
			}
		}
		if len(after) != 1 {
			t.Fatalf("restart %d: %d snapshots, want the one made at first load", restart, len(after))
		}
	}
}

// TestRestartCompilesOnlyTheSnapshot: with the snapshot cached, a restart
// compiles the snapshot and not the original module; a damaged cached
// snapshot is made again.
func TestRestartCompilesOnlyTheSnapshot(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	wasm := testwasm.Go(t, "host/testdata/guests/counter")
	// compiled lists the compilation cache's files (not the snapshots).
	compiled := func() []string {
		var files []string
		filepath.WalkDir(cache, func(path string, d os.DirEntry, err error) error {
			if d != nil && d.IsDir() && d.Name() == "snapshots" {
				return filepath.SkipDir
			}
			if err == nil && !d.IsDir() {
				files = append(files, path)
			}
			return nil
		})
		return files
	}
	load := func() {
		t.Helper()
		e, err := host.New(ctx, host.Config{CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(ctx)
		tool, err := e.Load(ctx, "counter.wasm", wasm)
		if err != nil {
			t.Fatal(err)
		}
		c := &capability.Capability{ID: "x", Subject: "alice", Tool: tool.Name, Limits: defaultLimits}
		if res := e.Call(ctx, host.Invocation{Tool: tool, Capability: c, Input: json.RawMessage(`{}`)}); string(res.Output) != `{"count":1}` {
			t.Fatalf("output %s, failure %v", res.Output, res.Failure)
		}
	}

	load()
	if n := len(compiled()); n != 3 {
		t.Fatalf("first start compiled %d modules, want 3 (the original, the instrumented copy a snapshot is taken from, the snapshot)", n)
	}
	for _, f := range compiled() {
		os.Remove(f)
	}
	load()
	if n := len(compiled()); n != 1 {
		t.Fatalf("a restart compiled %d modules, want 1 (the cached snapshot)", n)
	}

	snaps, _ := filepath.Glob(filepath.Join(cache, "snapshots", "*.wasm"))
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots, want 1", len(snaps))
	}
	os.WriteFile(snaps[0], []byte("\x00asm\x01\x00\x00\x00damaged"), 0o600)
	load()
	if b, _ := os.ReadFile(snaps[0]); bytes.HasSuffix(b, []byte("damaged")) {
		t.Fatal("the damaged snapshot was not made again")
	}
}

// TestSchemaRefsStayInside: a tool's schema may refer only to itself. A
// reference to a file (absolute, relative, or made absolute by an $id), a
// URL or a metaschema of the tool's own refuses the tool at load time, with
// the reference named and nothing read: each file below is a valid schema
// that would let the tool load had it been read.
func TestSchemaRefsStayInside(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // where a relative reference resolved to before
	secret := `{"type":"string","description":"SECRET-FILE-CONTENT"}`
	for _, name := range []string{"schema.json", "meta.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		io.WriteString(w, secret)
	}))
	defer srv.Close()
	fileURL := "file://" + filepath.ToSlash(dir)

	refused := []struct{ name, schema, ref string }{
		{"absolute file", `{"type":"object","properties":{"a":{"$ref":"` + fileURL + `/schema.json"}}}`, fileURL + "/schema.json"},
		{"etc passwd", `{"type":"object","properties":{"a":{"$ref":"file:///etc/passwd"}}}`, "file:///etc/passwd"},
		{"relative", `{"type":"object","properties":{"a":{"$ref":"schema.json"}}}`, "schema.json"},
		{"relative with fragment", `{"type":"object","properties":{"a":{"$ref":"./schema.json#/type"}}}`, "./schema.json#/type"},
		{"id rebases to file", `{"type":"object","$id":"` + fileURL + `/","properties":{"a":{"$ref":"schema.json"}}}`, "schema.json"},
		{"nested id", `{"type":"object","properties":{"a":{"$id":"file:///etc/","$ref":"passwd"}}}`, "passwd"},
		{"http", `{"type":"object","properties":{"a":{"$ref":"` + srv.URL + `/schema.json"}}}`, srv.URL + "/schema.json"},
		{"dynamicRef", `{"type":"object","properties":{"a":{"$dynamicRef":"` + srv.URL + `/schema.json#meta"}}}`, srv.URL + "/schema.json#meta"},
		{"metaschema file", `{"type":"object","$schema":"` + fileURL + `/meta.json"}`, fileURL + "/meta.json"},
		{"metaschema http", `{"type":"object","$schema":"` + srv.URL + `/meta.json"}`, srv.URL + "/meta.json"},
		{"output schema", "", "file:///etc/passwd"},
	}
	f := newFixture(t, nil)
	for i, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("ref%d", i)
			manifest := fmt.Sprintf(`{"name":%q,"inputSchema":%s}`, name, tt.schema)
			if tt.schema == "" {
				manifest = fmt.Sprintf(`{"name":%q,"inputSchema":{"type":"object"},"outputSchema":{"type":"object","$ref":"file:///etc/passwd"}}`, name)
			}
			_, err := f.e.Load(context.Background(), name+".wasm", testwasm.WAT(t, watToolManifest(manifest, "")))
			if !errors.Is(err, host.ErrInvalidManifest) {
				t.Fatalf("loaded, or refused for another reason: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprintf("%q", tt.ref)) || !strings.Contains(msg, "refers outside the schema") {
				t.Fatalf("message %q does not name the reference %q", msg, tt.ref)
			}
			if strings.Contains(msg, "SECRET") || strings.Contains(msg, "root:") || strings.Contains(msg, dir) && !strings.Contains(tt.ref, dir) {
				t.Fatalf("message %q quotes what it must not", msg)
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("the host fetched %d schemas over HTTP", n)
	}

	// What stays inside the document, and the metaschemas the validator
	// carries, still load.
	allowed := []string{
		`{"type":"object","properties":{"a":{"$ref":"#/$defs/s"}},"$defs":{"s":{"type":"string"}}}`,
		`{"type":"object","$id":"https://example.com/root","properties":{"a":{"$ref":"#/$defs/s"}},"$defs":{"s":{"type":"string"}}}`,
		`{"type":"object","properties":{"a":{"$ref":"https://example.com/s"}},"$defs":{"s":{"$id":"https://example.com/s","type":"string"}}}`,
		`{"type":"object","$schema":"http://json-schema.org/draft-07/schema#"}`,
		`{"type":"object","properties":{"schema":{"$ref":"https://json-schema.org/draft/2020-12/schema"}}}`,
	}
	for i, schema := range allowed {
		name := fmt.Sprintf("inside%d", i)
		manifest := fmt.Sprintf(`{"name":%q,"inputSchema":%s}`, name, schema)
		if _, err := f.e.Load(context.Background(), name+".wasm", testwasm.WAT(t, watToolManifest(manifest, ""))); err != nil {
			t.Errorf("%s: %v", schema, err)
		}
	}
}
