package wasmcheck_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/testwasm"
	"github.com/capstream/capstream/internal/wasmcheck"
)

func TestMain(m *testing.M) { testwasm.Main(m, true) }

const goodManifest = `{"name":"good","title":"Good","description":"Returns an empty object.","inputSchema":{"type":"object"}}`

// tool is the WAT source of a tool, in parts a test may replace. The
// module imports capstream_v1.set_output as $set_output; the manifest is
// at 1024, "{}" at 16.
type tool struct {
	imports  string // more imports
	memory   string // "": one page, exported as "memory"
	manifest string // "": goodManifest
	funcs    string // "": the default capstream_manifest and capstream_run
	extra    string // more definitions
}

const (
	pushManifest = `(func (export "capstream_manifest") (result i32)
    (drop (call $set_output (i32.const 1024) (global.get $manifest_len))) (i32.const 0))`
	returnEmpty = `(func (export "capstream_run") (result i32)
    (drop (call $set_output (i32.const 16) (i32.const 2))) (i32.const 0))`
)

func (m tool) wat() string {
	if m.memory == "" {
		m.memory = `(memory (export "memory") 1)`
	}
	if m.manifest == "" {
		m.manifest = goodManifest
	}
	if m.funcs == "" {
		m.funcs = pushManifest + "\n  " + returnEmpty
	}
	return fmt.Sprintf(`(module
  (import "capstream_v1" "set_output" (func $set_output (param i32 i32) (result i32)))
  %s
  %s
  %s
  (global $manifest_len i32 (i32.const %d))
  (data (i32.const 1024) "%s")
  (data (i32.const 16) "{}")
  %s)`, m.imports, m.memory, m.extra, len(m.manifest), watString(m.manifest), m.funcs)
}

// watString escapes s for a WAT string literal, every byte as \hh.
func watString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\%02x`, s[i])
	}
	return b.String()
}

func check(t *testing.T, wasm []byte, opts wasmcheck.Options) *wasmcheck.Report {
	t.Helper()
	opts.CacheDir = testwasm.CacheDir()
	r, err := wasmcheck.Check(context.Background(), wasm, opts)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

// find returns the findings with that code.
func find(r *wasmcheck.Report, code string) []wasmcheck.Finding {
	var out []wasmcheck.Finding
	for _, f := range r.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

func dump(r *wasmcheck.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n  %s [%s]", f, f.Code)
	}
	return b.String()
}

// hostRefuses loads wasm into an engine of its own, as capstream serve
// would, and returns its verdict.
func hostRefuses(t *testing.T, wasm []byte) error {
	t.Helper()
	ctx := context.Background()
	e, err := host.New(ctx, host.Config{CacheDir: testwasm.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	_, err = e.Load(ctx, "x.wasm", wasm)
	return err
}

// want is a finding a test expects: its severity and code, and words of
// its message.
type want struct {
	severity wasmcheck.Severity
	code     string
	words    string
}

func TestCheckModules(t *testing.T) {
	tests := []struct {
		name    string
		src     tool
		refused bool // the host refuses the module
		want    []want
	}{
		{name: "good", src: tool{}},
		{
			name:    "wrong signature",
			src:     tool{imports: `(import "capstream_v1" "log" (func (param i32 i32) (result i32)))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportSignature, "import capstream_v1.log (i32, i32) -> (i32): wrong signature, want (i32, i32, i32) -> (i32)"}},
		},
		{
			name:    "unknown host function",
			src:     tool{imports: `(import "capstream_v1" "sleep" (func (param i32) (result i32)))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportUnknown, `capstream_v1 has no function "sleep"`}},
		},
		{
			name:    "wrong WASI signature",
			src:     tool{imports: `(import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportSignature, "want (i32, i32, i32, i32) -> (i32)"}},
		},
		{
			name: "AssemblyScript abort",
			src: tool{imports: `(import "env" "abort" (func (param i32 i32 i32 i32)))
  (import "env" "abort" (func (param i32 i32 i32 i32)))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportAbort, "AssemblyScript's default abort handler, which the host does not provide: build with --use abort="}},
		},
		{
			name:    "AssemblyScript seed",
			src:     tool{imports: `(import "env" "seed" (func (result f64)))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportAbort, "--use seed="}},
		},
		{
			name:    "undefined symbol",
			src:     tool{imports: `(import "env" "memcpy" (func (param i32 i32 i32) (result i32)))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportEnv, "the toolchain linked a function the host cannot provide"}},
		},
		{
			name:    "old WASI",
			src:     tool{imports: `(import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportModule, `no module "wasi_unstable"`}},
		},
		{
			name:    "imported memory",
			src:     tool{memory: `(import "env" "memory" (memory 1))`},
			refused: true,
			want: []want{
				{wasmcheck.Error, wasmcheck.CodeImportMemory, "import env.memory is a memory"},
				{wasmcheck.Info, wasmcheck.CodeManifestUnread, "imports a memory"},
			},
		},
		{
			name:    "imported table",
			src:     tool{imports: `(import "env" "table" (table 1 funcref))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportTable, "import env.table is a table"}},
		},
		{
			name:    "imported global",
			src:     tool{imports: `(import "env" "__stack_pointer" (global (mut i32)))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeImportGlobal, "build without -fPIC"}},
		},
		{
			name:    "missing capstream_run",
			src:     tool{funcs: pushManifest},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeExportRun, "missing export capstream_run () -> (i32)"}},
		},
		{
			name:    "missing capstream_manifest",
			src:     tool{funcs: returnEmpty},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeExportManifest, "missing export capstream_manifest"}},
		},
		{
			name: "wrong run signature",
			src: tool{funcs: pushManifest + `
  (func (export "capstream_run") (param i32) (result i32) (i32.const 0))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeExportRun, "export capstream_run (i32) -> (i32): wrong signature, want () -> (i32)"}},
		},
		{
			name:    "memory not exported",
			src:     tool{memory: `(memory 1)`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeExportMemory, "the memory is not exported"}},
		},
		{
			name:    "memory exported under another name",
			src:     tool{memory: `(memory (export "mem") 1)`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeExportMemory, `exported as "mem", not "memory"`}},
		},
		{
			name:    "command",
			src:     tool{funcs: `(func (export "_start"))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeExportStart, "a WASI command (it exports _start) without capstream_run and capstream_manifest: build a reactor"}},
		},
		{
			name: "command with the exports",
			src:  tool{extra: `(func (export "_start"))`},
			want: []want{{wasmcheck.Warning, wasmcheck.CodeExportStart, "which the host never calls"}},
		},
		{
			name:    "wrong _initialize signature",
			src:     tool{extra: `(func (export "_initialize") (result i32) (i32.const 0))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeExportInitialize, "want () -> ()"}},
		},
		{
			name: "reactor",
			src:  tool{extra: `(func (export "_initialize"))`},
			want: []want{{wasmcheck.Info, wasmcheck.CodeExportInitialize, "the same in every call"}},
		},
		{
			name:    "manifest not JSON",
			src:     tool{manifest: `{"name": "good",`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestRun, `set_output refused "{\"name\": \"good\"," as not valid JSON`}},
		},
		{
			name:    "manifest not an object",
			src:     tool{manifest: `[1,2]`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestJSON, "the manifest is [1,2], not a JSON object"}},
		},
		{
			name:    "bad name and schema",
			src:     tool{manifest: `{"name":"Good Tool","description":"x","inputSchema":{"type":"array"}}`},
			refused: true,
			want: []want{
				{wasmcheck.Error, wasmcheck.CodeManifestName, `manifest: name "Good Tool" must match ^[a-z][a-z0-9_-]{0,63}$`},
				{wasmcheck.Error, wasmcheck.CodeManifestInputSchema, `manifest: inputSchema: must have "type": "object"`},
			},
		},
		{
			name:    "missing input schema",
			src:     tool{manifest: `{"name":"good","description":"x"}`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestInputSchema, "manifest: inputSchema: missing"}},
		},
		{
			name:    "bad output schema",
			src:     tool{manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"outputSchema":{"type":"object","properties":{"x":{"type":7}}}}`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestOutputSchema, "manifest: outputSchema:"}},
		},
		{
			name:    "schema refers outside",
			src:     tool{manifest: `{"name":"good","description":"x","inputSchema":{"type":"object","$ref":"https://example.com/s.json"}}`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestInputSchema, "refers outside the schema"}},
		},
		{
			name:    "bad needs",
			src:     tool{manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"needs":{"http":[{"url":"ftp://example.com/"}]}}`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestNeeds, "scheme must be http or https"}},
		},
		{
			name:    "unknown field",
			src:     tool{manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"nedds":{}}`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestField, `unknown field "nedds": drop it, or correct its name`}},
		},
		{
			name: "manifest refused by the tool",
			src: tool{funcs: returnEmpty + `
  (func (export "capstream_manifest") (result i32)
    (drop (call $set_error (i32.const 1024) (i32.const 9))) (i32.const 1))`,
				imports:  `(import "capstream_v1" "set_error" (func $set_error (param i32 i32) (result i32)))`,
				manifest: "no thanks"},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestRun, "reading the manifest: no thanks"}},
		},
		{
			name: "manifest traps",
			src: tool{funcs: returnEmpty + `
  (func (export "capstream_manifest") (result i32) unreachable)`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeManifestRun, "capstream_manifest"}},
		},
		{
			name:    "abort and a bad manifest",
			src:     tool{imports: `(import "env" "abort" (func (param i32 i32 i32 i32)))`, manifest: `{"name":"-x","description":"x","inputSchema":{"type":"object"}}`},
			refused: true,
			want: []want{
				{wasmcheck.Error, wasmcheck.CodeImportAbort, "--use abort="},
				{wasmcheck.Error, wasmcheck.CodeManifestName, `name "-x"`},
			},
		},
		{
			name: "no description",
			src:  tool{manifest: `{"name":"good","inputSchema":{"type":"object"}}`},
			want: []want{{wasmcheck.Warning, wasmcheck.CodeManifestDescription, "no description"}},
		},
		{
			name: "16 pages",
			src:  tool{memory: `(memory (export "memory") 16)`},
		},
		{
			name: "17 pages",
			src:  tool{memory: `(memory (export "memory") 17)`},
			want: []want{{wasmcheck.Warning, wasmcheck.CodeMemory, "every call starts a new instance with 1.06 MiB of memory"}},
		},
		{
			name: "64 pages, pre-initialized",
			src:  tool{memory: `(memory (export "memory") 64)`, extra: `(func (export "_initialize"))`},
		},
		{
			name: "65 pages, pre-initialized",
			src:  tool{memory: `(memory (export "memory") 65)`, extra: `(func (export "_initialize"))`},
			want: []want{{wasmcheck.Warning, wasmcheck.CodeMemory, "every call copies the 4.06 MiB of initial memory"}},
		},
		{
			name: "more memory than the default limit",
			src:  tool{memory: `(memory (export "memory") 1025)`},
			want: []want{
				{wasmcheck.Warning, wasmcheck.CodeMemoryLimit, "more than the default limit of 64 MiB"},
				{wasmcheck.Warning, wasmcheck.CodeMemory, ""},
			},
		},
		{
			// A stripped module laid out by wasm-ld: the data, then a
			// 1 MiB stack whose pointer is global 0.
			name: "a 1 MiB stack",
			src: tool{memory: `(memory (export "memory") 17)`, extra: `(global (mut i32) (i32.const 1049776))
  (global (export "__heap_base") i32 (i32.const 1049776))
  (global (export "__data_end") i32 (i32.const 1200))`},
			want: []want{{wasmcheck.Warning, wasmcheck.CodeMemory, "1 MiB of it is the shadow stack: link with a 64 KiB stack: Rust -C link-arg=-zstack-size=65536"}},
		},
		{
			// A mutable global of a reference type cannot be snapshotted.
			name:    "refused by the host alone",
			src:     tool{extra: `(global (mut funcref) (ref.null func)) (func (export "_initialize"))`},
			refused: true,
			want:    []want{{wasmcheck.Error, wasmcheck.CodeRefused, "the host refuses the module: invalid manifest: pre-initializing"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := testwasm.WAT(t, tt.src.wat())
			r := check(t, wasm, wasmcheck.Options{File: "x.wasm"})
			assertFindings(t, r, tt.want)
			hostErr := hostRefuses(t, wasm)
			if (hostErr != nil) != tt.refused {
				t.Errorf("the host's verdict: %v, want refused %v", hostErr, tt.refused)
			}
			if (r.Count(wasmcheck.Error) > 0) != (hostErr != nil) {
				t.Errorf("check and the host disagree: host %v; findings:%s", hostErr, dump(r))
			}
		})
	}
}

// assertFindings checks that r has the findings wanted, with the words
// given, and no other error or warning.
func assertFindings(t *testing.T, r *wasmcheck.Report, wants []want) {
	t.Helper()
	matched := map[int]bool{}
	for _, w := range wants {
		ok := false
		for i, f := range r.Findings {
			if f.Code == w.code && f.Severity == w.severity && strings.Contains(f.Message, w.words) {
				ok, matched[i] = true, true
			}
		}
		if !ok {
			t.Errorf("no %s %s with %q; findings:%s", w.severity, w.code, w.words, dump(r))
		}
	}
	for i, f := range r.Findings {
		if f.Severity > wasmcheck.Info && !matched[i] {
			t.Errorf("unexpected finding %s [%s]", f, f.Code)
		}
	}
}

func TestCheckNotWasm(t *testing.T) {
	for _, tt := range []struct {
		name, words string
		wasm        []byte
	}{
		{"text", "the file is not WebAssembly", []byte("hello")},
		{"empty", "not a WebAssembly module", nil},
		{"component", "this is a component", []byte("\x00asm\x0d\x00\x01\x00")},
		{"truncated", "not a WebAssembly module", testwasm.WAT(t, tool{}.wat())[:40]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := check(t, tt.wasm, wasmcheck.Options{})
			assertFindings(t, r, []want{{wasmcheck.Error, wasmcheck.CodeInvalid, tt.words}})
		})
	}
}

// TestCheckMirror checks the hand-written WAT tool, and a sample call of
// it.
func TestCheckMirror(t *testing.T) {
	wasm := testwasm.WATFile(t, "plugins/mirror/mirror.wat")
	r := check(t, wasm, wasmcheck.Options{Input: json.RawMessage(`{"a":[1,2]}`)})
	assertFindings(t, r, nil)
	if r.Language != "" || r.Preinitialized || r.Memory == nil || r.Memory.InitialPages != 1 {
		t.Errorf("report: language %q, preinitialized %v, memory %+v", r.Language, r.Preinitialized, r.Memory)
	}
	var m struct{ Name string }
	if err := json.Unmarshal(r.Manifest, &m); err != nil || m.Name != "mirror" {
		t.Errorf("manifest %s: %v", r.Manifest, err)
	}
	wantImports := []wasmcheck.Import{
		{Module: "capstream_v1", Name: "input", Kind: "func", Signature: "() -> (i32)"},
		{Module: "capstream_v1", Name: "read", Kind: "func", Signature: "(i32, i32) -> (i32)"},
	}
	if !slices.Equal(r.Imports[:2], wantImports) {
		t.Errorf("imports %+v", r.Imports)
	}
	s := r.Sample
	if s == nil || string(s.Output) != `{"a":[1,2]}` || s.Failure != nil || s.DurationMs <= 0 {
		t.Fatalf("sample %+v", s)
	}
	types := []string{}
	for _, e := range s.Events {
		types = append(types, e.Type)
	}
	if strings.Join(types, " ") != "call.started host.log call.completed" || !strings.Contains(string(s.Events[1].Data), `"mirrored"`) {
		t.Errorf("events %v", s.Events)
	}
}

// TestCheckGo checks the Go SDK's echo: a Go module is large, which is
// noted, not warned about; and its sample call goes through the
// pre-initialized module.
func TestCheckGo(t *testing.T) {
	wasm := testwasm.Go(t, "plugins/echo")
	r := check(t, wasm, wasmcheck.Options{Input: json.RawMessage(`{"text":"héllo"}`)})
	assertFindings(t, r, []want{{wasmcheck.Info, wasmcheck.CodeGo, "a Go module"}})
	if r.Language != "Go" || !r.Preinitialized || r.Stack != nil {
		t.Errorf("language %q, preinitialized %v, stack %v", r.Language, r.Preinitialized, r.Stack)
	}
	if s := r.Sample; s == nil || string(s.Output) != `{"text":"héllo"}` || !strings.Contains(string(s.Events[1].Data), "echoing 6 bytes") {
		t.Fatalf("sample %+v", s)
	}
}

// TestCheckSample covers what a sample call reports.
func TestCheckSample(t *testing.T) {
	imports := `(import "capstream_v1" "set_error" (func $set_error (param i32 i32) (result i32)))
  (import "capstream_v1" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "capstream_v1" "http" (func $http (param i32 i32) (result i32)))`
	run := func(body string) string {
		return pushManifest + `
  (func (export "capstream_run") (result i32) ` + body + `)`
	}
	const (
		kvSet    = `(drop (call $kv_set (i32.const 16) (i32.const 2) (i32.const 16) (i32.const 2)))`
		httpGet  = `(drop (call $http (i32.const 3000) (i32.const 30)))`
		complete = `(drop (call $set_output (i32.const 16) (i32.const 2))) (i32.const 0)`
	)
	request := `(data (i32.const 3000) "{\"url\":\"https://example.com/\"}")
  (data (i32.const 3100) "{\"url\":\"https://example.com/\",\"headers\":{\"Authorization\":\"{{secret:K}}\"}}")`
	tests := []struct {
		name     string
		manifest string
		body     string
		input    string
		egress   host.Egress
		want     []want
	}{
		{name: "completed", body: complete},
		{
			name: "trap", body: `unreachable`,
			want: []want{{wasmcheck.Error, wasmcheck.CodeSampleFailed, "the sample call failed (trap)"}},
		},
		{
			name: "tool error", body: `(drop (call $set_error (i32.const 1024) (i32.const 4))) (i32.const 1)`,
			want: []want{{wasmcheck.Warning, wasmcheck.CodeSampleToolError, `the sample call ended with a tool error: {"na`}},
		},
		{
			name: "input refused by the schema", input: `{"n":"x"}`, body: complete,
			manifest: `{"name":"good","description":"x","inputSchema":{"type":"object","properties":{"n":{"type":"integer"}}}}`,
			want:     []want{{wasmcheck.Error, wasmcheck.CodeSampleInput, "/n:"}},
		},
		{
			name: "output refused by the schema", body: complete,
			manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"outputSchema":{"type":"object","required":["x"]}}`,
			want:     []want{{wasmcheck.Warning, wasmcheck.CodeSampleOutput, "does not satisfy the output schema"}},
		},
		{
			name: "output the schema accepts", body: complete,
			manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"outputSchema":{"type":"object"}}`,
		},
		{
			name: "kv undeclared", body: kvSet + complete,
			want: []want{{wasmcheck.Warning, wasmcheck.CodeSampleDenied, `the sample call's kv set was denied (the capability grants no key-value storage): declare the store`}},
		},
		{
			name: "kv read-only", body: kvSet + complete,
			manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"needs":{"kv":{}}}`,
			want:     []want{{wasmcheck.Warning, wasmcheck.CodeSampleDenied, `declare {"kv": {"write": true}}`}},
		},
		{
			name: "kv declared", body: kvSet + complete,
			manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"needs":{"kv":{"write":true}}}`,
		},
		{
			name: "http off", body: httpGet + complete,
			manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"needs":{"http":[{"url":"https://example.com/"}]}}`,
			want:     []want{{wasmcheck.Info, wasmcheck.CodeSampleHTTP, "--allow-http"}},
		},
		{
			name: "http undeclared", body: httpGet + complete, egress: fakeEgress{},
			want: []want{{wasmcheck.Warning, wasmcheck.CodeSampleDenied, "an HTTP request of the sample call was denied (no rule allows https://example.com/)"}},
		},
		{
			name: "http declared", body: httpGet + complete, egress: fakeEgress{},
			manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"needs":{"http":[{"url":"https://example.com/","allowPrivate":true,"secrets":["K"]}]}}`,
		},
		{
			name: "http with a secret", body: `(drop (call $http (i32.const 3100) (i32.const 73)))` + complete, egress: fakeEgress{},
			manifest: `{"name":"good","description":"x","inputSchema":{"type":"object"},"needs":{"http":[{"url":"https://example.com/"}]}}`,
			want:     []want{{wasmcheck.Info, wasmcheck.CodeSampleHTTP, "a check fills in no secrets"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := testwasm.WAT(t, tool{imports: imports, manifest: tt.manifest, funcs: run(tt.body), extra: request}.wat())
			input := tt.input
			if input == "" {
				input = `{}`
			}
			r := check(t, wasm, wasmcheck.Options{Input: json.RawMessage(input), Egress: tt.egress})
			assertFindings(t, r, tt.want)
			if r.Sample == nil && !strings.Contains(tt.name, "input") {
				t.Errorf("no sample")
			}
		})
	}
}

// fakeEgress answers 200 to every request of a call granted any HTTP,
// unless the rules grant a private address or a secret, which a check
// must not.
type fakeEgress struct{}

func (fakeEgress) Do(_ context.Context, rules []host.HTTPRule, req host.HTTPRequest) (host.HTTPResponse, error) {
	if len(rules) == 0 {
		return host.HTTPResponse{}, &host.HTTPDenied{URL: req.URL, Reason: "no rule allows " + req.URL}
	}
	for _, r := range rules {
		if r.AllowPrivate || len(r.Secrets) > 0 {
			return host.HTTPResponse{}, &host.HTTPDenied{URL: req.URL, Reason: fmt.Sprintf("granted %+v", r)}
		}
	}
	if strings.Contains(req.Headers["Authorization"], "{{secret:") {
		return host.HTTPResponse{}, &host.HTTPDenied{URL: req.URL, Reason: `secret "K" is not granted for this url`}
	}
	return host.HTTPResponse{Status: 200, URL: req.URL}, nil
}

func (fakeEgress) Redact(u string) string { return u }

func TestCheckSampleSkipped(t *testing.T) {
	wasm := testwasm.WAT(t, tool{imports: `(import "env" "abort" (func (param i32 i32 i32 i32)))`}.wat())
	r := check(t, wasm, wasmcheck.Options{Input: json.RawMessage(`{}`)})
	if r.Sample != nil || len(find(r, wasmcheck.CodeSampleSkipped)) != 1 {
		t.Errorf("sample %v; findings:%s", r.Sample, dump(r))
	}
	if _, err := wasmcheck.Check(context.Background(), wasm, wasmcheck.Options{Input: json.RawMessage(`[]`)}); err == nil {
		t.Error("an input that is not an object was accepted")
	}
}

func TestCheckCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := wasmcheck.Check(ctx, testwasm.WAT(t, tool{}.wat()), wasmcheck.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with a cancelled context: %v", err)
	}
}

// TestHostFunctions checks that check's table of capstream_v1 agrees with
// the host: a module importing each function with the signature check
// expects loads, and one with another signature does not.
func TestHostFunctions(t *testing.T) {
	for _, imp := range []string{
		`"input" (func (result i32))`,
		`"read" (func (param i32 i32) (result i32))`,
		`"set_output" (func (param i32 i32) (result i32))`,
		`"set_error" (func (param i32 i32) (result i32))`,
		`"log" (func (param i32 i32 i32) (result i32))`,
		`"progress" (func (param f64 f64 i32 i32) (result i32))`,
		`"output" (func (param i32 i32) (result i32))`,
		`"http" (func (param i32 i32) (result i32))`,
		`"kv_get" (func (param i32 i32) (result i32))`,
		`"kv_set" (func (param i32 i32 i32 i32) (result i32))`,
		`"kv_delete" (func (param i32 i32) (result i32))`,
		`"kv_list" (func (param i32 i32) (result i32))`,
		`"capability" (func (result i32))`,
	} {
		name, _, _ := strings.Cut(imp, " ")
		t.Run(strings.Trim(name, `"`), func(t *testing.T) {
			wasm := testwasm.WAT(t, tool{imports: `(import "capstream_v1" ` + imp + `)`}.wat())
			if err := hostRefuses(t, wasm); err != nil {
				t.Fatalf("the host refuses the import: %v", err)
			}
			r := check(t, wasm, wasmcheck.Options{})
			assertFindings(t, r, nil)

			wrong := strings.Replace(imp, "(result i32)", "(result i64)", 1)
			wasm = testwasm.WAT(t, tool{imports: `(import "capstream_v1" ` + wrong + `)`}.wat())
			if err := hostRefuses(t, wasm); !errors.Is(err, host.ErrBadImport) {
				t.Fatalf("the host takes %s: %v", wrong, err)
			}
			r = check(t, wasm, wasmcheck.Options{})
			assertFindings(t, r, []want{{wasmcheck.Error, wasmcheck.CodeImportSignature, "wrong signature"}})
		})
	}
}

func TestSeverityJSON(t *testing.T) {
	f := wasmcheck.Finding{Severity: wasmcheck.Warning, Code: wasmcheck.CodeMemory, Message: "m"}
	b, err := json.Marshal(f)
	if err != nil || string(b) != `{"severity":"warning","code":"module.memory","message":"m"}` {
		t.Fatalf("%s %v", b, err)
	}
	var back wasmcheck.Finding
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Fatalf("%+v %v", back, err)
	}
	if f.String() != "warning: m" {
		t.Errorf("String: %q", f)
	}
	if err := json.Unmarshal([]byte(`{"severity":"fatal"}`), &back); err == nil {
		t.Error("an unknown severity was accepted")
	}
}
