package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/capstream/capstream/internal/httpapi"
)

// These tests speak MCP's HTTP transport by hand, to check what goes on
// the wire: the order of messages, headers, comments, and the refusals a
// client library would hide.

// rpcMessage is a JSON-RPC message read off an MCP stream.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// modern is a request of the stateless revision: its body, with the _meta
// the revision requires, and its headers.
func modern(id int, method, name string, params map[string]any, meta map[string]any) (string, []string) {
	if params == nil {
		params = map[string]any{}
	}
	m := map[string]any{mcp.MetaKeyProtocolVersion: "2026-07-28", mcp.MetaKeyClientCapabilities: map[string]any{},
		mcp.MetaKeyClientInfo: map[string]any{"name": "raw", "version": "1"}}
	for k, v := range meta {
		m[k] = v
	}
	params["_meta"] = m
	headers := []string{"MCP-Protocol-Version", "2026-07-28", "Mcp-Method", method}
	if name != "" {
		params["name"] = name
		headers = append(headers, "Mcp-Name", name)
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return string(b), headers
}

// mcpPost posts one JSON-RPC message to /mcp.
func (e *env) mcpPost(tok, body string, headers ...string) *http.Response {
	e.t.Helper()
	return e.do("POST", "/mcp", tok, body, append([]string{"Accept", "application/json, text/event-stream"}, headers...)...)
}

// rpcStream reads an MCP response to its end: its SSE comments and its
// messages, or the one message of a JSON response.
func rpcStream(t testing.TB, resp *http.Response) (msgs []rpcMessage, s sseStream) {
	t.Helper()
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var m rpcMessage
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %q", resp.Status, b)
		}
		return []rpcMessage{m}, s
	}
	s = parseSSE(t, resp.Body)
	for _, ev := range s.Events {
		if ev.Data == "" {
			continue // a priming event: an id, no message
		}
		var m rpcMessage
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatalf("event %q: %v", ev.Data, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, s
}

func TestMCPWireOrder(t *testing.T) {
	e := newEnv(t)
	body, h := modern(1, "tools/call", "slow", map[string]any{"arguments": map[string]any{"steps": 3, "delayMs": 10}},
		map[string]any{"progressToken": 7, mcp.MetaKeyLogLevel: "debug"})
	resp := e.mcpPost(alice(t), body, h...)
	if resp.StatusCode != 200 || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	msgs, _ := rpcStream(t, resp)
	var kinds []string
	var progress []float64
	var seqs []uint64
	for i, m := range msgs {
		switch m.Method {
		case "notifications/progress":
			var p struct {
				ProgressToken any
				Progress      float64
			}
			json.Unmarshal(m.Params, &p)
			progress = append(progress, p.Progress)
			kinds = append(kinds, "progress")
		case "notifications/message":
			var l struct {
				Level, Logger string
				Data          struct {
					Type, Call string
					Seq        uint64
				}
			}
			json.Unmarshal(m.Params, &l)
			if l.Logger != "capstream/"+l.Data.Type || l.Data.Call == "" {
				t.Fatalf("log message %s", m.Params)
			}
			seqs = append(seqs, l.Data.Seq)
			kinds = append(kinds, l.Data.Type)
		case "":
			if i != len(msgs)-1 || m.Result == nil {
				t.Fatalf("message %d of %d is the response: %+v", i, len(msgs), m)
			}
			kinds = append(kinds, "result")
		default:
			t.Fatalf("unexpected %s", m.Method)
		}
	}
	if !slices.Equal(progress, []float64{1, 2, 3}) {
		t.Fatalf("progress %v", progress)
	}
	// One log message per event, in order, each progress notification
	// right before the log message of its event.
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("log seqs %v", seqs)
		}
	}
	want := []string{"call.started"}
	for range 3 {
		want = append(want, "progress", "host.progress", "host.output")
	}
	want = append(want, "call.completed", "result")
	if !slices.Equal(kinds, want) {
		t.Fatalf("messages\n%v, want\n%v", kinds, want)
	}

	// Without a log level, no log messages; without a token, no progress.
	body, h = modern(2, "tools/call", "slow", map[string]any{"arguments": map[string]any{"steps": 2, "delayMs": 1}}, nil)
	msgs, _ = rpcStream(t, e.mcpPost(alice(t), body, h...))
	if len(msgs) != 1 || msgs[0].Result == nil {
		t.Fatalf("%d messages: %+v", len(msgs), msgs)
	}
}

func TestMCPHeartbeat(t *testing.T) {
	e := newEnv(t) // heartbeat 200ms
	body, h := modern(1, "tools/call", "slow", map[string]any{"arguments": map[string]any{"steps": 1, "delayMs": 900}}, nil)
	msgs, s := rpcStream(t, e.mcpPost(alice(t), body, h...))
	if len(msgs) != 1 || msgs[0].Result == nil {
		t.Fatalf("%+v", msgs)
	}
	if n := strings.Count(strings.Join(s.Comments, ","), "ping"); n < 2 {
		t.Fatalf("a quiet call of 900 ms got %d heartbeats (%q)", n, s.Comments)
	}
}

func withMCP(c httpapi.MCPConfig) envOption { return func(cfg *httpapi.Config) { cfg.MCP = c } }

func TestMCPUnauthenticated(t *testing.T) {
	e := newEnv(t, withMCP(httpapi.MCPConfig{
		PublicURL: "https://tools.example.com", AuthorizationServers: []string{"https://idp.example.com"},
		Resource: "https://tools.example.com/mcp",
	}))
	meta := `resource_metadata="https://tools.example.com/.well-known/oauth-protected-resource/mcp"`
	forResource := tokenWith(t, jwt.MapClaims{"sub": "alice", "roles": []string{"analyst"}, "aud": []string{"other", "https://tools.example.com/mcp"}}, time.Hour)
	for _, c := range []struct {
		name, tok, challenge string
	}{
		{"no token", "", "Bearer " + meta},
		{"expired", tokenWith(t, jwt.MapClaims{"sub": "alice", "aud": "https://tools.example.com/mcp"}, -time.Minute), `Bearer error="invalid_token", ` + meta},
		{"wrong audience", tokenWith(t, jwt.MapClaims{"sub": "alice", "aud": "https://other.example.com/mcp"}, time.Hour), `Bearer error="invalid_token", ` + meta},
		{"no audience", alice(t), `Bearer error="invalid_token", ` + meta},
	} {
		body, h := modern(1, "tools/list", "", nil, nil)
		resp := e.mcpPost(c.tok, body, h...)
		got := decode[errorBody](t, resp)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != c.challenge || got.Error.Code != "unauthenticated" {
			t.Fatalf("%s: %s %q %+v", c.name, resp.Status, resp.Header.Get("WWW-Authenticate"), got)
		}
	}
	// The REST API does not require the MCP resource.
	if tools := decode[struct{ Tools []any }](t, e.do("GET", "/v1/tools", alice(t), "")); len(tools.Tools) != 5 {
		t.Fatalf("REST with a token for capstream: %+v", tools)
	}
	body, h := modern(1, "tools/list", "", nil, nil)
	if msgs, _ := rpcStream(t, e.mcpPost(forResource, body, h...)); msgs[0].Result == nil {
		t.Fatalf("a token for the resource: %+v", msgs[0])
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		prm := decode[struct {
			Resource               string   `json:"resource"`
			AuthorizationServers   []string `json:"authorization_servers"`
			BearerMethodsSupported []string `json:"bearer_methods_supported"`
		}](t, e.do("GET", path, "", ""))
		if prm.Resource != "https://tools.example.com/mcp" || !slices.Equal(prm.AuthorizationServers, []string{"https://idp.example.com"}) ||
			!slices.Equal(prm.BearerMethodsSupported, []string{"header"}) {
			t.Fatalf("%s: %+v", path, prm)
		}
	}

	// Without an authorization server there is no metadata to point to.
	bare := newEnv(t)
	resp := bare.mcpPost("", body, h...)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("%s %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	if got := decode[errorBody](t, bare.do("GET", "/.well-known/oauth-protected-resource/mcp", "", "")); got.Error.Code != "not_found" {
		t.Fatalf("metadata without an authorization server: %+v", got)
	}
}

// A token the API accepts, /mcp accepts: one expired 10 s ago is within
// the authenticator's leeway for clock skew (30 s), in both eras.
func TestMCPTokenLeeway(t *testing.T) {
	e := newEnv(t)
	tok := tokenWith(t, jwt.MapClaims{"sub": "alice", "roles": []string{"analyst"}}, -10*time.Second)
	if got := decode[struct{ Tools []any }](t, e.do("GET", "/v1/tools", tok, "")); len(got.Tools) != 5 {
		t.Fatalf("REST: %+v", got)
	}
	body, h := modern(1, "tools/list", "", nil, nil)
	if msgs, _ := rpcStream(t, e.mcpPost(tok, body, h...)); msgs[0].Result == nil {
		t.Fatalf("stateless: %+v", msgs[0])
	}
	if id, refused := e.initialize(tok); id == "" {
		t.Fatalf("session: %+v", refused)
	}
}

// tokenWith mints a token with claims, valid for ttl (negative: expired).
func tokenWith(t testing.TB, claims jwt.MapClaims, ttl time.Duration) string {
	t.Helper()
	claims["iat"], claims["exp"] = time.Now().Unix(), time.Now().Add(ttl).Unix()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// initialize opens a session of the session-based revision by hand and
// returns its id, or "" and the response to a refused initialize.
func (e *env) initialize(tok string) (string, rpcMessage) {
	e.t.Helper()
	resp := e.mcpPost(tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	id := resp.Header.Get("Mcp-Session-Id")
	msgs, _ := rpcStream(e.t, resp)
	if len(msgs) != 1 || msgs[0].Result == nil {
		return "", msgs[0]
	}
	r := e.mcpPost(tok, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25")
	r.Body.Close()
	if r.StatusCode != http.StatusAccepted {
		e.t.Fatalf("initialized: %s", r.Status)
	}
	return id, msgs[0]
}

func TestMCPSessionBelongsToItsSubject(t *testing.T) {
	core, audit := observer.New(zapcore.InfoLevel)
	e := newEnv(t, func(c *httpapi.Config) { c.Logger = zap.New(core) })
	id, _ := e.initialize(alice(t))
	if id == "" {
		t.Fatal("no session id")
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	session := []string{"Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25"}
	for _, c := range []struct {
		method, body string
	}{{"POST", list}, {"GET", ""}, {"DELETE", ""}} {
		resp := e.do(c.method, "/mcp", bob(t), c.body, append([]string{"Accept", "application/json, text/event-stream"}, session...)...)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("bob %s with alice's session: %s", c.method, resp.Status)
		}
	}
	if n := audit.FilterMessage("mcp session refused").FilterField(zap.String("subject", "bob")).Len(); n != 3 {
		t.Fatalf("%d refusals audited, want 3", n)
	}
	// Alice's session is intact, and hers to end.
	if msgs, _ := rpcStream(t, e.mcpPost(alice(t), list, session...)); msgs[0].Result == nil {
		t.Fatalf("%+v", msgs)
	}
	resp := e.do("DELETE", "/mcp", alice(t), "", session...)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	resp = e.mcpPost(alice(t), list, session...)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after DELETE: %s", resp.Status)
	}
}

func TestMCPSessionsBounded(t *testing.T) {
	core, audit := observer.New(zapcore.InfoLevel)
	e := newEnv(t, withMCP(httpapi.MCPConfig{MaxSessionsPerPrincipal: 2}), func(c *httpapi.Config) { c.Logger = zap.New(core) })
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	use := func(id string) int {
		resp := e.mcpPost(alice(t), list, "Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	var ids []string
	for range 2 {
		id, refused := e.initialize(alice(t))
		if id == "" {
			t.Fatalf("no session: %+v", refused)
		}
		ids = append(ids, id)
	}
	use(ids[0])
	use(ids[1]) // ids[0] is now the least recently used

	// At the bound, a new session closes the least recently used idle one.
	third, refused := e.initialize(alice(t))
	if third == "" {
		t.Fatalf("a third session: %+v", refused)
	}
	if st := use(ids[0]); st != http.StatusNotFound {
		t.Fatalf("the least recently used session after its eviction: %d", st)
	}
	if st := use(ids[1]); st != http.StatusOK {
		t.Fatalf("the other session: %d", st)
	}
	if n := audit.FilterMessage("mcp session closed").FilterField(zap.String("reason", "session_bound")).Len(); n != 1 {
		t.Fatalf("%d evictions audited", n)
	}

	// Sessions in use (a GET stream open on each) are never closed: then the
	// new session is refused, saying why.
	for _, id := range []string{ids[1], third} {
		get := e.do("GET", "/mcp", alice(t), "", "Accept", "text/event-stream", "Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25")
		if get.StatusCode != http.StatusOK {
			t.Fatalf("GET stream: %s", get.Status)
		}
		defer get.Body.Close()
	}
	id, refused := e.initialize(alice(t))
	if id != "" || refused.Error == nil || !strings.Contains(refused.Error.Message, "2 MCP sessions open and in use") {
		t.Fatalf("a session beyond the bound, all in use: %q %+v", id, refused)
	}
	if id, _ := e.initialize(bob(t)); id == "" {
		t.Fatal("bob is bounded by alice's sessions")
	}
}

func TestMCPSessionIdleTimeout(t *testing.T) {
	e := newEnv(t, withMCP(httpapi.MCPConfig{SessionTimeout: 100 * time.Millisecond}))
	id, _ := e.initialize(alice(t))
	time.Sleep(400 * time.Millisecond)
	resp := e.mcpPost(alice(t), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, "Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an idle session after its timeout: %s", resp.Status)
	}
}

// A dropped connection in the session era does not cancel: the client
// resumes with GET and Last-Event-ID, and gets the rest exactly once.
func TestMCPResumeAfterDrop(t *testing.T) {
	e := newEnv(t)
	id, _ := e.initialize(alice(t))
	session := []string{"Mcp-Session-Id", id, "MCP-Protocol-Version", "2025-11-25"}
	resp := e.mcpPost(alice(t), `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","arguments":{"steps":4,"delayMs":150},"_meta":{"progressToken":"t"}}}`, session...)
	rd := bufio.NewReader(resp.Body)
	var lastID string
	seen := 0
	for seen < 2 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
			lastID = v
		}
		if strings.HasPrefix(line, "data: {") {
			seen++
		}
	}
	resp.Body.Close() // the connection drops after two progress notifications

	// Until the server notices the drop, at its next write, the stream is
	// still being served: the SDK answers a resume 409, and a client tries
	// again (docs/mcp.md).
	var get *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		get = e.do("GET", "/mcp", alice(t), "", append([]string{"Accept", "text/event-stream", "Last-Event-ID", lastID}, session...)...)
		if get.StatusCode != http.StatusConflict || time.Now().After(deadline) {
			break
		}
		get.Body.Close()
		time.Sleep(50 * time.Millisecond)
	}
	if get.StatusCode != 200 {
		t.Fatalf("resume: %s", get.Status)
	}
	msgs, _ := rpcStream(t, get)
	var progress []float64
	results := 0
	var callID string
	for _, m := range msgs {
		switch {
		case m.Method == "notifications/progress":
			var p struct {
				Progress float64
				Meta     map[string]struct{ ID string } `json:"_meta"`
			}
			json.Unmarshal(m.Params, &p)
			progress = append(progress, p.Progress)
		case m.Result != nil:
			results++
			var r struct {
				Meta map[string]struct{ ID, Outcome string } `json:"_meta"`
			}
			json.Unmarshal(m.Result, &r)
			callID = r.Meta[httpapi.MCPMetaKey].ID
			if r.Meta[httpapi.MCPMetaKey].Outcome != "completed" {
				t.Fatalf("result %s", m.Result)
			}
		}
	}
	if !slices.Equal(progress, []float64{3, 4}) || results != 1 {
		t.Fatalf("after the drop: progress %v, %d results", progress, results)
	}
	if st := decode[struct{ Status string }](t, e.do("GET", "/v1/calls/"+callID, alice(t), "")); st.Status != "completed" {
		t.Fatalf("call %s: %s", callID, st.Status)
	}
}

// Cancelling a tools/call (notifications/cancelled in the session era,
// closing the stream in the stateless one) ends the call with
// call.cancelled, at once.
func TestMCPCancel(t *testing.T) {
	e := newEnv(t)
	for _, era := range mcpEras {
		t.Run(era.name, func(t *testing.T) {
			ids := make(chan string, 1)
			cs := e.mcpConnect(alice(t), era.version, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					select {
					case ids <- metaOf(t, r.Params.Meta).ID:
					default:
					}
				},
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"steps": 50, "delayMs": 100},
					Meta: mcp.Meta{"progressToken": "c"}})
				done <- err
			}()
			id := <-ids
			cancel()
			if err := <-done; err == nil {
				t.Fatal("a cancelled call returned a result")
			}
			e.waitStatus(t, id, "cancelled", time.Second)
			var cancelled struct {
				Result struct{ Data struct{ Reason string } }
			}
			cancelled = decode[struct {
				Result struct{ Data struct{ Reason string } }
			}](t, e.do("GET", "/v1/calls/"+id, alice(t), ""))
			if cancelled.Result.Data.Reason != "client_gone" {
				t.Fatalf("reason %q", cancelled.Result.Data.Reason)
			}
		})
	}
}

// waitStatus waits up to limit for alice's call id to have status.
func (e *env) waitStatus(t testing.TB, id, status string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := decode[struct{ Status string }](t, e.do("GET", "/v1/calls/"+id, alice(t), ""))
		if st.Status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s is %s after %v, want %s", id, st.Status, limit, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMCPDeleteDuringCall(t *testing.T) {
	e := newEnv(t)
	ids := make(chan string, 1)
	cs := e.mcpConnect(alice(t), "2026-07-28", &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			select {
			case ids <- metaOf(t, r.Params.Meta).ID:
			default:
			}
		},
	})
	go func() { e.do("DELETE", "/v1/calls/"+<-ids, alice(t), "").Body.Close() }()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"steps": 50, "delayMs": 100},
		Meta: mcp.Meta{"progressToken": "d"}})
	if err != nil || !res.IsError || res.Content[0].(*mcp.TextContent).Text != "cancelled: the call was cancelled: deleted" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestMCPCapsAreErrors(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.MaxCallsPerPrincipal = 1 })
	started := make(chan struct{}, 1)
	cs := e.mcpConnect(alice(t), "2025-11-25", &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
			select {
			case started <- struct{}{}:
			default:
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"steps": 50, "delayMs": 100}, Meta: mcp.Meta{"progressToken": 1}})
	<-started
	rest := decode[errorBody](t, e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"x"}`))
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
	if err == nil || rest.Error.Code != "too_many_calls" || !strings.Contains(err.Error(), rest.Error.Message) {
		t.Fatalf("MCP %v, REST %+v", err, rest)
	}
}

// Roles come from the policy in force at each request, inside a session.
func TestMCPPolicyReloadApplies(t *testing.T) {
	e := newEnv(t)
	changed := make(chan struct{}, 4)
	cs := e.mcpConnect(bob(t), "2025-11-25", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	if got := toolNames(t, cs); !slices.Equal(got, []string{"echo", "whoami"}) {
		t.Fatalf("bob lists %v", got)
	}
	if err := os.WriteFile(e.file, []byte(strings.Replace(testPolicy, "tools: [echo, whoami]", "tools: [echo, whoami, slow]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Reload(); err != nil {
		t.Fatal(err)
	}
	e.api.PolicyReloaded()
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no notifications/tools/list_changed after the reload")
	}
	if got := toolNames(t, cs); !slices.Equal(got, []string{"echo", "slow", "whoami"}) {
		t.Fatalf("after the reload bob lists %v", got)
	}
	if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"steps": 1, "delayMs": 0}}); err != nil || res.IsError {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestMCPHostAndOrigin(t *testing.T) {
	e := newEnv(t, withMCP(httpapi.MCPConfig{PublicURL: "https://tools.example.com", AllowedHosts: []string{"internal.example"}}),
		func(c *httpapi.Config) { c.CORSOrigins = []string{"https://chat.example.com"} })
	body, h := modern(1, "tools/list", "", nil, nil)
	for _, c := range []struct {
		host, origin string
		status       int
	}{
		{"", "", 200}, // the test server's own 127.0.0.1:port
		{"localhost:8080", "", 200},
		{"tools.example.com", "", 200}, // behind a proxy that keeps the Host, as docs/operations.md sets nginx up
		{"internal.example:9000", "", 200},
		{"evil.example", "", 403}, // DNS rebinding
		{"tools.example.com", "https://tools.example.com", 200},
		{"", "https://chat.example.com", 200},
		{"", "https://evil.example", 403},
		{"tools.example.com", "http://tools.example.com.evil.example", 403},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+alice(t))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for i := 0; i < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		if c.host != "" {
			req.Host = c.host
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msgs, _ := rpcStream(t, resp)
		if resp.StatusCode != c.status || c.status == 403 && (msgs[0].Error == nil || msgs[0].Error.Message == "") {
			t.Fatalf("Host %q Origin %q: %s %+v", c.host, c.origin, resp.Status, msgs)
		}
	}
	// A browser on an allowed origin may send MCP's headers and read the
	// session id.
	resp := e.do("OPTIONS", "/mcp", "", "", "Origin", "https://chat.example.com", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type, mcp-session-id, mcp-protocol-version")
	resp.Body.Close()
	allow := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id"} {
		if !strings.Contains(allow, want) {
			t.Fatalf("preflight allows %q", allow)
		}
	}
	resp = e.mcpPost(alice(t), body, append(h, "Origin", "https://chat.example.com")...)
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Mcp-Session-Id") {
		t.Fatalf("exposes %q", resp.Header.Get("Access-Control-Expose-Headers"))
	}
}

// Twenty sessions of ten principals at once, in both eras: each caller's
// whoami sees that caller only.
func TestMCPWhoamiConcurrent(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := fmt.Sprintf("user%d", i%10)
			cs := e.mcpConnect(token(t, sub, time.Hour, "guest"), mcpEras[i%2].version, nil)
			for range 3 {
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"})
				if err != nil {
					errs <- err
					return
				}
				var who struct {
					Subject string `json:"sub"`
				}
				b, _ := json.Marshal(res.StructuredContent)
				json.Unmarshal(b, &who)
				if who.Subject != sub {
					errs <- fmt.Errorf("%s saw %s", sub, b)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
