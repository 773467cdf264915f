package httpapi

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/stream"
)

// MCP (docs/mcp.md): /mcp serves the engine's tools over the Model Context
// Protocol. A tools/call is an ordinary call, started by Server.start like a
// POST /v1/tools/{name}/calls: the same capability, caps, audit and
// metrics, and its owner sees it at /v1/calls/{id}. Its events become MCP
// notifications on the request's own stream, and its terminal event the
// result.

// MCPMetaKey is the _meta key of a tools/call result that describes the
// capstream call behind it (docs/mcp.md).
const MCPMetaKey = "dev.capstream/call"

// mcpServer builds the MCP server every /mcp request is served by. Its
// tools are all the engine's; the receiving middleware narrows tools/list
// to the caller's, and each tool's handler refuses the others as unknown.
func (s *Server) mcpServer() *mcp.Server {
	srv := mcp.NewServer(s.mcpImplementation(), &mcp.ServerOptions{
		Instructions: "Tools run in a fresh WebAssembly sandbox per call, under the caller's own capability. " +
			"Each result's _meta[\"" + MCPMetaKey + "\"] names the call; its full event stream is at /v1/calls/{id}/events.",
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}, Logging: &mcp.LoggingCapabilities{}},
		// Tool lists differ by caller: no shared cache may keep one.
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.CacheScope, c.TTLMs = "private", 0 },
		Logger:       zapSlog(s.log.Named("mcp")),
	})
	for _, t := range s.cfg.Engine.Tools() {
		srv.AddTool(mcpTool(t), s.mcpCall(t))
	}
	srv.AddReceivingMiddleware(s.mcpMiddleware)
	return srv
}

// PolicyReloaded tells MCP clients that their tool lists may have changed:
// sessions get notifications/tools/list_changed, and so do stateless
// clients listening with subscriptions/listen. Call it after a reload of
// the policy; the roles of every request are read from the policy in
// force anyway.
func (s *Server) PolicyReloaded() {
	for _, t := range s.cfg.Engine.Tools() {
		s.mcpSrv.AddTool(mcpTool(t), s.mcpCall(t)) // the same tool again: the SDK notifies
	}
}

// mcpImplementation is how the server names itself to MCP clients.
func (s *Server) mcpImplementation() *mcp.Implementation {
	return &mcp.Implementation{Name: "capstream", Title: "capstream", Version: s.cfg.MCP.Version}
}

// mcpTool is a tool as tools/list shows it. An outputSchema that does not
// describe an object is left out: clients (the TypeScript SDK's among them)
// refuse a whole list that holds one.
func mcpTool(t *host.Tool) *mcp.Tool {
	mt := &mcp.Tool{Name: t.Name, Title: t.Title, Description: t.Description, InputSchema: t.InputSchema}
	if objectSchema(t.OutputSchema) {
		mt.OutputSchema = t.OutputSchema
	}
	if len(t.Annotations) > 0 {
		var a mcp.ToolAnnotations
		if json.Unmarshal(t.Annotations, &a) == nil {
			mt.Annotations = &a
		}
	}
	return mt
}

func objectSchema(schema json.RawMessage) bool {
	var root struct {
		Type any `json:"type"`
	}
	return len(schema) > 0 && json.Unmarshal(schema, &root) == nil && root.Type == "object"
}

// mcpMiddleware narrows tools/list to the tools the caller may call, bounds
// the sessions a subject holds, and refuses the methods of features
// capstream does not offer.
func (s *Server) mcpMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "tools/list":
			v, ok := mcpViewer(req)
			res, err := next(ctx, method, req)
			if err != nil || !ok {
				return res, err
			}
			list, _ := res.(*mcp.ListToolsResult)
			if list == nil {
				return res, nil
			}
			grants := v.Policy.Grants(v.Roles)
			mine := *list
			mine.Tools = make([]*mcp.Tool, 0, len(list.Tools))
			for _, t := range list.Tools {
				if grants.Permits(t.Name) {
					mine.Tools = append(mine.Tools, t)
				}
			}
			return &mine, nil
		case "initialize":
			if err := s.mcpSessionOpened(req); err != nil {
				return nil, err
			}
		case "prompts/list", "prompts/get", "resources/list", "resources/read", "resources/templates/list",
			"resources/subscribe", "resources/unsubscribe", "completion/complete":
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not found: capstream serves tools only"}
		}
		return next(ctx, method, req)
	}
}

// mcpViewer is the caller of an MCP request, as mcpAuth authenticated it.
func mcpViewer(req mcp.Request) (viewer, bool) {
	extra := req.GetExtra()
	if extra == nil || extra.TokenInfo == nil {
		return viewer{}, false
	}
	v, ok := extra.TokenInfo.Extra[viewerKey].(viewer)
	return v, ok
}

// mcpSessions keeps the sessions of the session-based protocol era, by
// id, to bound them per subject; Shutdown closes them.
type mcpSessions struct {
	mu      sync.Mutex
	byID    map[string]*mcpSession
	counts  map[string]int // open sessions, by subject
	closing bool
}

type mcpSession struct {
	ss       *mcp.ServerSession
	subject  string
	lastUsed time.Time
	busy     int // requests in flight on it, a GET stream among them
}

// mcpSessionOpened admits the session an initialize request opens, under
// MaxSessionsPerPrincipal, and forgets it when it closes (a DELETE, the
// idle timeout, Shutdown). At the bound, the subject's least recently used
// session with no request in flight is closed to make room: clients that
// never end their sessions (many do not) would otherwise lock their user
// out until the idle timeout. Only when every one is in use is the new
// session refused.
func (s *Server) mcpSessionOpened(req mcp.Request) error {
	ss, _ := req.GetSession().(*mcp.ServerSession)
	v, ok := mcpViewer(req)
	if ss == nil || !ok || ss.ID() == "" {
		return nil // a stateless request: no session lives on
	}
	m := &s.mcpSess
	m.mu.Lock()
	if _, known := m.byID[ss.ID()]; known {
		m.mu.Unlock()
		return nil
	}
	if m.closing {
		m.mu.Unlock()
		return mcpRefusal(errShuttingDown)
	}
	var victim *mcpSession
	if n := m.counts[v.Subject]; n >= s.cfg.MCP.MaxSessionsPerPrincipal {
		for _, e := range m.byID {
			if e.subject == v.Subject && e.busy == 0 && (victim == nil || e.lastUsed.Before(victim.lastUsed)) {
				victim = e
			}
		}
		if victim == nil {
			m.mu.Unlock()
			s.metrics.streamsRejected.Inc()
			return &jsonrpc.Error{Code: mcpCodeRefused, Message: "you have " + strconv.Itoa(n) +
				" MCP sessions open and in use, the most allowed; end one (DELETE /mcp with its Mcp-Session-Id) and retry"}
		}
		m.forget(victim)
	}
	e := &mcpSession{ss: ss, subject: v.Subject, lastUsed: time.Now()}
	m.byID[ss.ID()] = e
	m.counts[v.Subject]++
	m.mu.Unlock()
	if victim != nil {
		s.audit.Info("mcp session closed", zap.String("subject", v.Subject), zap.String("reason", "session_bound"),
			zap.Duration("idle", time.Since(victim.lastUsed)))
		victim.ss.Close()
	}
	go func() {
		ss.Wait()
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.byID[ss.ID()] == e {
			m.forget(e)
		}
	}()
	return nil
}

// forget drops e from m; m.mu is held.
func (m *mcpSessions) forget(e *mcpSession) {
	delete(m.byID, e.ss.ID())
	if m.counts[e.subject]--; m.counts[e.subject] <= 0 {
		delete(m.counts, e.subject)
	}
}

// mcpSessionUse looks up session id for a request: its owner, if it is
// open, and a function to call when the request ends. Meanwhile the session
// counts as in use.
func (s *Server) mcpSessionUse(id string) (owner string, done func(), ok bool) {
	m := &s.mcpSess
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.byID[id]
	if e == nil {
		return "", func() {}, false
	}
	e.busy++
	e.lastUsed = time.Now()
	return e.subject, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		e.busy--
		e.lastUsed = time.Now()
	}, true
}

// closeMCPSessions ends every session at Shutdown and refuses new ones.
func (s *Server) closeMCPSessions() {
	m := &s.mcpSess
	m.mu.Lock()
	m.closing = true
	open := make([]*mcp.ServerSession, 0, len(m.byID))
	for _, e := range m.byID {
		open = append(open, e.ss)
	}
	m.mu.Unlock()
	for _, ss := range open {
		ss.Close()
	}
}

// mcpCodeRefused is the JSON-RPC error code of a request refused before it
// starts anything: a cap, a bound, a drain. error.data.code says which, in
// the HTTP API's words.
const mcpCodeRefused = -32000

func mcpRefusal(e *apiError) error {
	data, _ := json.Marshal(map[string]any{"code": e.Code, "retryAfter": e.RetryAfter})
	return &jsonrpc.Error{Code: mcpCodeRefused, Message: e.Message, Data: data}
}

// mcpUnknownTool is the answer for a tool that does not exist and for one
// the caller may not call: the same words as the SDK's, so that nothing
// tells them apart.
func mcpUnknownTool(name string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "unknown tool " + strconv.Quote(name)}
}

// mcpCall returns the tools/call handler of tool t. Refusals found before
// the call starts are JSON-RPC errors; everything after is the result,
// with isError for a failure, since notifications may have gone out by
// then.
func (s *Server) mcpCall(t *host.Tool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		v, ok := mcpViewer(req)
		if !ok {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the request carries no identity"}
		}
		if !s.mcpPermits(v, t) {
			return nil, mcpUnknownTool(t.Name)
		}
		ss := req.Session
		f := &mcpForwarder{
			token:    req.Params.GetProgressToken(),
			progress: func(p *mcp.ProgressNotificationParams) { ss.NotifyProgress(ctx, p) },
			// The SDK sends a log message only if the client asked for
			// logging, at its level.
			log:  func(p *mcp.LoggingMessageParams) { ss.Log(ctx, p) },
			logs: true,
		}
		return s.mcpRun(ctx, v, t, req.Params.Arguments, f)
	}
}

// mcpPermits reports whether v may call t, and audits a refusal.
func (s *Server) mcpPermits(v viewer, t *host.Tool) bool {
	if v.Policy.Grants(v.Roles).Permits(t.Name) {
		return true
	}
	s.audit.Info("call refused", zap.String("subject", v.Subject), zap.String("tool", t.Name),
		zap.String("reason", "tool_not_permitted"), zap.String("transport", "mcp"))
	return false
}

// mcpRun runs a tools/call of t the caller may make, with arguments args,
// and follows the call to its result, handing its events to f.
func (s *Server) mcpRun(ctx context.Context, v viewer, t *host.Tool, args json.RawMessage, f *mcpForwarder) (*mcp.CallToolResult, error) {
	input := []byte(args)
	if len(input) == 0 || string(input) == "null" {
		input = []byte("{}")
	}
	if input[0] != '{' {
		return mcpFailure("invalid_input", "the arguments must be a JSON object", nil), nil
	}
	if err := t.ValidateInput(input); err != nil {
		return mcpFailure("invalid_input", err.Error(), nil), nil
	}
	if apiErr := s.openStream(v.Subject, true); apiErr != nil {
		return nil, mcpRefusal(apiErr)
	}
	defer s.closeStream(v.Subject)
	c, apiErr := s.start(v, t, v.Policy.Grants(v.Roles), input)
	if apiErr != nil {
		return nil, mcpRefusal(apiErr)
	}
	sub := c.log.Subscribe(0)
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			// notifications/cancelled, the session's end, or (2026-07-28)
			// the request's stream closing: the client wants no answer.
			c.cancel(host.CancelClientGone)
			return nil, ctx.Err()
		}
		f.forward(ev)
		if stream.IsTerminal(ev.Type) {
			return mcpResult(t, ev), nil
		}
	}
}

// mcpForwarder turns a call's events into the notifications of its
// request: progress for host.progress, when the request asked for it with a
// progressToken, and a log message for every event, when logs is set.
type mcpForwarder struct {
	token    any
	progress func(*mcp.ProgressNotificationParams)
	log      func(*mcp.LoggingMessageParams)
	logs     bool
	last     float64
	sent     bool // a progress notification went out
}

func (f *mcpForwarder) forward(ev stream.Event) {
	if f.token != nil && ev.Type == host.EventProgress {
		var p struct {
			Progress float64         `json:"progress"`
			Total    float64         `json:"total"`
			Message  string          `json:"message"`
			Error    json.RawMessage `json:"error"`
		}
		// MCP requires each value to exceed the last; a tool's own may not.
		if json.Unmarshal(ev.Data, &p) == nil && p.Error == nil && (!f.sent || p.Progress > f.last) {
			f.last, f.sent = p.Progress, true
			f.progress(&mcp.ProgressNotificationParams{
				ProgressToken: f.token, Progress: p.Progress, Total: p.Total, Message: p.Message,
				Meta: mcp.Meta{MCPMetaKey: map[string]any{"id": ev.Call, "seq": ev.Seq}},
			})
		}
	}
	if f.logs {
		f.log(&mcp.LoggingMessageParams{Level: mcpLevel(ev), Logger: "capstream/" + ev.Type, Data: envelope(ev)})
	}
}

// envelope is an event as the SSE stream carries it: {type, call, seq,
// time, data}. It is encoded only if the log message goes out.
type envelope stream.Event

func (e envelope) MarshalJSON() ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return json.Marshal(struct {
		Type string          `json:"type"`
		Call string          `json:"call"`
		Seq  uint64          `json:"seq"`
		Time string          `json:"time"`
		Data json.RawMessage `json:"data"`
	}{e.Type, e.Call, e.Seq, e.Time.Format("2006-01-02T15:04:05.000Z07:00"), data})
}

// mcpLevel is the syslog level of an event's log message (docs/mcp.md):
// host.log's own level; warning for a refused host call and error for one
// that failed, else debug; error for call.failed, warning for
// call.cancelled; info for the rest.
func mcpLevel(ev stream.Event) mcp.LoggingLevel {
	switch ev.Type {
	case host.EventLog:
		var l struct {
			Level string `json:"level"`
		}
		json.Unmarshal(ev.Data, &l)
		switch l.Level {
		case "debug", "info", "error":
			return mcp.LoggingLevel(l.Level)
		case "warn":
			return "warning"
		}
		return "error" // a bad host.log carries an error instead of a level
	case host.EventHTTP, host.EventKV, host.EventCapability:
		var d struct {
			Denied json.RawMessage `json:"denied"`
			Error  json.RawMessage `json:"error"`
		}
		json.Unmarshal(ev.Data, &d)
		switch {
		case d.Error != nil:
			return "error"
		case d.Denied != nil:
			return "warning"
		}
		return "debug"
	case host.EventFailed:
		return "error"
	case host.EventCancelled:
		return "warning"
	}
	return "info"
}

// mcpResult is the tools/call result of a call's terminal event.
func mcpResult(t *host.Tool, ev stream.Event) *mcp.CallToolResult {
	var d struct {
		Output     json.RawMessage `json:"output"`
		Error      *host.Failure   `json:"error"`
		Reason     string          `json:"reason"`
		DurationMs int64           `json:"durationMs"`
		Usage      json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return mcpFailure("internal", "reading the call's result: "+err.Error(), nil)
	}
	meta := map[string]any{"id": ev.Call, "tool": t.Name, "digest": t.Digest, "events": "/v1/calls/" + ev.Call + "/events",
		"outcome": strings.TrimPrefix(ev.Type, "call."), "durationMs": d.DurationMs}
	if d.Usage != nil {
		meta["usage"] = d.Usage
	}
	switch ev.Type {
	case host.EventCompleted:
		out := d.Output
		if len(out) == 0 {
			out = json.RawMessage("null")
		}
		res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(out)}}, Meta: mcp.Meta{MCPMetaKey: meta}}
		if out[0] == '{' {
			res.StructuredContent = out
		}
		return res
	case host.EventFailed:
		if d.Error == nil {
			d.Error = &host.Failure{Code: "internal", Message: "the call failed without a reason"}
		}
		return mcpFailure(d.Error.Code, d.Error.Message, meta)
	default:
		return mcpFailure("cancelled", "the call was cancelled: "+d.Reason, meta)
	}
}

// mcpFailure is a result with isError: its text is "code: message", and
// _meta carries the code.
func mcpFailure(code, message string, meta map[string]any) *mcp.CallToolResult {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["error"] = map[string]string{"code": code, "message": message}
	return &mcp.CallToolResult{
		Content: []mcp.Content{&mcp.TextContent{Text: code + ": " + message}},
		IsError: true, Meta: mcp.Meta{MCPMetaKey: meta},
	}
}
