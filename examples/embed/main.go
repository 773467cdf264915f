// Command embed runs a capstream tool inside a Go program, without HTTP: it
// loads a tool, derives each call's capability from grants of its own, and
// runs the call on the engine with a key-value store and an event sink it
// provides. This is the engine as a library; capstream serve is one program
// built on it.
//
//	go run ./examples/embed -tool plugins/wasm/notes.wasm -subject alice -input '{"op":"add","text":"hello"}'
//
// It imports only the host package: any Go program can do the same.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/capstream/capstream/host"
)

func main() {
	tool := flag.String("tool", "plugins/wasm/notes.wasm", "the tool's .wasm file")
	subject := flag.String("subject", "alice", "the principal the call runs for")
	input := flag.String("input", `{"op":"list"}`, "the call's input, a JSON object")
	flag.Parse()
	wasm, err := os.ReadFile(*tool)
	if err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	r, err := NewRunner(ctx, wasm, NewMemKV())
	if err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
	defer r.Close(ctx)
	res, err := r.Call(ctx, *subject, json.RawMessage(*input), os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
	if res.Event.Type != "call.completed" {
		os.Exit(1)
	}
}

// Runner runs calls of one tool.
type Runner struct {
	engine *host.Engine
	tool   *host.Tool
	grants host.Grants
	n      int
}

// NewRunner loads the tool on a new engine whose kv_* host functions use kv.
// No outbound HTTP is configured, so every HTTP host call is denied.
func NewRunner(ctx context.Context, wasm []byte, kv host.KV) (*Runner, error) {
	engine, err := host.New(ctx, host.Config{KV: kv})
	if err != nil {
		return nil, err
	}
	tool, err := engine.Load(ctx, "tool.wasm", wasm)
	if err != nil {
		engine.Close(ctx)
		return nil, err
	}
	// This program's policy: the tool, storage with a 64 KiB quota, and
	// small limits.
	grants := host.Grants{
		Tools: []string{tool.Name},
		KV:    &host.KVGrant{Write: true, Quota: 64 << 10},
		Limits: host.Limits{Timeout: 5 * time.Second, Memory: 64 << 20, Output: 1 << 20,
			Events: 100, HostCalls: 100},
	}
	return &Runner{engine: engine, tool: tool, grants: grants}, nil
}

// Call runs the tool once for subject, writing each event to out as a JSON
// line, and returns how it ended.
func (r *Runner) Call(ctx context.Context, subject string, input json.RawMessage, out io.Writer) (host.Result, error) {
	if err := r.tool.ValidateInput(input); err != nil {
		return host.Result{}, fmt.Errorf("input: %w", err)
	}
	r.n++
	c, err := host.DeriveCapability(host.Principal{Subject: subject}, r.grants, r.tool, fmt.Sprintf("embed-%d", r.n), time.Now())
	if err != nil {
		return host.Result{}, err
	}
	sink := host.SinkFunc(func(e host.Event) {
		fmt.Fprintf(out, "%s %s\n", e.Type, e.Data)
	})
	return r.engine.Call(ctx, host.Invocation{Tool: r.tool, Capability: &c, Input: input, Sink: sink}), nil
}

// Close releases the engine.
func (r *Runner) Close(ctx context.Context) error { return r.engine.Close(ctx) }

// MemKV is a host.KV in memory: each namespace a map, usage counted as
// capstream's stores count it (key plus value bytes).
type MemKV struct {
	mu    sync.Mutex
	data  map[string]map[string][]byte
	usage map[string]int64
}

// NewMemKV returns an empty store.
func NewMemKV() *MemKV {
	return &MemKV{data: map[string]map[string][]byte{}, usage: map[string]int64{}}
}

func (m *MemKV) Get(_ context.Context, ns, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[ns][key]
	if !ok {
		return nil, host.ErrKVNotFound
	}
	return slices.Clone(v), nil
}

func (m *MemKV) Set(_ context.Context, ns, key string, value []byte, quota int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delta := int64(len(key) + len(value))
	if old, ok := m.data[ns][key]; ok {
		delta -= int64(len(key) + len(old))
	}
	if quota > 0 && delta > 0 && m.usage[ns]+delta > quota {
		return fmt.Errorf("%w: %q would use %d of %d bytes", host.ErrKVQuotaExceeded, ns, m.usage[ns]+delta, quota)
	}
	if m.data[ns] == nil {
		m.data[ns] = map[string][]byte{}
	}
	m.data[ns][key] = slices.Clone(value)
	m.usage[ns] += delta
	return nil
}

func (m *MemKV) Delete(_ context.Context, ns, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.data[ns][key]
	if ok {
		delete(m.data[ns], key)
		m.usage[ns] -= int64(len(key) + len(old))
	}
	return ok, nil
}

func (m *MemKV) List(_ context.Context, ns, prefix string, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := []string{}
	for k := range m.data[ns] {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	return keys, nil
}
