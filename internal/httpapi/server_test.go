package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/internal/testwasm"
	"github.com/capstream/capstream/stream"
)

func TestMain(m *testing.M) { testwasm.Main(m, true) }

// jetstreamBackend runs every test on the cluster backend (an embedded
// single-node JetStream) instead of memory and bbolt:
// CAPSTREAM_TEST_BACKEND=jetstream, as make test does once.
var jetstreamBackend = os.Getenv("CAPSTREAM_TEST_BACKEND") == "jetstream"

// skipOnJetStream skips a test of a single node's semantics in the
// JetStream pass; why says where the cluster's are tested
// (docs/cluster.md states both).
func skipOnJetStream(t *testing.T, why string) {
	t.Helper()
	if jetstreamBackend {
		t.Skip("single-node semantics: " + why)
	}
}

const testPolicy = `
roles_claim: roles
defaults:
  limits: {timeout: 20s, memory: 64MiB, output: 1MiB, events: 1000, host_calls: 500}
roles:
  analyst:
    tools: [echo, whoami, notes, fetch, slow]
    kv: {write: true, quota: 1MiB}
  guest:
    tools: [echo, whoami]
`

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// env is a running API over a real HTTP server, with the bundled tools.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	api    *httpapi.Server
	engine *host.Engine
	store  *policy.Store
	file   string
}

type envOption func(*httpapi.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	var backend *cluster.Backend
	if jetstreamBackend {
		// The whole suite against the cluster backend: one embedded
		// JetStream node, one replica.
		var err error
		backend, err = cluster.Open(context.Background(), cluster.Config{
			Embed: &cluster.EmbedConfig{Name: "n1", StoreDir: filepath.Join(t.TempDir(), "nats")},
			Node:  cluster.NodeConfig{ID: "a"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return newEnvOn(t, backend, opts...)
}

// newEnvOn is newEnv on a cluster backend (nil: memory and bbolt), which it
// closes when the test ends.
func newEnvOn(t testing.TB, backend *cluster.Backend, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := policy.NewStore(file)
	if err != nil {
		t.Fatal(err)
	}
	var kvs host.KV
	if backend != nil {
		kvs = backend.KV
	} else {
		bolt, err := kv.Open(filepath.Join(dir, "kv.db"), kv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bolt.Close() })
		kvs = bolt
	}
	engine, err := host.New(ctx, host.Config{KV: kvs, CacheDir: testwasm.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"echo", "whoami", "notes", "fetch", "slow"} {
		if _, err := engine.Load(ctx, name+".wasm", testwasm.Go(t, "plugins/"+name)); err != nil {
			t.Fatal(err)
		}
	}
	authn, err := auth.New(ctx, auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	cfg := httpapi.Config{Engine: engine, Auth: authn, Policies: store, SigningKey: key, MetricsOnAPI: true,
		Stream: stream.WriterConfig{Heartbeat: 200 * time.Millisecond}}
	if backend != nil {
		cfg.Cluster, cfg.CallStore = backend.Node, backend.CallStore
	}
	for _, o := range opts {
		o(&cfg)
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if backend != nil {
		backend.Node.Attach(api)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		api.Shutdown(sctx)
		srv.Close()
		authn.Close()
		engine.Close(ctx)
		if backend != nil {
			backend.Close(sctx)
		}
	})
	return &env{t: t, srv: srv, api: api, engine: engine, store: store, file: file}
}

// token mints a token for sub with roles, valid for ttl (negative: expired).
func token(t testing.TB, sub string, ttl time.Duration, roles ...string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "roles": roles, "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var (
	alice = func(t testing.TB) string { return token(t, "alice", time.Hour, "analyst") }
	bob   = func(t testing.TB) string { return token(t, "bob", time.Hour, "guest") }
)

// do sends a request; body may be nil. Headers come in pairs.
func (e *env) do(method, path, tok, body string, headers ...string) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	// A test that only looks at the status need not close the body.
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// decode reads a JSON response body.
func decode[T any](t testing.TB, resp *http.Response) T {
	t.Helper()
	defer resp.Body.Close()
	var v T
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: body %q: %v", resp.Status, b, err)
	}
	return v
}

type errorBody struct {
	Error struct{ Code, Message string }
}

// stream runs a call in SSE mode and reads the whole stream.
func (e *env) stream(tok, tool, input string) (*http.Response, sseStream) {
	e.t.Helper()
	resp := e.do("POST", "/v1/tools/"+tool+"/calls", tok, input, "Accept", "text/event-stream")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("%s: %s", resp.Status, b)
	}
	return resp, parseSSE(e.t, resp.Body)
}

// checkCallStream asserts docs/design.md §5 of a whole call's stream: ids from
// from+1 without gaps, envelopes that agree with the SSE fields, exactly one
// terminal event, last.
func checkCallStream(t testing.TB, s sseStream, from uint64) {
	t.Helper()
	if len(s.Events) == 0 {
		t.Fatal("no events")
	}
	call := ""
	for i, ev := range s.Events {
		env := ev.envelope(t)
		want := from + uint64(i) + 1
		if ev.ID != fmt.Sprint(want) || env.Seq != want {
			t.Fatalf("event %d: id %q seq %d, want %d", i, ev.ID, env.Seq, want)
		}
		if env.Type != ev.Type {
			t.Fatalf("event %d: SSE type %q, envelope type %q", i, ev.Type, env.Type)
		}
		if _, err := time.Parse(time.RFC3339, env.Time); err != nil || !strings.HasSuffix(env.Time, "Z") {
			t.Fatalf("event %d: time %q is not RFC 3339 UTC", i, env.Time)
		}
		if call == "" {
			call = env.Call
		} else if env.Call != call {
			t.Fatalf("event %d: call %q, want %q", i, env.Call, call)
		}
		terminal := stream.IsTerminal(ev.Type)
		if terminal != (i == len(s.Events)-1) {
			t.Fatalf("event %d of %d is %s: exactly one terminal event, last", i, len(s.Events), ev.Type)
		}
	}
}

func types(s sseStream) []string {
	var out []string
	for _, e := range s.Events {
		out = append(out, e.Type)
	}
	return out
}
