package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/capstream/capstream/internal/httpapi"
)

// The two protocol eras /mcp serves, as the Go SDK's client opens them:
// the session-based revision by initialize, the stateless one by
// server/discover.
var mcpEras = []struct{ name, version string }{
	{"session", "2025-11-25"},
	{"stateless", "2026-07-28"},
}

// bearer is an http.Client that sends tok on every request. Its
// connections are closed when the test ends.
func bearer(t testing.TB, tok string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: bearerTransport{tok, tr}}
}

type bearerTransport struct {
	tok  string
	base http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

// mcpConnect opens an MCP client session to e's /mcp with tok, in the
// given protocol version; opts may be nil.
func (e *env) mcpConnect(tok, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	e.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "capstream-test", Version: "1"}, opts)
	cs, err := client.Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: e.srv.URL + "/mcp", HTTPClient: bearer(e.t, tok), MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		e.t.Fatalf("connect (%s): %v", version, err)
	}
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		e.t.Fatalf("negotiated %s, want %s", got, version)
	}
	e.t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if tool.InputSchema == nil {
			t.Errorf("%s: no inputSchema", tool.Name)
		}
	}
	slices.Sort(names)
	return names
}

// callMeta is the _meta a tools/call result describes its call with.
type callMeta struct {
	ID, Tool, Digest, Events, Outcome string
	Usage                             *struct{ HostCalls, Events, OutputBytes int }
	Error                             *struct{ Code, Message string }
}

func metaOf(t testing.TB, m mcp.Meta) callMeta {
	t.Helper()
	b, _ := json.Marshal(m[httpapi.MCPMetaKey])
	var c callMeta
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" && c.Error == nil {
		t.Fatalf("_meta %s: %v", b, err)
	}
	return c
}

func TestMCPToolsPerPrincipal(t *testing.T) {
	core, audit := observer.New(zapcore.InfoLevel)
	e := newEnv(t, func(c *httpapi.Config) { c.Logger = zap.New(core) })
	for _, era := range mcpEras {
		t.Run(era.name, func(t *testing.T) {
			a := e.mcpConnect(alice(t), era.version, nil)
			b := e.mcpConnect(bob(t), era.version, nil)
			if got := toolNames(t, a); !slices.Equal(got, []string{"echo", "fetch", "notes", "slow", "whoami"}) {
				t.Fatalf("alice lists %v", got)
			}
			if got := toolNames(t, b); !slices.Equal(got, []string{"echo", "whoami"}) {
				t.Fatalf("bob lists %v", got)
			}
			// A tool bob may not call is answered as one that does not exist.
			var errs []string
			for _, name := range []string{"fetch", "nosuch"} {
				_, err := b.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
				var rpc *jsonrpc.Error
				if !errors.As(err, &rpc) || rpc.Code != jsonrpc.CodeInvalidParams {
					t.Fatalf("bob calls %s: %v", name, err)
				}
				errs = append(errs, strings.ReplaceAll(rpc.Message, name, "NAME"))
			}
			if errs[0] != errs[1] {
				t.Fatalf("a forbidden tool is told apart from an unknown one: %q vs %q", errs[0], errs[1])
			}
		})
	}
	if n := e.totalCalls(t); n != 0 {
		t.Fatalf("refused calls started %d calls", n)
	}
	refusals := audit.FilterLoggerName("audit").FilterMessage("call refused").All()
	if len(refusals) != 2 {
		t.Fatalf("%d refusals audited, want one per era", len(refusals))
	}
	for _, r := range refusals {
		if m := r.ContextMap(); m["subject"] != "bob" || m["tool"] != "fetch" || m["reason"] != "tool_not_permitted" || m["transport"] != "mcp" {
			t.Fatalf("audit record %v", m)
		}
	}
}

// totalCalls is how many calls the metrics counted.
func (e *env) totalCalls(t testing.TB) int {
	t.Helper()
	m := e.metrics(t)
	n := 0
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "capstream_calls_total{") {
			var v int
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			n += v
		}
	}
	return n
}

func TestMCPProgressAndResult(t *testing.T) {
	e := newEnv(t)
	for _, era := range mcpEras {
		t.Run(era.name, func(t *testing.T) {
			var mu sync.Mutex
			var progress []float64
			var msgs []string
			cs := e.mcpConnect(alice(t), era.version, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					mu.Lock()
					defer mu.Unlock()
					progress = append(progress, r.Params.Progress)
					msgs = append(msgs, r.Params.Message)
					if r.Params.Total != 3 || r.Params.ProgressToken != "p1" {
						t.Errorf("progress %+v", r.Params)
					}
				},
			})
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
				Name: "slow", Arguments: map[string]any{"steps": 3, "delayMs": 20}, Meta: mcp.Meta{"progressToken": "p1"},
			})
			if err != nil || res.IsError {
				t.Fatalf("%+v %v", res, err)
			}
			// The client hands notifications to their handler on goroutines
			// of its own; TestMCPWireOrder checks the order on the wire.
			var got []float64
			for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
				mu.Lock()
				got = slices.Clone(progress)
				mu.Unlock()
				if len(got) >= 3 || time.Now().After(deadline) {
					break
				}
			}
			if !slices.Equal(got, []float64{1, 2, 3}) {
				t.Fatalf("progress %v (messages %q)", got, msgs)
			}
			m := metaOf(t, res.Meta)
			if m.Tool != "slow" || m.Outcome != "completed" || !strings.HasPrefix(m.Digest, "sha256:") ||
				m.Events != "/v1/calls/"+m.ID+"/events" || m.Usage == nil || m.Usage.HostCalls == 0 {
				t.Fatalf("_meta %+v", m)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			var structured map[string]any
			b, _ := json.Marshal(res.StructuredContent)
			json.Unmarshal(b, &structured)
			var fromText map[string]any
			if err := json.Unmarshal([]byte(text), &fromText); err != nil || fmt.Sprint(fromText) != fmt.Sprint(structured) || structured["steps"] != 3.0 {
				t.Fatalf("text %q, structuredContent %s", text, b)
			}
			// The call is an ordinary one, visible to its owner alone.
			st := decode[struct{ Status, Tool string }](t, e.do("GET", "/v1/calls/"+m.ID, alice(t), ""))
			if st.Status != "completed" || st.Tool != "slow" {
				t.Fatalf("GET /v1/calls/%s: %+v", m.ID, st)
			}
			if resp := e.do("GET", "/v1/calls/"+m.ID, bob(t), ""); decode[errorBody](t, resp).Error.Code != "call_not_found" {
				t.Fatalf("bob sees alice's call: %s", resp.Status)
			}
		})
	}
}

func TestMCPFailuresAreResults(t *testing.T) {
	e := newEnv(t)
	for _, era := range mcpEras {
		t.Run(era.name, func(t *testing.T) {
			cs := e.mcpConnect(alice(t), era.version, nil)
			for _, c := range []struct {
				tool string
				args any
				code string
			}{
				{"fetch", map[string]any{"url": "https://not-allowed.example/"}, "tool_error"},
				{"slow", map[string]any{"steps": "three"}, "invalid_input"},
				{"slow", map[string]any{"steps": 1, "delayMs": 10, "surplus": true}, "invalid_input"},
			} {
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
				if err != nil {
					t.Fatalf("%s %v: a protocol error: %v", c.tool, c.args, err)
				}
				text := res.Content[0].(*mcp.TextContent).Text
				if !res.IsError || !strings.HasPrefix(text, c.code+": ") || metaOf(t, res.Meta).Error.Code != c.code {
					t.Fatalf("%s %v: isError %v, %q, _meta %v", c.tool, c.args, res.IsError, text, res.Meta)
				}
			}
		})
	}
}
