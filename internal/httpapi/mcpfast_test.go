package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/capstream/capstream/internal/httpapi"
)

// TestMCPFastPathAnswers: the stateless tools/call that mcpFast answers
// itself gets the same answer, message for message, as the SDK gives it,
// and what mcpFast leaves to the SDK is the SDK's.
func TestMCPFastPathAnswers(t *testing.T) {
	fast := newEnv(t)
	sdk := newEnv(t, func(c *httpapi.Config) {})
	httpapi.SetMCPFastPath(sdk.api, false)
	progress := map[string]any{"progressToken": 7, "io.modelcontextprotocol/logLevel": "debug"}

	type request struct {
		name, who, tool string
		params          map[string]any
		meta            map[string]any
		edit            func(body string, h []string) (string, []string)
		fastPath        bool
	}
	args := func(a map[string]any) map[string]any { return map[string]any{"arguments": a} }
	for _, c := range []request{
		{name: "echo", who: "alice", tool: "echo", params: args(map[string]any{"text": "hé ☃"}), fastPath: true},
		{name: "progress and every log level", who: "alice", tool: "slow", params: args(map[string]any{"steps": 3, "delayMs": 5}), meta: progress, fastPath: true},
		{name: "warnings and up, string token", who: "alice", tool: "fetch", params: args(map[string]any{"url": "https://not-allowed.example/"}),
			meta: map[string]any{"progressToken": "p", "io.modelcontextprotocol/logLevel": "warning"}, fastPath: true},
		{name: "invalid input", who: "alice", tool: "slow", params: args(map[string]any{"steps": "x"}), fastPath: true},
		{name: "arguments null", who: "alice", tool: "whoami", params: map[string]any{"arguments": nil}, fastPath: true},
		{name: "no arguments", who: "bob", tool: "whoami", fastPath: true},
		{name: "string id", who: "alice", tool: "echo", params: args(map[string]any{"text": "x"}), fastPath: true,
			edit: func(b string, h []string) (string, []string) { return strings.Replace(b, `"id":1`, `"id":"abc"`, 1), h }},
		// Left to the SDK:
		{name: "forbidden", who: "bob", tool: "fetch", params: args(map[string]any{"url": "https://example.com/"})},
		{name: "unknown", who: "alice", tool: "nosuch"},
		{name: "name mismatch", who: "alice", tool: "echo", params: args(map[string]any{"text": "x"}),
			edit: func(b string, h []string) (string, []string) { return b, append(h, "Mcp-Name", "slow") }},
		{name: "no capabilities", who: "alice", tool: "echo", params: args(map[string]any{"text": "x"}),
			edit: func(b string, h []string) (string, []string) {
				return strings.Replace(b, `"io.modelcontextprotocol/clientCapabilities":{},`, "", 1), h
			}},
		{name: "version mismatch", who: "alice", tool: "echo", params: args(map[string]any{"text": "x"}),
			edit: func(b string, h []string) (string, []string) {
				return strings.Replace(b, `"io.modelcontextprotocol/protocolVersion":"2026-07-28"`, `"io.modelcontextprotocol/protocolVersion":"2025-11-25"`, 1), h
			}},
		{name: "odd log level", who: "alice", tool: "echo", params: args(map[string]any{"text": "x"}), meta: map[string]any{"io.modelcontextprotocol/logLevel": "loud"}},
		{name: "extra member", who: "alice", tool: "echo", params: map[string]any{"arguments": map[string]any{"text": "x"}, "task": map[string]any{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var answers [2]string
			for i, e := range []*env{fast, sdk} {
				before := httpapi.MCPFastCalls(e.api)
				params := map[string]any{}
				for k, v := range c.params {
					params[k] = v
				}
				body, h := modern(1, "tools/call", c.tool, params, c.meta)
				if c.edit != nil {
					body, h = c.edit(body, h)
				}
				tok := alice(t)
				if c.who == "bob" {
					tok = bob(t)
				}
				answers[i] = normalizeMCP(t, e.mcpPost(tok, body, h...))
				if took := httpapi.MCPFastCalls(e.api) > before; took != (c.fastPath && e == fast) {
					t.Fatalf("fast path taken: %v, want %v", took, c.fastPath && e == fast)
				}
			}
			if answers[0] != answers[1] {
				t.Fatalf("answers differ:\nfast path:\n%s\nSDK:\n%s", answers[0], answers[1])
			}
		})
	}
}

var (
	callIDs = regexp.MustCompile(`c_[a-z0-9]{26}`)
	// instants are the claims of a token a tool echoes back (whoami), inside
	// a text member as escaped JSON or as members of structuredContent; two
	// calls a second apart differ there.
	instants  = regexp.MustCompile(`(\\?"(?:exp|iat)\\?":)[0-9]+`)
	volatiles = map[string]bool{"time": true, "expiresAt": true, "durationMs": true, "token": true, "Date": true}
)

// normalizeMCP is a response as text, with what differs from call to call
// (call ids, times, durations, signed tokens) masked: its status, its
// content type, and each message as JSON with sorted keys.
func normalizeMCP(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := []string{resp.Status, resp.Header.Get("Content-Type")}
	var frames []string
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, ev := range parseSSE(t, strings.NewReader(string(b))).Events {
			frames = append(frames, ev.Data)
		}
	} else {
		frames = []string{string(b)}
	}
	for _, f := range frames {
		var v any
		if err := json.Unmarshal([]byte(f), &v); err != nil {
			out = append(out, "not JSON: "+f)
			continue
		}
		mask(v)
		m, _ := json.Marshal(v)
		out = append(out, instants.ReplaceAllString(callIDs.ReplaceAllString(string(m), "c_ID"), "${1}N"))
	}
	return strings.Join(out, "\n")
}

func mask(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if volatiles[k] {
				v[k] = "X"
			} else {
				mask(x)
			}
		}
	case []any:
		for _, x := range v {
			mask(x)
		}
	}
}
