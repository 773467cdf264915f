package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// runMCP is `capstream mcp`: an MCP server on stdin and stdout for desktop
// clients that start a command and cannot send headers (docs/mcp.md). It
// forwards every request to a running server's /mcp with the bearer token,
// read afresh for each request, so identity, policy and audit stay on the
// server. Only protocol goes to stdout; diagnostics go to stderr.
func runMCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("mcp", "mcp [flags]", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the capstream server to bridge to")
	tokenFile := fs.String("token-file", "", "file holding the bearer token, read again for each request (default $CAPSTREAM_TOKEN)")
	verbose := fs.Bool("v", false, "log each forwarded request to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("mcp takes no arguments, got %q", fs.Args())
	}
	if !strings.HasPrefix(*base, "http://") && !strings.HasPrefix(*base, "https://") {
		return fmt.Errorf("--url %q: give the server's http:// or https:// URL", *base)
	}
	tok := tokenSource{file: *tokenFile}
	if _, err := tok.read(); err != nil {
		return err
	}
	level := zapcore.WarnLevel
	if *verbose {
		level = zapcore.DebugLevel
	}
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(stderr), level)).Named("mcp")
	b := &bridge{endpoint: strings.TrimSuffix(*base, "/") + "/mcp", tok: tok, log: log}
	srv := mcp.NewServer(&mcp.Implementation{Name: "capstream-mcp", Title: "capstream (stdio bridge)", Version: buildVersion()}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}, Logging: &mcp.LoggingCapabilities{}},
	})
	srv.AddReceivingMiddleware(b.forward)
	log.Info("bridging stdio", zap.String("to", b.endpoint))
	err := srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// tokenSource reads the bearer token from a file, each time, or from
// $CAPSTREAM_TOKEN.
type tokenSource struct{ file string }

func (t tokenSource) read() (string, error) {
	if t.file == "" {
		if v := strings.TrimSpace(os.Getenv("CAPSTREAM_TOKEN")); v != "" {
			return v, nil
		}
		return "", errors.New("no token: give --token-file FILE or set CAPSTREAM_TOKEN")
	}
	b, err := os.ReadFile(t.file)
	if err != nil {
		return "", fmt.Errorf("reading the token: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("the token file %s is empty", t.file)
	}
	return v, nil
}

func (t tokenSource) where() string {
	if t.file != "" {
		return "the token in " + t.file
	}
	return "the token in $CAPSTREAM_TOKEN"
}

// bridge forwards the stdio client's requests upstream, over the stateless
// revision: each request is one HTTP request, cancelled by closing it.
type bridge struct {
	endpoint string
	tok      tokenSource
	log      *zap.Logger

	mu    sync.Mutex
	level mcp.LoggingLevel // the stdio client's, from logging/setLevel
}

// RoundTrip adds the token, read now, to an upstream request.
func (b *bridge) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := b.tok.read()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return http.DefaultTransport.RoundTrip(r)
}

// explain turns an upstream failure into an error the stdio client's user
// can act on.
func (b *bridge) explain(err error) error {
	if rpc, ok := errors.AsType[*jsonrpc.Error](err); ok {
		return rpc
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("capstream at %s: %v", b.endpoint, err)}
}

// forward is the stdio server's receiving middleware: tools and logging
// go upstream, the rest (initialize, ping) is the SDK's.
func (b *bridge) forward(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "tools/list":
			p, _ := req.GetParams().(*mcp.ListToolsParams)
			params := map[string]any{}
			if p != nil && p.Cursor != "" {
				params["cursor"] = p.Cursor
			}
			raw, err := b.post(ctx, nil, method, "", params, nil)
			if err != nil {
				return nil, err
			}
			var res mcp.ListToolsResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return nil, b.explain(err)
			}
			delete(res.Meta, mcp.MetaKeyServerInfo)
			// A result of the stdio client's revision: the exported fields.
			return &mcp.ListToolsResult{Meta: res.Meta, Tools: res.Tools, NextCursor: res.NextCursor}, nil
		case "tools/call":
			p := req.GetParams().(*mcp.CallToolParamsRaw)
			args := p.Arguments
			if len(args) == 0 {
				args = json.RawMessage("{}")
			}
			raw, err := b.post(ctx, req.GetSession().(*mcp.ServerSession), method, p.Name, map[string]any{"arguments": args}, p.Meta)
			if err != nil {
				return nil, err
			}
			var res mcp.CallToolResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return nil, b.explain(err)
			}
			delete(res.Meta, mcp.MetaKeyServerInfo)
			return &mcp.CallToolResult{Meta: res.Meta, Content: res.Content, StructuredContent: res.StructuredContent, IsError: res.IsError}, nil
		case "logging/setLevel":
			p := req.GetParams().(*mcp.SetLoggingLevelParams)
			b.mu.Lock()
			b.level = p.Level
			b.mu.Unlock()
		case "prompts/list", "prompts/get", "resources/list", "resources/read", "resources/templates/list",
			"resources/subscribe", "resources/unsubscribe", "completion/complete":
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not found: capstream serves tools only"}
		}
		return next(ctx, method, req)
	}
}

// post sends one request of the 2026-07-28 revision upstream (name: the
// tool, for tools/call) and relays the messages of its stream in their
// order: its notifications go to the stdio session ss before its result,
// as the server sent them. It returns the result.
func (b *bridge) post(ctx context.Context, ss *mcp.ServerSession, method, name string, params map[string]any, clientMeta mcp.Meta) (json.RawMessage, error) {
	meta := mcp.Meta{}
	for k, v := range clientMeta {
		meta[k] = v
	}
	b.mu.Lock()
	if _, own := meta[mcp.MetaKeyLogLevel]; !own && b.level != "" && ss != nil {
		meta[mcp.MetaKeyLogLevel] = b.level // a session-era client's logging/setLevel
	}
	b.mu.Unlock()
	meta[mcp.MetaKeyProtocolVersion] = mcpRevision
	meta[mcp.MetaKeyClientCapabilities] = map[string]any{}
	meta[mcp.MetaKeyClientInfo] = &mcp.Implementation{Name: "capstream-mcp", Version: buildVersion()}
	params["_meta"] = meta
	if name != "" {
		params["name"] = name
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, b.explain(err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	h.Set("MCP-Protocol-Version", mcpRevision)
	h.Set("Mcp-Method", method)
	if name != "" {
		h.Set("Mcp-Name", name)
	}
	b.log.Debug("forwarding", zap.String("method", method), zap.String("name", name))
	resp, err := (&http.Client{Transport: b}).Do(req)
	if err != nil {
		return nil, b.explain(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
			"capstream at %s refused %s (401): it has expired or is not valid there; put a fresh one in place", b.endpoint, b.tok.where())}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		msg, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		if err != nil {
			return nil, b.explain(err)
		}
		return b.answer(ctx, ss, msg, resp.Status)
	}
	rd := bufio.NewReader(resp.Body)
	var data []byte
	for {
		line, err := rd.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: read the rest of it.
			rest, err2 := rd.ReadBytes('\n')
			line, err = append(slices.Clone(line), rest...), err2
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, b.explain(fmt.Errorf("the stream of the call ended without its result: %w", err))
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0 && data != nil:
			res, err := b.answer(ctx, ss, data, "")
			if res != nil || err != nil {
				return res, err
			}
			data = nil
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		}
	}
}

// mcpRevision is the revision the bridge speaks to the server.
const mcpRevision = "2026-07-28"

// answer handles one message of a request's stream: a notification is
// relayed to the stdio session (if any), and nil, nil returned; a result
// or an error is returned.
func (b *bridge) answer(ctx context.Context, ss *mcp.ServerSession, msg []byte, status string) (json.RawMessage, error) {
	var m struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
		Result json.RawMessage `json:"result"`
		Error  *jsonrpc.Error  `json:"error"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, b.explain(fmt.Errorf("an answer that is not JSON-RPC (%s): %.200s", status, msg))
	}
	switch {
	case m.Error != nil:
		return nil, m.Error
	case m.Result != nil:
		return m.Result, nil
	case ss == nil:
	case m.Method == "notifications/progress":
		var p mcp.ProgressNotificationParams
		if json.Unmarshal(m.Params, &p) == nil {
			ss.NotifyProgress(ctx, &p)
		}
	case m.Method == "notifications/message":
		var p mcp.LoggingMessageParams
		if json.Unmarshal(m.Params, &p) == nil {
			ss.Log(ctx, &p)
		}
	}
	return nil, nil
}
