package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The stateless revision's tools/call, answered without the SDK.
//
// In the 2026-07-28 revision each tools/call is a request of its own, and
// the SDK's handling of one costs about as much again as the call itself:
// it sets up a session, and decodes the same few hundred bytes a dozen
// times, each with a fresh 32 KiB buffer (BENCHMARKS.md). mcpFast answers
// the plain case itself: one decode, the same checks, the same call path
// (mcpRun) and the same messages, byte for byte, as TestMCPFastPathAnswers
// checks against the SDK. Anything it does not recognize as plain (another
// method or version, a header or _meta the SDK would refuse, an unknown or
// forbidden tool, a tool with x-mcp-header parameters, a body too large) is
// left to the SDK, untouched, so that every refusal keeps the SDK's words.

// mcpLevels are MCP's log levels (RFC 5424 severities), least severe first.
var mcpLevels = []mcp.LoggingLevel{"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}

var mcpIntID = regexp.MustCompile(`^-?[0-9]{1,18}$`)

// mcpFastRequest is a plain tools/call, as mcpFast decoded it.
type mcpFastRequest struct {
	id       json.RawMessage
	name     string
	args     json.RawMessage
	token    any // progressToken, or nil
	logLevel int // index in mcpLevels; -1: no log messages
}

// mcpFast answers r if it is a plain tools/call of the 2026-07-28 revision,
// and reports whether it did. If not, r's body is as it was.
func (s *Server) mcpFast(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header
	if s.mcpNoFast || r.Method != http.MethodPost || h.Get("MCP-Protocol-Version") != mcpLatest || h.Get("Mcp-Method") != "tools/call" {
		return false
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "application/json" || !acceptsJSONAndStream(h.Values("Accept")) {
		return false
	}
	info, _ := r.Context().Value(mcpTokenKey{}).(*mcpauth.TokenInfo)
	if info == nil {
		return false
	}
	v, _ := info.Extra[viewerKey].(viewer)
	limit := s.cfg.MaxBodyBytes + 64<<10
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil || int64(len(body)) > limit {
		return false
	}
	req, ok := parseMCPFast(body, h.Get("Mcp-Name"))
	if !ok {
		return false
	}
	t, ok := s.cfg.Engine.Tool(req.name)
	if !ok || bytes.Contains(t.InputSchema, []byte("x-mcp-header")) || !v.Policy.Grants(v.Roles).Permits(t.Name) {
		return false // the SDK's refusal, or its header checks
	}
	s.mcpFastCalls.Add(1)

	w.Header().Set("Cache-Control", "no-cache, no-transform")
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	send := func(msg any) {
		b, err := json.Marshal(msg)
		if err != nil {
			return
		}
		w.Write(append(append([]byte("event: message\ndata: "), b...), '\n', '\n'))
		http.NewResponseController(w).Flush()
	}
	type notification struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}
	f := &mcpForwarder{
		token: req.token,
		progress: func(p *mcp.ProgressNotificationParams) {
			send(notification{"2.0", "notifications/progress", p})
		},
		logs: req.logLevel >= 0,
		log: func(p *mcp.LoggingMessageParams) {
			if slices.Index(mcpLevels, p.Level) >= req.logLevel {
				send(notification{"2.0", "notifications/message", p})
			}
		},
	}
	res, err := s.mcpRun(r.Context(), v, t, req.args, f)
	switch {
	case res != nil:
		res.Meta[mcp.MetaKeyServerInfo] = s.mcpImplementation()
		b, err := json.Marshal(res)
		if err != nil {
			return true
		}
		// The SDK marks a final result; the field is not exported.
		b = append(b[:len(b)-1], `,"resultType":"complete"}`...)
		send(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Result  json.RawMessage `json:"result"`
		}{"2.0", req.id, b})
	case r.Context().Err() == nil:
		rpc, ok := err.(*jsonrpc.Error)
		if !ok {
			rpc = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
		}
		send(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   *jsonrpc.Error  `json:"error"`
		}{"2.0", req.id, rpc})
	}
	return true
}

// parseMCPFast decodes body as a plain tools/call of the 2026-07-28
// revision whose Mcp-Name header is name: exactly the members MCP defines,
// spelled exactly, and the _meta the revision requires, valid.
func parseMCPFast(body []byte, name string) (mcpFastRequest, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || len(top) != 4 ||
		string(top["jsonrpc"]) != `"2.0"` || string(top["method"]) != `"tools/call"` || top["params"] == nil {
		return mcpFastRequest{}, false
	}
	req := mcpFastRequest{id: top["id"], logLevel: -1}
	if id := string(req.id); !mcpIntID.MatchString(id) && !(len(id) > 1 && id[0] == '"' && json.Valid(req.id)) {
		return mcpFastRequest{}, false
	}
	var params map[string]json.RawMessage
	if json.Unmarshal(top["params"], &params) != nil || params["_meta"] == nil {
		return mcpFastRequest{}, false
	}
	for k := range params {
		if k != "name" && k != "arguments" && k != "_meta" {
			return mcpFastRequest{}, false
		}
	}
	if json.Unmarshal(params["name"], &req.name) != nil || req.name == "" || req.name != name {
		return mcpFastRequest{}, false
	}
	req.args = params["arguments"]
	var meta map[string]json.RawMessage
	if json.Unmarshal(params["_meta"], &meta) != nil || string(meta[mcp.MetaKeyProtocolVersion]) != `"`+mcpLatest+`"` {
		return mcpFastRequest{}, false
	}
	var caps map[string]any
	if json.Unmarshal(meta[mcp.MetaKeyClientCapabilities], &caps) != nil || caps == nil {
		return mcpFastRequest{}, false
	}
	if ci, ok := meta[mcp.MetaKeyClientInfo]; ok {
		var impl *mcp.Implementation
		if json.Unmarshal(ci, &impl) != nil || impl == nil {
			return mcpFastRequest{}, false
		}
	}
	if l, ok := meta[mcp.MetaKeyLogLevel]; ok {
		var level mcp.LoggingLevel
		if json.Unmarshal(l, &level) != nil {
			return mcpFastRequest{}, false
		}
		if req.logLevel = slices.Index(mcpLevels, level); req.logLevel < 0 {
			return mcpFastRequest{}, false
		}
	}
	if p, ok := meta["progressToken"]; ok {
		if json.Unmarshal(p, &req.token) != nil {
			return mcpFastRequest{}, false
		}
		switch req.token.(type) {
		case string, float64:
		default:
			return mcpFastRequest{}, false
		}
	}
	return req, true
}

// acceptsJSONAndStream reports whether an Accept header takes both JSON
// and an event stream, as the transport requires.
func acceptsJSONAndStream(values []string) bool {
	var jsonOK, streamOK bool
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			base, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.ToLower(strings.TrimSpace(base)) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				streamOK = true
			case "*/*":
				jsonOK, streamOK = true, true
			}
		}
	}
	return jsonOK && streamOK
}
