package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/egress"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) { testwasm.Main(m, true) }

// defaultLimits are generous enough for every well-behaved test tool.
var defaultLimits = capability.Limits{Timeout: 5 * time.Second, Memory: 64 << 20, Output: 1 << 20, Events: 1000, HostCalls: 500}

// grantAll grants every tool, KV with writes, and the given HTTP rules.
func grantAll(rules ...capability.HTTPRule) capability.Grants {
	return capability.Grants{Tools: []string{"*"}, HTTP: rules, KV: &capability.KV{Write: true, Quota: 1 << 20}, Limits: defaultLimits}
}

type fixture struct {
	t      testing.TB
	e      *host.Engine
	kv     *kv.Store
	mu     sync.Mutex
	ids    int
	loaded map[string]*host.Tool // by source, so subtests can load twice
}

func newFixture(t testing.TB, egressCfg *egress.Config) *fixture {
	return newFixtureEgress(t, host.Config{}, egressCfg)
}

func newFixtureConfig(t testing.TB, cfg host.Config) *fixture {
	return newFixtureEgress(t, cfg, nil)
}

// newFixtureEgress returns an engine with cfg, a KV store and, if
// egressCfg is set, outbound HTTP.
func newFixtureEgress(t testing.TB, cfg host.Config, egressCfg *egress.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := kv.Open(t.TempDir()+"/kv.db", kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.CacheDir, cfg.KV = testwasm.CacheDir(), store
	if egressCfg != nil {
		cl, err := egress.New(*egressCfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Egress = cl
		t.Cleanup(cl.Close)
	}
	e, err := host.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close(ctx)
		store.Close()
	})
	return &fixture{t: t, e: e, kv: store, loaded: map[string]*host.Tool{}}
}

// load loads a Go guest from the module (e.g. "plugins/echo").
func (f *fixture) load(pkgDir string) *host.Tool {
	f.t.Helper()
	return f.loadOnce(pkgDir, func() []byte { return testwasm.Go(f.t, pkgDir) })
}

// loadWAT loads a tool from WAT source.
func (f *fixture) loadWAT(name, src string) *host.Tool {
	f.t.Helper()
	return f.loadOnce(src, func() []byte { return testwasm.WAT(f.t, src) })
}

func (f *fixture) loadOnce(key string, build func() []byte) *host.Tool {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if tool, ok := f.loaded[key]; ok {
		return tool
	}
	tool, err := f.e.Load(context.Background(), key, build())
	if err != nil {
		f.t.Fatal(err)
	}
	f.loaded[key] = tool
	return tool
}

func (f *fixture) capability(sub string, tool *host.Tool, g capability.Grants) *capability.Capability {
	f.t.Helper()
	f.mu.Lock()
	f.ids++
	id := fmt.Sprintf("call-%d", f.ids)
	f.mu.Unlock()
	c, err := capability.Derive(capability.Principal{Subject: sub, Roles: []string{"role-" + sub}}, g, tool.Name, tool.Digest, tool.Needs, id, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return &c
}

// recorder is a Sink that keeps a call's events.
type recorder struct {
	mu     sync.Mutex
	events []host.Event
}

func (r *recorder) Emit(e host.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

// ofType returns the data of the events of one type.
func (r *recorder) ofType(typ string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, e := range r.events {
		if e.Type == typ {
			var m map[string]any
			json.Unmarshal(e.Data, &m)
			out = append(out, m)
		}
	}
	return out
}

func (f *fixture) call(sub string, tool *host.Tool, g capability.Grants, input string) (host.Result, *recorder) {
	f.t.Helper()
	rec := &recorder{}
	res := f.e.Call(context.Background(), host.Invocation{
		Tool: tool, Capability: f.capability(sub, tool, g), Input: json.RawMessage(input), Sink: rec,
	})
	checkShape(f.t, rec, res)
	return res, rec
}

// checkShape asserts the invariant of every call: call.started first, then
// only host events, then exactly one terminal event, which Result repeats.
func checkShape(t testing.TB, rec *recorder, res host.Result) {
	t.Helper()
	types := rec.types()
	if len(types) < 2 || types[0] != host.EventStarted {
		t.Fatalf("events %v: want call.started first and a terminal event", types)
	}
	for _, typ := range types[1 : len(types)-1] {
		if !strings.HasPrefix(typ, "host.") {
			t.Fatalf("events %v: %s between start and end", types, typ)
		}
	}
	last := types[len(types)-1]
	if last != host.EventCompleted && last != host.EventFailed && last != host.EventCancelled {
		t.Fatalf("events %v: last is not terminal", types)
	}
	if res.Event.Type != last {
		t.Fatalf("result says %s, last event is %s", res.Event.Type, last)
	}
}

func failureCode(res host.Result) string {
	if res.Failure == nil {
		return ""
	}
	return res.Failure.Code
}

func TestEchoCompletes(t *testing.T) {
	f := newFixture(t, nil)
	echo := f.load("plugins/echo")
	res, rec := f.call("alice", echo, grantAll(), `{"text":"hello"}`)
	if res.Failure != nil {
		t.Fatalf("echo failed: %v", res.Failure)
	}
	var out struct{ Text string }
	if err := json.Unmarshal(res.Output, &out); err != nil || out.Text != "hello" {
		t.Fatalf("output %s, want text hello", res.Output)
	}
	if logs := rec.ofType(host.EventLog); len(logs) != 1 {
		t.Fatalf("echo logged %d lines, want 1", len(logs))
	}
	started := rec.ofType(host.EventStarted)[0]
	if started["tool"] != "echo" || started["subject"] != "alice" || !strings.HasPrefix(started["digest"].(string), "sha256:") {
		t.Fatalf("call.started = %v", started)
	}
	if rec.events[1].Decision != host.Allowed || rec.events[0].Decision != "" {
		t.Fatalf("decisions %q, %q: want none for call.started and allowed for the log", rec.events[0].Decision, rec.events[1].Decision)
	}
	if res.Usage.HostCalls != 1 || res.Usage.Events != 1 {
		t.Fatalf("usage %+v, want one host call and one event", res.Usage)
	}
}

func TestNoStateAcrossCalls(t *testing.T) {
	f := newFixture(t, nil)
	counter := f.load("host/testdata/guests/counter")
	for i := range 3 {
		res, _ := f.call("alice", counter, grantAll(), `{}`)
		if string(res.Output) != `{"count":1}` {
			t.Fatalf("call %d: output %s: a global written by an earlier call is visible", i, res.Output)
		}
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t, nil)
	// Each row breaks one limit; the timeout is generous except for spin,
	// so that a slow machine (or -race) cannot turn another failure into a
	// timeout.
	tight := grantAll()
	tight.Limits = capability.Limits{Timeout: 30 * time.Second, Memory: 32 << 20, Output: 64 << 10, Events: 100, HostCalls: 50}
	short := tight
	short.Limits.Timeout = 500 * time.Millisecond
	manyCalls := tight
	manyCalls.Limits.HostCalls, manyCalls.Limits.Events = 100000, 100000
	tests := []struct {
		guest, input string
		g            capability.Grants
		code         string
		message      string // in the failure message
	}{
		{"spin", `{}`, short, host.CodeTimeout, "500ms"},
		{"membomb", `{}`, tight, host.CodeMemoryLimit, "33554432"},
		{"recurse", `{}`, tight, host.CodeTrap, "stack overflow"},
		{"flood", `{"kind":"output"}`, manyCalls, host.CodeOutputLimit, "65536 bytes"},
		{"flood", `{"kind":"log"}`, tight, host.CodeHostCallLimit, "50 host calls"},
		{"flood", `{"kind":"hostcalls"}`, tight, host.CodeHostCallLimit, "50 host calls"},
		{"flood", `{"kind":"log"}`, func() capability.Grants { g := tight; g.Limits.Events = 10; return g }(), host.CodeOutputLimit, "10 events"},
		{"bigoutput", `{"bytes":100000}`, tight, host.CodeOutputLimit, "65536 bytes"},
		{"panic", `{}`, tight, host.CodeTrap, "boom"},
		{"fail", `{}`, tight, host.CodeToolError, "nope"},
	}
	echo := f.load("plugins/echo")
	for _, tt := range tests {
		t.Run(tt.guest+tt.input, func(t *testing.T) {
			tool := f.load("host/testdata/guests/" + tt.guest)
			start := time.Now()
			res, _ := f.call("alice", tool, tt.g, tt.input)
			if got := failureCode(res); got != tt.code || !strings.Contains(res.Failure.Message, tt.message) {
				t.Fatalf("failure %v, want %s mentioning %q", res.Failure, tt.code, tt.message)
			}
			// A timeout cannot come before the deadline, and comes when it
			// passes, not when the guest (which spins forever) lets it: the
			// upper bound leaves seconds for a busy machine.
			if d := time.Since(start); tt.code == host.CodeTimeout && (d < short.Limits.Timeout || d > short.Limits.Timeout+5*time.Second) {
				t.Fatalf("timeout took %v, want between %v and %v", d, short.Limits.Timeout, short.Limits.Timeout+5*time.Second)
			}
			// The host keeps serving: the very next call works.
			if res, _ := f.call("alice", echo, grantAll(), `{"text":"next"}`); res.Failure != nil {
				t.Fatalf("next call failed: %v", res.Failure)
			}
		})
	}
}

func (f *fixture) mustTool(name string) *host.Tool {
	t, ok := f.e.Tool(name)
	if !ok {
		f.t.Fatalf("tool %s not loaded", name)
	}
	return t
}
