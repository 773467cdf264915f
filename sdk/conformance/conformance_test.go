//go:build !wasip1

// Package conformance_test runs one table of scenarios against the conform
// tool of every language capstream has an SDK for (SPEC.md), Go and WAT
// included, and against each language's echo and notes: every tool must
// pass each scenario's own checks, and each language's events must be the
// Go tool's, event for event. A language whose tools behave differently
// fails.
package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/egress"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/testwasm"
	"github.com/capstream/capstream/internal/wasmcheck"
)

func TestMain(m *testing.M) { testwasm.Main(m, false) }

// language is one SDK's tools, built from source by the test.
type language struct {
	name  string
	tools func(t testing.TB) map[string][]byte // by tool name: conform, echo, notes
}

var languages = []language{
	{"go", func(t testing.TB) map[string][]byte {
		return map[string][]byte{
			"conform": testwasm.Go(t, "sdk/conformance/conform"),
			"echo":    testwasm.Go(t, "plugins/echo"),
			"notes":   testwasm.Go(t, "plugins/notes"),
		}
	}},
	{"wat", func(t testing.TB) map[string][]byte {
		return map[string][]byte{"conform": testwasm.WATFile(t, "sdk/conformance/conform.wat")}
	}},
	{"rust", func(t testing.TB) map[string][]byte { return testwasm.SDK(t, "sdk/rust") }},
	{"c", func(t testing.TB) map[string][]byte { return testwasm.SDK(t, "sdk/c") }},
	{"assemblyscript", func(t testing.TB) map[string][]byte { return testwasm.SDK(t, "sdk/assemblyscript") }},
}

var defaultLimits = capability.Limits{Timeout: 10 * time.Second, Memory: 64 << 20, Output: 1 << 20, Events: 1000, HostCalls: 500}

// step is one call of a scenario.
type step struct {
	subject string // "alice" if empty
	input   string
	grants  func(g *capability.Grants, api string)
	// want is the output (compared as JSON), or the failure code and a
	// part of its message.
	want       string
	failure    string
	failureHas string
	// claims: the output is {"claims": …}; only its subject, call id and
	// KV namespace are compared (each SDK decodes the claims its own way).
	claims bool
	// check looks at the events (host events only, in order).
	check func(t *testing.T, events []host.Event)
}

type scenario struct {
	name  string
	tool  string // conform if empty
	steps []step
}

// alwaysHTTP grants GET on the fixture's API (a private address).
func alwaysHTTP(g *capability.Grants, api string) {
	g.HTTP = []capability.HTTPRule{{URL: api + "/ok/", Methods: []string{"GET"}, AllowPrivate: true}}
}

func limits(f func(l *capability.Limits)) func(*capability.Grants, string) {
	return func(g *capability.Grants, api string) { f(&g.Limits) }
}

var scenarios = []scenario{
	{name: "echo non-ASCII", steps: []step{{
		input: `{"op":"echo","text":"héllo wörld, 你好, 🌍, \"quoted\" \\ back\tslash\n"}`,
		want:  `{"echo":"héllo wörld, 你好, 🌍, \"quoted\" \\ back\tslash\n"}`,
	}}},
	{name: "input round trip", steps: []step{{
		input: `{"op":"input","n":[1,2.5,-3e2,true,null],"s":"é\u0000\ud83c\udf0d","o":{"a":{}}}`,
		want:  `{"op":"input","n":[1,2.5,-3e2,true,null],"s":"é\u0000\ud83c\udf0d","o":{"a":{}}}`,
	}}},
	{name: "log and progress events", steps: []step{{
		input: `{"op":"events"}`, want: `{"ok":true}`,
		check: func(t *testing.T, events []host.Event) {
			want := []string{
				`host.log {"level":"debug","message":"debug"}`,
				`host.log {"level":"info","message":"info"}`,
				`host.log {"level":"warn","message":"warn"}`,
				`host.log {"level":"error","message":"error ü"}`,
				`host.progress {"progress":1,"total":3,"message":"one"}`,
				`host.progress {"progress":2,"total":3}`,
				`host.progress {"progress":3}`,
				`host.output {"chunk":"partial é"}`,
			}
			for i, w := range want {
				typ, data, _ := strings.Cut(w, " ")
				want[i] = typ + " " + string(canonical([]byte(data)))
			}
			if got := eventLines(events); !reflect.DeepEqual(got, want) {
				t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		},
	}}},
	{name: "http allowed", steps: []step{{
		input: `{"op":"http","method":"GET","url":"API/ok/hello"}`, grants: alwaysHTTP,
		want: `{"status":201,"url":"API/ok/hello","body":"héllo from the fixture","contentType":"text/plain; charset=utf-8"}`,
	}, {
		input: `{"op":"http","method":"GET","url":"API/ok/redirect"}`, grants: alwaysHTTP,
		want: `{"status":201,"url":"API/ok/hello","body":"héllo from the fixture","contentType":"text/plain; charset=utf-8"}`,
	}, {
		input: `{"op":"http","method":"GET","url":"API/ok/empty"}`, grants: alwaysHTTP,
		want: `{"status":204,"url":"API/ok/empty","body":"","contentType":null}`,
	}}},
	{name: "http denied as data", steps: []step{{
		input: `{"op":"http","method":"GET","url":"API/secret/x"}`, grants: alwaysHTTP,
		want: `{"error":{"code":-1,"message":"MESSAGE"}}`,
	}, {
		input: `{"op":"http","method":"DELETE","url":"API/ok/hello"}`, grants: alwaysHTTP,
		want: `{"error":{"code":-1,"message":"MESSAGE"}}`,
	}, {
		input: `{"op":"http","method":"GET","url":"API/ok/hello"}`,
		want:  `{"error":{"code":-1,"message":"MESSAGE"}}`,
	}}},
	{name: "kv isolation between principals", steps: []step{
		{input: `{"op":"kv_set","key":"k/é","value":"v of alice ✓"}`, want: `{"ok":true}`},
		{input: `{"op":"kv_get","key":"k/é"}`, want: `{"value":"v of alice ✓"}`},
		{subject: "bob", input: `{"op":"kv_get","key":"k/é"}`, want: `{"error":{"code":-2,"message":"MESSAGE"}}`},
		{subject: "bob", input: `{"op":"kv_list","prefix":""}`, want: `{"keys":[]}`},
		{subject: "bob", input: `{"op":"kv_set","key":"k/é","value":"bob's"}`, want: `{"ok":true}`},
		{input: `{"op":"kv_list","prefix":"k/"}`, want: `{"keys":["k/é"]}`},
		{input: `{"op":"kv_get","key":"k/é"}`, want: `{"value":"v of alice ✓"}`},
		{input: `{"op":"kv_delete","key":"k/é"}`, want: `{"ok":true}`},
		{input: `{"op":"kv_get","key":"k/é"}`, want: `{"error":{"code":-2,"message":"MESSAGE"}}`},
		{subject: "bob", input: `{"op":"kv_get","key":"k/é"}`, want: `{"value":"bob's"}`},
		{input: `{"op":"kv_set","key":"","value":"x"}`, want: `{"error":{"code":-3,"message":"MESSAGE"}}`},
		{input: `{"op":"kv_set","key":"k","value":"x"}`, grants: func(g *capability.Grants, _ string) { g.KV.Write = false },
			want: `{"error":{"code":-1,"message":"MESSAGE"}}`},
		{input: `{"op":"kv_set","key":"big","value":"` + strings.Repeat("q", 300) + `"}`,
			grants: func(g *capability.Grants, _ string) { g.KV.Quota = 100 },
			want:   `{"error":{"code":-4,"message":"MESSAGE"}}`},
	}},
	{name: "capability claims", steps: []step{{
		input: `{"op":"capability"}`, claims: true,
		check: func(t *testing.T, events []host.Event) {
			if got := eventLines(events); len(got) != 1 || !strings.HasPrefix(got[0], "host.capability ") {
				t.Errorf("events %v, want one host.capability", got)
			}
		},
	}}},
	{name: "tool error", steps: []step{{
		input: `{"op":"fail","message":"asked to fail: ünïcode"}`, failure: host.CodeToolError, failureHas: "asked to fail: ünïcode",
	}, {
		input: `{"op":"nope"}`, failure: host.CodeToolError, failureHas: "unknown op: nope",
	}}},
	{name: "trap", steps: []step{{
		input: `{"op":"trap","message":"asked to trap"}`, failure: host.CodeTrap, failureHas: "asked to trap",
	}}},
	{name: "bad pointer", steps: []step{{
		input: `{"op":"badptr"}`, failure: host.CodeABIViolation,
	}}},
	{name: "memory within the limit", steps: []step{{
		input: `{"op":"alloc","mib":4}`, want: `{"ok":true}`,
	}}},
	{name: "memory limit", steps: []step{{
		input: `{"op":"alloc","mib":48}`, failure: host.CodeMemoryLimit, failureHas: "memory would grow past the limit of 33554432 bytes; then ",
		grants: limits(func(l *capability.Limits) { l.Memory = 32 << 20 }),
	}}},
	{name: "time limit", steps: []step{{
		input: `{"op":"spin"}`, failure: host.CodeTimeout,
		grants: limits(func(l *capability.Limits) { l.Timeout = 300 * time.Millisecond }),
	}}},
	{name: "output limit", steps: []step{{
		input: `{"op":"flood"}`, failure: host.CodeOutputLimit,
		grants: limits(func(l *capability.Limits) { l.Output = 10 << 10 }),
		check: func(t *testing.T, events []host.Event) {
			if n := len(events); n != 10 {
				t.Errorf("%d host.output events before the 10 KiB limit, want 10", n)
			}
		},
	}}},
	{name: "host call limit", steps: []step{{
		input: `{"op":"calls"}`, failure: host.CodeHostCallLimit,
		grants: limits(func(l *capability.Limits) { l.HostCalls = 25 }),
		check: func(t *testing.T, events []host.Event) {
			if n := len(events); n != 25 {
				t.Errorf("%d host.log events before the limit of 25 host calls, want 25", n)
			}
		},
	}}},
	{name: "event limit", steps: []step{{
		input: `{"op":"calls"}`, failure: host.CodeOutputLimit,
		grants: limits(func(l *capability.Limits) { l.Events = 30 }),
	}}},
	{name: "echo tool", tool: "echo", steps: []step{{
		input: `{"text":"héllo 🌍"}`, want: `{"text":"héllo 🌍"}`,
		check: func(t *testing.T, events []host.Event) {
			if got, want := eventLines(events), []string{`host.log {"level":"info","message":"echoing 11 bytes"}`}; !reflect.DeepEqual(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
		},
	}}},
	{name: "notes tool", tool: "notes", steps: []step{
		{input: `{"op":"add","text":"first é"}`, want: `{"notes":["first é"]}`},
		{input: `{"op":"add","text":"second"}`, want: `{"notes":["first é","second"]}`},
		{subject: "bob", input: `{"op":"list"}`, want: `{"notes":[]}`},
		{input: `{"op":"list"}`, want: `{"notes":["first é","second"]}`},
		{input: `{"op":"clear"}`, want: `{"notes":[]}`},
		{input: `{"op":"add","text":"x"}`, grants: func(g *capability.Grants, _ string) { g.KV.Write = false },
			failure: host.CodeToolError, failureHas: "adding the note: denied"},
	}},
}

// run is one language's tools on an engine of their own, with a bbolt
// store and outbound HTTP to the fixture.
type run struct {
	engine *host.Engine
	tools  map[string]*host.Tool
	api    string
}

func newRun(t *testing.T, l language, api string) *run {
	t.Helper()
	ctx := context.Background()
	store, err := kv.Open(t.TempDir()+"/kv.db", kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eg, err := egress.New(egress.Config{Resolver: func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := host.New(ctx, host.Config{KV: store, Egress: eg, CacheDir: testwasm.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close(ctx)
		eg.Close()
		store.Close()
	})
	r := &run{engine: e, tools: map[string]*host.Tool{}, api: api}
	for name, wasm := range l.tools(t) {
		tool, err := e.Load(ctx, l.name+"/"+name+".wasm", wasm)
		if err != nil {
			t.Fatalf("%s's %s does not load: %v", l.name, name, err)
		}
		r.tools[name] = tool
	}
	return r
}

// transcript is what a call did, in the terms languages must agree on.
type transcript struct {
	Events  []string        // host events, durations left out
	End     string          // the terminal event's type
	Output  json.RawMessage `json:",omitempty"`
	Failure string          `json:",omitempty"`
	Usage   string          // host calls and events
}

func (r *run) call(t *testing.T, tool *host.Tool, id string, s step) (host.Result, []host.Event) {
	t.Helper()
	g := capability.Grants{Tools: []string{"*"}, KV: &capability.KV{Write: true, Quota: 1 << 20}, Limits: defaultLimits}
	if s.grants != nil {
		s.grants(&g, r.api)
	}
	subject := subjectOf(s)
	input := json.RawMessage(strings.ReplaceAll(s.input, "API", r.api))
	if err := tool.ValidateInput(input); err != nil {
		t.Fatalf("input %s: %v", input, err)
	}
	c, err := capability.Derive(capability.Principal{Subject: subject}, g, tool.Name, tool.Digest, tool.Needs, id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []host.Event
	res := r.engine.Call(context.Background(), host.Invocation{Tool: tool, Capability: &c, Input: input,
		Sink: host.SinkFunc(func(e host.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		})})
	mu.Lock()
	defer mu.Unlock()
	if len(events) < 2 || events[0].Type != host.EventStarted || events[len(events)-1].Type != res.Event.Type {
		t.Fatalf("events %v: want call.started, host events, one terminal event", eventLines(events))
	}
	return res, events[1 : len(events)-1]
}

// TestConformance runs every scenario on every language.
func TestConformance(t *testing.T) {
	api := fixtureAPI(t)
	// The reference is Go's: every language's transcripts must equal it.
	reference := map[string][]transcript{}
	for _, l := range languages {
		t.Run(l.name, func(t *testing.T) {
			r := newRun(t, l, api)
			checkManifests(t, l.name, r)
			for _, sc := range scenarios {
				toolName := sc.tool
				if toolName == "" {
					toolName = "conform"
				}
				tool := r.tools[toolName]
				if tool == nil {
					if l.name == "wat" && toolName != "conform" {
						continue // the WAT conform is the only hand-written tool
					}
					t.Errorf("%s has no %s tool", l.name, toolName)
					continue
				}
				t.Run(sc.name, func(t *testing.T) {
					var got []transcript
					for i, s := range sc.steps {
						res, events := r.call(t, tool, fmt.Sprintf("call-%d", i), s)
						checkStep(t, api, i, s, res, events)
						tr := transcriptOf(res, events)
						if s.claims {
							tr.Output = claimsOf(res.Output)
						}
						got = append(got, tr)
					}
					key := sc.name
					if l.name == "go" {
						reference[key] = got
						return
					}
					want, ok := reference[key]
					if !ok {
						t.Skip("the Go reference did not run")
					}
					for i := range got {
						if !reflect.DeepEqual(got[i], want[i]) {
							t.Errorf("step %d differs from Go's:\n%s\nGo:\n%s", i, jsonOf(got[i]), jsonOf(want[i]))
						}
					}
				})
			}
		})
	}
}

// checkStep checks one call against what its step wants.
func checkStep(t *testing.T, api string, i int, s step, res host.Result, events []host.Event) {
	t.Helper()
	switch {
	case s.failure != "":
		if res.Failure == nil || res.Failure.Code != s.failure || !strings.Contains(res.Failure.Message, s.failureHas) {
			t.Errorf("step %d %s: ended %s %v %s, want failure %s containing %q", i, s.input, res.Event.Type, res.Failure, res.Output, s.failure, s.failureHas)
		}
	case s.want != "":
		if res.Failure != nil {
			t.Errorf("step %d %s: failed %v, want %s", i, s.input, res.Failure, s.want)
			break
		}
		if !sameJSON(res.Output, []byte(strings.ReplaceAll(s.want, "API", api))) {
			t.Errorf("step %d %s:\noutput %s\nwant   %s", i, s.input, res.Output, s.want)
		}
	case s.claims:
		want := fmt.Sprintf(`{"sub":%q,"jti":"call-%d","namespace":"conform/%s"}`, subjectOf(s), i, subjectOf(s))
		if got := claimsOf(res.Output); res.Failure != nil || !bytes.Equal(got, canonical([]byte(want))) {
			t.Errorf("step %d: claims %s (%v), want %s", i, got, res.Failure, want)
		}
	}
	if s.check != nil {
		s.check(t, events)
	}
}

func subjectOf(s step) string {
	if s.subject == "" {
		return "alice"
	}
	return s.subject
}

// claimsOf picks the claims every language must agree on out of the
// capability op's output.
func claimsOf(out []byte) json.RawMessage {
	var o struct {
		Claims struct {
			Sub, Jti string
			Cap      struct{ KV struct{ Namespace string } }
		}
	}
	if err := json.Unmarshal(out, &o); err != nil {
		return out
	}
	return mustJSON(map[string]string{"sub": o.Claims.Sub, "jti": o.Claims.Jti, "namespace": o.Claims.Cap.KV.Namespace})
}

// sameJSON compares two JSON values, where a string "MESSAGE" in want
// stands for any non-empty string (the host's messages are its own).
func sameJSON(got, want []byte) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil {
		return false
	}
	return matches(g, w)
}

func matches(g, w any) bool {
	switch w := w.(type) {
	case string:
		s, ok := g.(string)
		return ok && (s == w || w == "MESSAGE" && s != "")
	case map[string]any:
		m, ok := g.(map[string]any)
		if !ok || len(m) != len(w) {
			return false
		}
		for k, v := range w {
			if gv, ok := m[k]; !ok || !matches(gv, v) {
				return false
			}
		}
		return true
	case []any:
		a, ok := g.([]any)
		if !ok || len(a) != len(w) {
			return false
		}
		for i := range w {
			if !matches(a[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(g, w)
	}
}

// noteKey is a notes key, whose random suffix differs from call to call.
var noteKey = regexp.MustCompile(`note/(\d{8})-[0-9a-f]{16}`)

func transcriptOf(res host.Result, events []host.Event) transcript {
	tr := transcript{End: res.Event.Type, Events: eventLines(events)}
	for i, e := range tr.Events {
		tr.Events[i] = noteKey.ReplaceAllString(e, "note/$1-RANDOM")
	}
	if res.Failure != nil {
		tr.Failure = res.Failure.Code
	} else {
		tr.Output = canonical(res.Output)
	}
	var end struct{ Usage host.Usage }
	json.Unmarshal(res.Event.Data, &end)
	tr.Usage = fmt.Sprintf("hostCalls=%d events=%d", end.Usage.HostCalls, end.Usage.Events)
	return tr
}

// eventLines renders host events as "type data", without durationMs.
func eventLines(events []host.Event) []string {
	var out []string
	for _, e := range events {
		var m map[string]any
		json.Unmarshal(e.Data, &m)
		delete(m, "durationMs")
		out = append(out, e.Type+" "+string(canonical(mustJSON(m))))
	}
	return out
}

// canonical re-encodes a JSON value with sorted keys; messages of the
// host's errors are kept, since every language gets the same ones.
func canonical(b []byte) json.RawMessage {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return b
	}
	return mustJSON(v)
}

func mustJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

func jsonOf(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// goManifests are the manifests of the Go tools, which every language's
// tools of the same name must repeat.
var goManifests sync.Map

func checkManifests(t *testing.T, lang string, r *run) {
	t.Helper()
	for name, tool := range r.tools {
		m := canonical(mustJSON(map[string]any{
			"name": tool.Name, "title": tool.Title, "description": tool.Description,
			"inputSchema": tool.InputSchema, "outputSchema": tool.OutputSchema,
			"annotations": tool.Annotations, "needs": tool.Needs,
		}))
		if tool.Name != name {
			t.Errorf("%s's %s.wasm is named %q", lang, name, tool.Name)
		}
		if lang == "go" {
			goManifests.Store(name, m)
			continue
		}
		want, ok := goManifests.Load(name)
		if !ok {
			t.Errorf("%s's %s: no Go tool of that name to compare with", lang, name)
			continue
		}
		if !bytes.Equal(m, want.(json.RawMessage)) {
			t.Errorf("%s's %s manifest\n%s\nGo's\n%s", lang, name, m, want)
		}
	}
}

// fixtureAPI serves the upstream API of the http scenarios on loopback,
// under a host name of its own (every name resolves to 127.0.0.1).
func fixtureAPI(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		switch r.URL.Path {
		case "/ok/hello":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "héllo from the fixture")
		case "/ok/redirect":
			http.Redirect(w, r, "/ok/hello", http.StatusFound)
		case "/ok/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "http://api.conformance.test:" + port
}

// TestCheck: capstream check finds nothing to change in any language's
// tools, and a sample call of each echo completes.
func TestCheck(t *testing.T) {
	for _, l := range languages {
		t.Run(l.name, func(t *testing.T) {
			for name, wasm := range l.tools(t) {
				opts := wasmcheck.Options{File: l.name + "/" + name + ".wasm", CacheDir: testwasm.CacheDir()}
				if name == "echo" {
					opts.Input = json.RawMessage(`{"text":"héllo"}`)
				}
				r, err := wasmcheck.Check(context.Background(), wasm, opts)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range r.Findings {
					if f.Severity >= wasmcheck.Warning {
						t.Errorf("%s: %s %s: %s", opts.File, f.Severity, f.Code, f.Message)
					}
				}
				if name == "echo" && (r.Sample == nil || !sameJSON(r.Sample.Output, []byte(`{"text":"héllo"}`))) {
					t.Errorf("%s: sample call %+v, want the text back", opts.File, r.Sample)
				}
			}
		})
	}
}
