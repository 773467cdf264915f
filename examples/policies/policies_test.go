// Package policies_test checks the example policies: the capability each
// gives (what `capstream policy explain` computes, from the bundled tools'
// real manifests), the explanations README.md shows, and that the engine
// enforces them on real calls.
package policies_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if engine != nil {
		engine.Close(context.Background())
	}
	if store != nil {
		store.Close()
	}
	testwasm.Cleanup()
	os.Exit(code)
}

var (
	once    sync.Once
	engine  *host.Engine
	store   *kv.Store
	loadErr error
)

// tool returns a bundled tool, loaded in an engine with a KV store, as
// `capstream serve` and `capstream policy explain` load it.
func tool(t *testing.T, name string) *host.Tool {
	t.Helper()
	once.Do(func() { loadErr = load(t) })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	tl, ok := engine.Tool(name)
	if !ok {
		t.Fatalf("no tool %q", name)
	}
	return tl
}

func load(t *testing.T) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "capstream-policies-")
	if err != nil {
		return err
	}
	if store, err = kv.Open(filepath.Join(dir, "kv.db"), kv.Options{}); err != nil {
		return err
	}
	// Without snapshots calls start slower, and tools load much faster.
	if engine, err = host.New(ctx, host.Config{KV: store, DisableSnapshots: true}); err != nil {
		return err
	}
	for _, n := range []string{"whoami", "notes", "fetch", "slow"} {
		if _, err := engine.Load(ctx, n+".wasm", testwasm.Go(t, "plugins/"+n)); err != nil {
			return err
		}
	}
	return nil
}

// explain is `capstream policy explain --policy FILE --sub SUB --role ROLE... --tool TOOL`.
func explain(t *testing.T, file, sub, toolName string, roles ...string) *policy.Explanation {
	t.Helper()
	p, err := policy.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p.Explain(capability.Principal{Subject: sub, Roles: roles}, toolName, tool(t, toolName).Needs)
}

// call runs a tool for real under the capability the policy gives, and
// returns its events as "type data" lines.
func call(t *testing.T, file, sub, toolName, input string, roles ...string) []string {
	t.Helper()
	p, err := policy.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	tl := tool(t, toolName)
	c, err := capability.Derive(capability.Principal{Subject: sub, Roles: roles}, p.Grants(roles), tl.Name, tl.Digest, tl.Needs, "c_test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	engine.Call(context.Background(), host.Invocation{
		Tool: tl, Capability: &c, Input: []byte(input),
		Sink: host.SinkFunc(func(e host.Event) { events = append(events, e.Type+" "+string(e.Data)) }),
	})
	return events
}

func last(events []string) string { return events[len(events)-1] }

func TestAnalystReadOnly(t *testing.T) {
	const file = "analyst-readonly.yaml"
	ex := explain(t, file, "alice", "notes", "analyst")
	if !ex.Permitted || !reflect.DeepEqual(ex.Capability.KV, &capability.KV{Write: false}) {
		t.Fatalf("notes: permitted %v, kv %+v; want read-only storage", ex.Permitted, ex.Capability)
	}
	ex = explain(t, file, "alice", "fetch", "analyst")
	want := []capability.HTTPRule{{URL: "https://reports.internal.example/api/", Methods: []string{"GET", "HEAD"}}}
	if !reflect.DeepEqual(ex.Capability.HTTP, want) || ex.Capability.KV != nil {
		t.Errorf("fetch gets http %+v, kv %+v; want %+v and no storage", ex.Capability.HTTP, ex.Capability.KV, want)
	}

	// What is already in alice's namespace can be read, not changed.
	if err := store.Set(t.Context(), "notes/alice", "note/00000000-0000000000000000", []byte("quarterly numbers"), 0); err != nil {
		t.Fatal(err)
	}
	ev := call(t, file, "alice", "notes", `{"op":"list"}`, "analyst")
	if !strings.HasPrefix(last(ev), `call.completed {"output":{"notes":["quarterly numbers"]}`) {
		t.Errorf("notes list: %v", ev)
	}
	ev = call(t, file, "alice", "notes", `{"op":"add","text":"x"}`, "analyst")
	denied := `host.kv {"op":"set","key":"note/00000001-`
	if len(ev) != 4 || !strings.HasPrefix(ev[2], denied) || !strings.Contains(ev[2], `"denied":{"grant":"kv","reason":"the capability grants read-only key-value storage"}`) ||
		!strings.HasPrefix(last(ev), `call.failed {"error":{"code":"tool_error"`) {
		t.Errorf("notes add under a read-only grant:\n%s", strings.Join(ev, "\n"))
	}
}

func TestTeamEgress(t *testing.T) {
	const file = "team-egress.yaml"
	ex := explain(t, file, "carol", "fetch", "billing")
	want := []capability.HTTPRule{{URL: "https://api.partner.example/v2/", Methods: []string{"GET", "POST"}, Secrets: []string{"PARTNER_TOKEN"}}}
	if !ex.Permitted || !reflect.DeepEqual(ex.Capability.HTTP, want) {
		t.Errorf("fetch gets http %+v, want %+v", ex.Capability.HTTP, want)
	}
	if ex.Capability.Limits.Timeout != time.Minute {
		t.Errorf("timeout %v, want the role's 1m", ex.Capability.Limits.Timeout)
	}
	// Tools that declare no HTTP need get no rule, and so no secret.
	for _, name := range []string{"notes", "whoami"} {
		if ex := explain(t, file, "carol", name, "billing"); len(ex.Capability.HTTP) != 0 {
			t.Errorf("%s gets http %+v, want none", name, ex.Capability.HTTP)
		}
	}
	if ex := explain(t, file, "carol", "notes", "billing"); !reflect.DeepEqual(ex.Capability.KV, &capability.KV{Write: true, Quota: 10 << 20}) {
		t.Errorf("notes gets kv %+v, want write with a 10MiB quota", ex.Capability.KV)
	}
	if ex := explain(t, file, "mallory", "fetch", "guest"); ex.Permitted {
		t.Error("a role the policy does not define may call fetch")
	}
}

func TestSandbox(t *testing.T) {
	const file = "sandbox.yaml"
	ex := explain(t, file, "dave", "slow", "sandbox")
	want := capability.Limits{Timeout: 2 * time.Second, Memory: 32 << 20, Output: 64 << 10, Events: 100, HostCalls: 50}
	if !ex.Permitted || ex.Capability.Limits != want || len(ex.Capability.HTTP) != 0 || ex.Capability.KV != nil {
		t.Fatalf("sandbox gets %+v, want limits %+v and no http or storage", ex.Capability, want)
	}
	// A second role lifts only what it sets.
	ex = explain(t, file, "dave", "slow", "sandbox", "builder")
	want.Timeout, want.Output = 20*time.Second, 1<<20
	if ex.Capability.Limits != want {
		t.Errorf("sandbox+builder gets %+v, want %+v", ex.Capability.Limits, want)
	}

	// The limits end real calls.
	if ev := call(t, file, "dave", "slow", `{"steps":5,"delayMs":0}`, "sandbox"); !strings.HasPrefix(last(ev), "call.completed") {
		t.Errorf("a small call: %s", last(ev))
	}
	if ev := call(t, file, "dave", "slow", `{"steps":30,"delayMs":0}`, "sandbox"); !strings.HasPrefix(last(ev), `call.failed {"error":{"code":"host_call_limit","message":"more than 50 host calls"}`) {
		t.Errorf("60 host calls: %s", last(ev))
	}
	if ev := call(t, file, "dave", "slow", `{"steps":3,"delayMs":1000}`, "sandbox"); !strings.HasPrefix(last(ev), `call.failed {"error":{"code":"timeout","message":"the call did not finish within 2s"}`) {
		t.Errorf("a 3s call: %s", last(ev))
	}
}

// TestReadmeExplanations checks that every `capstream policy explain`
// output README.md shows is what the command prints.
func TestReadmeExplanations(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^```sh\n((?:bin/)?capstream policy explain [^\n]*)\n```\n\n```text\n(.*?)^```\n").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 3 {
		t.Fatalf("%d explanations in README.md, want one per policy", len(blocks))
	}
	for _, b := range blocks {
		var file, sub, toolName string
		var roles []string
		args := strings.Fields(b[1])[3:]
		for i := 0; i+1 < len(args); i += 2 {
			switch v := args[i+1]; args[i] {
			case "--policy":
				file = v
			case "--sub":
				sub = v
			case "--role":
				roles = append(roles, v)
			case "--tool":
				toolName = v
			default:
				t.Fatalf("%s: unexpected flag %s", b[1], args[i])
			}
		}
		ex := explain(t, filepath.Base(file), sub, toolName, roles...)
		ex.Policy = file
		if got := ex.String(); got != b[2] {
			t.Errorf("%s\nprints\n%s\nnot, as README.md shows,\n%s", b[1], got, b[2])
		}
	}
}
