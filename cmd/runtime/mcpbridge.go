package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

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
	b := &bridge{endpoint: strings.TrimSuffix(*base, "/") + "/mcp", tok: tok, log: log, calls: map[string]struct{}{}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "capstream-mcp", Title: "capstream (stdio bridge)", Version: buildVersion()}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}, Logging: &mcp.LoggingCapabilities{}},
	})
	srv.AddReceivingMiddleware(b.forward)
	log.Info("bridging stdio", zap.String("to", b.endpoint))
	err := srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}})
	b.close()
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

	connecting sync.Mutex // held while connecting upstream
	mu         sync.Mutex
	upstream   *mcp.ClientSession
	level      mcp.LoggingLevel    // the stdio client's, from logging/setLevel
	stdio      *mcp.ServerSession  // the one session on stdin and stdout
	calls      map[string]struct{} // progress tokens (JSON) of the calls running
	refused    bool                // the last request got a 401
}

// RoundTrip adds the token, read now, to an upstream request.
func (b *bridge) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := b.tok.read()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		b.mu.Lock()
		b.refused = resp.StatusCode == http.StatusUnauthorized
		b.mu.Unlock()
	}
	return resp, err
}

// session connects upstream on first use, and again after a failure.
func (b *bridge) session(ctx context.Context) (*mcp.ClientSession, error) {
	b.connecting.Lock() // not b.mu: RoundTrip takes that one while connecting
	defer b.connecting.Unlock()
	b.mu.Lock()
	cs := b.upstream
	b.mu.Unlock()
	if cs != nil {
		return cs, nil
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "capstream-mcp", Version: buildVersion()}, &mcp.ClientOptions{
		ProgressNotificationHandler: b.progress,
		LoggingMessageHandler:       b.logMessage,
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: b.endpoint, HTTPClient: &http.Client{Transport: b}, MaxRetries: -1}, nil)
	if err != nil {
		return nil, b.explain(err)
	}
	b.mu.Lock()
	b.upstream = cs
	b.mu.Unlock()
	return cs, nil
}

// explain turns an upstream failure into an error the stdio client's user
// can act on.
func (b *bridge) explain(err error) error {
	b.mu.Lock()
	refused := b.refused
	b.mu.Unlock()
	var rpc *jsonrpc.Error
	switch {
	case errors.As(err, &rpc):
		return rpc
	case refused:
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
			"capstream at %s refused %s (401): it has expired or is not valid there; put a fresh one in place", b.endpoint, b.tok.where())}
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("capstream at %s: %v", b.endpoint, err)}
}

// drop forgets the upstream session after a transport failure.
func (b *bridge) drop(cs *mcp.ClientSession) {
	b.mu.Lock()
	if b.upstream == cs {
		b.upstream = nil
	}
	b.mu.Unlock()
	cs.Close()
}

func (b *bridge) close() {
	b.mu.Lock()
	cs := b.upstream
	b.upstream = nil
	b.mu.Unlock()
	if cs != nil {
		cs.Close()
	}
}

// forward is the stdio server's receiving middleware: tools and logging
// go upstream, the rest (initialize, ping) is the SDK's.
func (b *bridge) forward(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
			b.mu.Lock()
			b.stdio = ss
			b.mu.Unlock()
		}
		switch method {
		case "tools/list":
			p, _ := req.GetParams().(*mcp.ListToolsParams)
			return b.upstreamDo(ctx, method, func(cs *mcp.ClientSession) (mcp.Result, error) { return cs.ListTools(ctx, p) })
		case "tools/call":
			p := req.GetParams().(*mcp.CallToolParamsRaw)
			return b.call(ctx, p)
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

func (b *bridge) upstreamDo(ctx context.Context, method string, do func(*mcp.ClientSession) (mcp.Result, error)) (mcp.Result, error) {
	cs, err := b.session(ctx)
	if err != nil {
		return nil, err
	}
	b.log.Debug("forwarding", zap.String("method", method))
	res, err := do(cs)
	if err != nil && ctx.Err() == nil {
		var rpc *jsonrpc.Error
		if !errors.As(err, &rpc) {
			b.drop(cs) // a transport failure: connect afresh next time
		}
		return nil, b.explain(err)
	}
	return res, err
}

// call forwards a tools/call. Its progress notifications come back through
// b.progress, which finds the stdio session by the progress token; its log
// messages through b.logMessage, at the level the stdio client set.
func (b *bridge) call(ctx context.Context, p *mcp.CallToolParamsRaw) (mcp.Result, error) {
	meta := mcp.Meta{}
	for k, v := range p.Meta {
		meta[k] = v
	}
	b.mu.Lock()
	if b.level != "" {
		meta[mcp.MetaKeyLogLevel] = b.level
	}
	b.mu.Unlock()
	if tok := p.GetProgressToken(); tok != nil {
		key := tokenKey(tok)
		b.mu.Lock()
		b.calls[key] = struct{}{}
		b.mu.Unlock()
		defer func() {
			b.mu.Lock()
			delete(b.calls, key)
			b.mu.Unlock()
		}()
	}
	args := p.Arguments
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	return b.upstreamDo(ctx, "tools/call", func(cs *mcp.ClientSession) (mcp.Result, error) {
		return cs.CallTool(ctx, &mcp.CallToolParams{Meta: meta, Name: p.Name, Arguments: args})
	})
}

func tokenKey(tok any) string {
	b, _ := json.Marshal(tok)
	return string(b)
}

func (b *bridge) progress(ctx context.Context, r *mcp.ProgressNotificationClientRequest) {
	b.mu.Lock()
	_, running := b.calls[tokenKey(r.Params.ProgressToken)]
	ss := b.stdio
	b.mu.Unlock()
	if running && ss != nil {
		ss.NotifyProgress(ctx, r.Params)
	}
}

func (b *bridge) logMessage(ctx context.Context, r *mcp.LoggingMessageRequest) {
	b.mu.Lock()
	ss := b.stdio
	b.mu.Unlock()
	if ss != nil {
		ss.Log(ctx, r.Params)
	}
}
