package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/capstream/capstream/internal/auth"
)

// MCPConfig configures /mcp (docs/mcp.md). Every zero value is documented.
type MCPConfig struct {
	// PublicURL is the origin clients reach the server at, such as
	// https://tools.example.com: absolute URLs are built from it, and its
	// host and origin are accepted. Empty: URLs are built from the
	// request's Host, once it is accepted.
	PublicURL string
	// Resource is the canonical URI of the MCP endpoint (RFC 8707). Set: a
	// token's aud must contain it for /mcp. Empty: no such check, and the
	// protected resource metadata names PublicURL (or the Host) + "/mcp".
	Resource string
	// AuthorizationServers are the issuers the protected resource metadata
	// (RFC 9728) names. Empty: no metadata is served, and a 401 does not
	// point to it.
	AuthorizationServers []string
	// AllowedHosts are the Host header values /mcp accepts besides loopback
	// names and PublicURL's host: a host name ("tools.example.com") accepts
	// any port, a host:port that port only, and "*" any host. It is the
	// DNS-rebinding check.
	AllowedHosts []string
	// SessionTimeout ends a session-era session idle this long. Zero: 30
	// minutes.
	SessionTimeout time.Duration
	// MaxSessionsPerPrincipal bounds one subject's session-era sessions.
	// Zero: 16.
	MaxSessionsPerPrincipal int
	// Version is the server version initialize reports.
	Version string
}

// mcpLatest is the first revision without sessions; requests that name it
// or a later one in MCP-Protocol-Version are served without a session.
const mcpLatest = "2026-07-28"

// viewerKey holds the request's viewer in its mcpauth.TokenInfo.
const viewerKey = "capstream.viewer"

type mcpTokenKey struct{}

// mcpHandler is /mcp: the Host and Origin check, authentication, the
// stream wrapper, then the session-era or the stateless handler, chosen by
// MCP-Protocol-Version.
func (s *Server) mcpHandler() http.Handler {
	srv := s.mcpServer()
	s.mcpSrv = srv
	get := func(*http.Request) *mcp.Server { return srv }
	logger := zapSlog(s.log.Named("mcp"))
	stateful := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		EventStore: mcp.NewMemoryEventStore(nil), SessionTimeout: s.cfg.MCP.SessionTimeout,
		DisableLocalhostProtection: true, MaxRequestBodyBytes: s.cfg.MaxBodyBytes + 64<<10, Logger: logger,
	})
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		Stateless: true, PropagateRequestCancellation: true,
		DisableLocalhostProtection: true, MaxRequestBodyBytes: s.cfg.MaxBodyBytes + 64<<10, Logger: logger,
	})
	dispatch := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("MCP-Protocol-Version") >= mcpLatest {
			if !s.mcpFast(w, r) {
				stateless.ServeHTTP(w, r)
			}
		} else {
			stateful.ServeHTTP(w, r)
		}
	})
	// The SDK binds a session to TokenInfo.UserID and hands TokenInfo to
	// handlers; mcpAuth has authenticated the request already.
	transfer := mcpauth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*mcpauth.TokenInfo, error) {
		if info, ok := ctx.Value(mcpTokenKey{}).(*mcpauth.TokenInfo); ok {
			return info, nil
		}
		return nil, mcpauth.ErrInvalidToken
	}, &mcpauth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	return s.mcpGuard(s.mcpAuth(s.mcpStream(transfer(dispatch))))
}

// mcpGuard refuses a Host that is not this server's (DNS rebinding) and an
// Origin that is neither this server's nor allowed by CORSOrigins, with 403
// and a JSON-RPC error.
func (s *Server) mcpGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.mcpHostAllowed(r.Host) {
			s.log.Info("mcp: Host refused", zap.String("host", r.Host))
			writeRPCError(w, http.StatusForbidden, "the Host "+r.Host+" is not this server's: give the server --public-url or --mcp-allowed-host")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !s.mcpOriginAllowed(o, r.Host) {
			s.log.Info("mcp: Origin refused", zap.String("origin", o))
			writeRPCError(w, http.StatusForbidden, "the Origin "+o+" may not call this server: add it with --cors-origin")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) mcpHostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	if u, err := url.Parse(s.cfg.MCP.PublicURL); err == nil && u.Host != "" && strings.EqualFold(u.Host, hostport) {
		return true
	}
	for _, a := range s.cfg.MCP.AllowedHosts {
		if a == "*" || strings.EqualFold(a, hostport) || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

func (s *Server) mcpOriginAllowed(origin, hostport string) bool {
	if slices.Contains(s.cfg.CORSOrigins, origin) {
		return true
	}
	if p := strings.TrimSuffix(s.cfg.MCP.PublicURL, "/"); p != "" && strings.EqualFold(p, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, hostport)
}

// writeRPCError answers with a JSON-RPC error without an id, as MCP clients
// read the body of a refusal.
func writeRPCError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": mcpCodeRefused, "message": message}})
}

// mcpAuth authenticates an MCP request by its Authorization header alone,
// as the API does, and checks the token's audience when MCPConfig.Resource
// is set. The roles come from the policy in force, on every request.
func (s *Server) mcpAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := auth.FromRequest(r, false, "")
		v, ok := s.mcpIdentify(r, token)
		if !ok {
			s.metrics.unauthenticated.Inc()
			challenge := "Bearer"
			if token != "" {
				challenge += ` error="invalid_token"`
			}
			if u := s.mcpMetadataURL(r); u != "" {
				if token != "" {
					challenge += ","
				}
				challenge += ` resource_metadata="` + u + `"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeError(w, errUnauthenticated)
			return
		}
		// The SDK refuses a session to another subject too; this check
		// also leaves a record of the attempt.
		if id := r.Header.Get("Mcp-Session-Id"); id != "" {
			owner, done, ok := s.mcpSessionUse(id)
			defer done()
			if ok && owner != v.Subject {
				s.audit.Info("mcp session refused", zap.String("subject", v.Subject), zap.String("reason", "session_of_another_subject"),
					zap.String("method", r.Method))
				writeRPCError(w, http.StatusForbidden, "this session belongs to another subject: open one of your own with initialize")
				return
			}
		}
		// No Expiration: the authenticator has judged it, with its leeway
		// for clock skew, which the SDK's own check would not allow.
		info := &mcpauth.TokenInfo{UserID: v.Subject, Extra: map[string]any{viewerKey: v}}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), mcpTokenKey{}, info)))
	})
}

func (s *Server) mcpIdentify(r *http.Request, token string) (viewer, bool) {
	if token == "" {
		return viewer{}, false
	}
	id, err := s.cfg.Auth.Authenticate(token)
	if err == nil && s.cfg.MCP.Resource != "" {
		if aud, _ := id.Claims.GetAudience(); !slices.Contains(aud, s.cfg.MCP.Resource) {
			err = errWrongResource
		}
	}
	if err != nil {
		// The reason is for operators only; the client learns nothing of it.
		s.log.Info("token refused", zap.String("path", r.URL.Path), zap.String("source", "header"), zap.Error(err))
		return viewer{}, false
	}
	return s.viewerOf(id, "header"), true
}

var errWrongResource = errors.New("the token's aud does not contain the MCP resource (--mcp-resource)")

// mcpBase is the origin absolute URLs are built on.
func (s *Server) mcpBase(r *http.Request) string {
	if p := strings.TrimSuffix(s.cfg.MCP.PublicURL, "/"); p != "" {
		return p
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// mcpMetadataURL is the absolute URL of the protected resource metadata,
// or "" when none is served.
func (s *Server) mcpMetadataURL(r *http.Request) string {
	if len(s.cfg.MCP.AuthorizationServers) == 0 || !s.mcpHostAllowed(r.Host) {
		return ""
	}
	return s.mcpBase(r) + "/.well-known/oauth-protected-resource/mcp"
}

// protectedResource serves the RFC 9728 metadata of /mcp.
func (s *Server) protectedResource(w http.ResponseWriter, r *http.Request) {
	if len(s.cfg.MCP.AuthorizationServers) == 0 {
		writeError(w, errNotFound)
		return
	}
	if !s.mcpHostAllowed(r.Host) {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: "host_not_allowed", Message: "the Host " + r.Host + " is not this server's"})
		return
	}
	resource := s.cfg.MCP.Resource
	if resource == "" {
		resource = s.mcpBase(r) + "/mcp"
	}
	mcpauth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: resource, AuthorizationServers: s.cfg.MCP.AuthorizationServers,
		BearerMethodsSupported: []string{"header"}, ResourceName: "capstream",
		ResourceDocumentation: "https://github.com/capstream/capstream/blob/main/docs/mcp.md",
	}).ServeHTTP(w, r)
}

// mcpStream wraps the response of an MCP request for proxies and slow
// clients, as the API's own streams are: X-Accel-Buffering: no, a ": ping"
// comment when an event stream is idle for the heartbeat, and a deadline on
// each write. The request's context also ends when the server shuts down,
// so that a session's GET stream does not hold the drain.
func (s *Server) mcpStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accel-Buffering", "no")
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.base, cancel)
		defer stop()
		mw := &mcpWriter{w: w, rc: http.NewResponseController(w), header: http.Header{},
			heartbeat: s.cfg.Stream.Heartbeat, timeout: s.cfg.Stream.WriteTimeout}
		defer mw.finish()
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost && r.Body != nil {
			r.Body = &armingBody{ReadCloser: r.Body, w: mw}
		}
		next.ServeHTTP(mw, r)
	})
}

// mcpWriter is the ResponseWriter mcpStream hands the SDK.
//
// The SDK answers a POST that holds a request with an event stream, but
// writes nothing until the first message: a tool that is quiet at first
// would leave the connection silent, and a proxy would cut it. So once the
// request's body is read, the heartbeat may open the stream itself (200,
// text/event-stream) and write its comment. The SDK's headers live in a
// map of their own until the SDK commits them, so that the heartbeat never
// reads what the SDK writes; a message the SDK then means as a plain JSON
// answer (an error status) is sent as an SSE message instead. The SDK
// writes each SSE event in one Write, so a comment never splits one.
type mcpWriter struct {
	w                  http.ResponseWriter
	rc                 *http.ResponseController
	header             http.Header // the SDK's, until committed
	heartbeat, timeout time.Duration

	mu        sync.Mutex
	committed bool // the status line is written
	opened    bool // by the heartbeat, not the SDK
	reframe   bool // the SDK's body is JSON for a stream the heartbeat opened
	done      bool // the handler returned: nothing may write
	ping      *time.Timer
}

func (w *mcpWriter) Header() http.Header         { return w.header }
func (w *mcpWriter) Unwrap() http.ResponseWriter { return w.w }

// armingBody arms the heartbeat once the request's body is read.
type armingBody struct {
	io.ReadCloser
	w *mcpWriter
}

func (b *armingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.w.arm()
	}
	return n, err
}

func (w *mcpWriter) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ping == nil && !w.done && (!w.committed || w.sse()) {
		w.ping = time.AfterFunc(w.heartbeat, w.keepAlive)
	}
}

func (w *mcpWriter) sse() bool {
	return strings.HasPrefix(w.w.Header().Get("Content-Type"), "text/event-stream")
}

func (w *mcpWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.commit(code)
}

// commit writes the SDK's status and headers, or, on a stream the
// heartbeat opened, notes whether its body needs reframing.
func (w *mcpWriter) commit(code int) {
	if w.committed {
		if w.opened && code != http.StatusOK {
			w.reframe = true
		}
		return
	}
	w.committed = true
	h := w.w.Header()
	for k, v := range w.header {
		h[k] = v
	}
	if w.sse() {
		if w.ping == nil && !w.done {
			w.ping = time.AfterFunc(w.heartbeat, w.keepAlive)
		}
	} else if w.ping != nil {
		w.ping.Stop() // not a stream: no heartbeat, and no deadlines
		w.ping = nil
	}
	w.w.WriteHeader(code)
}

func (w *mcpWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.commit(http.StatusOK)
	if w.reframe {
		w.write([]byte("event: message\ndata: " + strings.TrimSpace(string(p)) + "\n\n"))
		return len(p), w.flush()
	}
	return w.write(p)
}

func (w *mcpWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.commit(http.StatusOK)
	w.flush()
}

func (w *mcpWriter) write(p []byte) (int, error) {
	if w.ping == nil {
		return w.w.Write(p)
	}
	w.ping.Reset(w.heartbeat)
	w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	defer w.rc.SetWriteDeadline(time.Time{})
	return w.w.Write(p)
}

func (w *mcpWriter) flush() error {
	if w.ping != nil {
		w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
		defer w.rc.SetWriteDeadline(time.Time{})
	}
	return w.rc.Flush()
}

// keepAlive writes the heartbeat comment, opening the stream if the SDK
// has not, until the handler returns.
func (w *mcpWriter) keepAlive() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.ping == nil { // ended, or not a stream after all
		return
	}
	if !w.committed {
		h := w.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache, no-transform")
		w.committed, w.opened = true, true
		w.w.WriteHeader(http.StatusOK)
	}
	if _, err := w.write([]byte(": ping\n\n")); err != nil || w.flush() != nil {
		return // the connection is gone; the SDK finds out on its next write
	}
	w.ping.Reset(w.heartbeat)
}

// finish stops the heartbeat: nothing may write after the handler returns.
func (w *mcpWriter) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.ping != nil {
		w.ping.Stop()
	}
}

// zapSlog is a slog.Logger that writes to l, for the MCP SDK.
func zapSlog(l *zap.Logger) *slog.Logger { return slog.New(zapHandler{log: l}) }

type zapHandler struct {
	log    *zap.Logger
	fields []zap.Field
}

// zapLevel maps the SDK's levels to the server's. The SDK logs every
// session's start and end at Info, a line per stateless request: for the
// server's log that is debugging.
func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	}
	return zapcore.DebugLevel
}

func (h zapHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.Core().Enabled(zapLevel(l))
}

func (h zapHandler) Handle(_ context.Context, r slog.Record) error {
	if ce := h.log.Check(zapLevel(r.Level), r.Message); ce != nil {
		fields := slices.Clip(h.fields)
		r.Attrs(func(a slog.Attr) bool {
			fields = append(fields, zap.Any(a.Key, a.Value.Any()))
			return true
		})
		ce.Write(fields...)
	}
	return nil
}

func (h zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := slices.Clip(h.fields)
	for _, a := range attrs {
		fields = append(fields, zap.Any(a.Key, a.Value.Any()))
	}
	return zapHandler{log: h.log, fields: fields}
}

func (h zapHandler) WithGroup(name string) slog.Handler {
	return zapHandler{log: h.log.Named(name), fields: h.fields}
}
