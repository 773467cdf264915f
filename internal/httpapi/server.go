// Package httpapi is capstream's HTTP API (docs/design.md §4): it authenticates each
// request once, derives the call's capability from the policy, runs the call
// on the engine and serves its events as Server-Sent Events.
//
// Identity is settled before the first byte of a response. A call runs under
// the capability it was granted at start, on its own goroutine, with that
// capability handed to it explicitly; nothing the HTTP layer does afterwards
// (a viewer's token expiring, a stream closing) re-authenticates the call.
package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/stream"
)

// Authenticator checks bearer tokens.
type Authenticator interface {
	Authenticate(token string) (auth.Identity, error)
	Ready() error
}

// Policies gives the policy in force; it may change at any time (SIGHUP).
// The server reads it once per request, when it authenticates it, and takes
// the request's roles and grants from that one snapshot.
type Policies interface {
	Current() *policy.Policy
}

// Cluster is what a server shares with the other replicas of a cluster:
// the per-principal caps, cancel requests, liveness and the capability
// keys. It has two implementations, which pass one suite
// (internal/httpapi/clustersuite): SingleNode, the default, and
// internal/cluster's Node, over NATS JetStream.
//
// The server counts its own calls per principal too, first and under the
// same lock as its global cap, so that a refusal costs no round trip and
// a call refused by one cap never holds a place under the other; Admit is
// the count of every replica. It gives a place back to the Cluster before
// its own count, so on one node SingleNode's count never exceeds the
// server's and never refuses what the server admitted.
type Cluster interface {
	// Admit counts call id of subject, running tool here, against the
	// cluster-wide cap of max calls per subject; false and the count if
	// the subject has max running.
	Admit(ctx context.Context, subject, id, tool string, max int) (admitted bool, running int, err error)
	// Release gives back the place of an admitted call.
	Release(subject, id string)
	// Cancel asks the replica running call id of subject to cancel it.
	Cancel(ctx context.Context, id, subject, reason string) error
	// Keys returns every replica's capability verification key as a JWK.
	Keys(ctx context.Context) ([]json.RawMessage, error)
	// Ready reports whether this replica may admit calls.
	Ready() error
	// PublishKey records this replica's capability verification key (a
	// JWK) for the others' Keys.
	PublishKey(ctx context.Context, kid string, jwk json.RawMessage) error
}

// Config configures a Server. Engine, Auth, Policies and SigningKey are
// required; every other zero value is documented.
type Config struct {
	Engine     *host.Engine
	Auth       Authenticator
	Policies   Policies
	SigningKey ed25519.PrivateKey // signs capabilities
	Logger     *zap.Logger        // nil: no logs
	// Metrics receives the API's metrics. Nil: metrics are kept but not
	// exported (see NewMetrics).
	Metrics *Metrics
	// MetricsOnAPI serves GET /metrics on Handler, without a token. False:
	// the caller serves Metrics.Handler where it chooses (capstream serve:
	// on --metrics-addr), since the metrics name every tool, whoever may
	// list them.
	MetricsOnAPI bool
	// CookieName is the cookie GET endpoints accept a token from. Empty:
	// "capstream_token".
	CookieName string
	// CORSOrigins may call the API from a browser, with credentials.
	// Empty: no cross-origin access.
	CORSOrigins []string
	// MaxBodyBytes bounds a call's input. Zero: 1 MiB.
	MaxBodyBytes int64
	// MaxCalls bounds the calls running at once. Zero: 256.
	MaxCalls int
	// MaxCallsPerPrincipal bounds one subject's calls running at once.
	// Zero: 16.
	MaxCallsPerPrincipal int
	// MaxStreamsPerPrincipal bounds one subject's open event streams: the
	// subscriptions of GET /v1/calls/{id}/events and the POSTs that stream
	// their call. Zero: 64.
	MaxStreamsPerPrincipal int
	// Retention keeps finished calls replayable. Zero: 10 minutes.
	Retention time.Duration
	// RetainBytes and RetainCalls bound the finished calls kept for replay,
	// in all; RetainBytesPerPrincipal and RetainCallsPerPrincipal, one
	// subject's. Over a budget, finished calls are evicted before their
	// retention ends (see stream.Registry). Zero: 256 MiB, 10,000, 32 MiB
	// and 1,000. Negative values are invalid.
	RetainBytes             int64
	RetainCalls             int
	RetainBytesPerPrincipal int64
	RetainCallsPerPrincipal int
	// Stream configures SSE responses (heartbeat, write timeout, retry).
	Stream stream.WriterConfig
	// Index serves GET / (the demo page in dev mode). Nil: 404.
	Index http.Handler
	// MCP configures /mcp, the tools over the Model Context Protocol.
	MCP MCPConfig
	// Cluster is what the server shares with the other replicas of a
	// cluster. Nil: a SingleNode.
	Cluster Cluster
	// TicketKey signs stream tickets; replicas behind one load balancer
	// share it. Nil: a random key of this process.
	TicketKey []byte
	// CallStore returns the store of call logs, built around local, the
	// registry of the logs of this server's calls (which keeps them for
	// Retention within the budgets above). Nil: stream.MemoryStore over
	// local, the single-node default.
	CallStore func(local *stream.Registry) (stream.Store, error)
}

// Server is the HTTP API. Create it with New, serve Handler, and call
// Shutdown before the http.Server's own Shutdown.
type Server struct {
	cfg      Config
	log      *zap.Logger
	audit    *zap.Logger
	metrics  *Metrics
	registry *stream.Registry
	store    stream.Store
	cluster  Cluster
	tickets  *auth.Tickets
	handler  http.Handler

	base   context.Context // parent of every call; cancelled last at shutdown
	cancel context.CancelFunc

	mu           sync.Mutex
	running      map[string]runningCall // by call id, until its terminal event
	perSubject   map[string]int         // calls in running, by subject
	streams      map[string]int         // open streams, by subject
	shutting     bool
	fenced       bool           // the cluster presumes this replica may be dead: admit nothing
	wg           sync.WaitGroup // call goroutines, to their end
	sweeperDone  chan struct{}
	mcpSess      mcpSessions
	mcpSrv       *mcp.Server
	mcpNoFast    bool         // tests: every request through the SDK
	mcpFastCalls atomic.Int64 // tools/calls mcpFast answered

	// appended, if set, is called with each event a call's sink appends
	// to its log, on the call's goroutine, right after it is appended: a
	// seam for tests that act at the moment an event becomes visible.
	appended func(stream.Event)
}

// New validates cfg and returns a Server. Its registry sweeper runs until
// Shutdown.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Engine == nil:
		return nil, errors.New("httpapi: Config.Engine is required")
	case cfg.Auth == nil:
		return nil, errors.New("httpapi: Config.Auth is required")
	case cfg.Policies == nil:
		return nil, errors.New("httpapi: Config.Policies is required")
	case len(cfg.SigningKey) != ed25519.PrivateKeySize:
		return nil, errors.New("httpapi: Config.SigningKey must be an Ed25519 private key")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "capstream_token"
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxCalls == 0 {
		cfg.MaxCalls = 256
	}
	if cfg.MaxCallsPerPrincipal == 0 {
		cfg.MaxCallsPerPrincipal = 16
	}
	if cfg.MaxStreamsPerPrincipal == 0 {
		cfg.MaxStreamsPerPrincipal = 64
	}
	if cfg.MCP.SessionTimeout == 0 {
		cfg.MCP.SessionTimeout = 30 * time.Minute
	}
	if cfg.MCP.MaxSessionsPerPrincipal == 0 {
		cfg.MCP.MaxSessionsPerPrincipal = 16
	}
	if cfg.Stream.Heartbeat == 0 {
		cfg.Stream.Heartbeat = stream.DefaultHeartbeat
	}
	if cfg.Stream.WriteTimeout == 0 {
		cfg.Stream.WriteTimeout = stream.DefaultWriteTimeout
	}
	if cfg.MaxCalls < 0 || cfg.MaxCallsPerPrincipal < 0 || cfg.MaxStreamsPerPrincipal < 0 {
		return nil, errors.New("httpapi: Config.MaxCalls, MaxCallsPerPrincipal and MaxStreamsPerPrincipal must not be negative")
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	// Sweep often enough that a call is gone soon after its retention.
	sweep := min(cfg.Retention/2, stream.DefaultSweepInterval)
	reg, err := stream.NewRegistry(stream.RegistryConfig{
		Retention: cfg.Retention, SweepInterval: sweep,
		RetainBytes: cfg.RetainBytes, RetainCalls: cfg.RetainCalls,
		RetainBytesPerOwner: cfg.RetainBytesPerPrincipal, RetainCallsPerOwner: cfg.RetainCallsPerPrincipal,
	})
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s := &Server{
		cfg:         cfg,
		log:         log.Named("http"),
		audit:       log.Named("audit"),
		metrics:     cfg.Metrics,
		registry:    reg,
		tickets:     auth.NewTickets(cfg.TicketKey, 0),
		running:     map[string]runningCall{},
		perSubject:  map[string]int{},
		streams:     map[string]int{},
		sweeperDone: make(chan struct{}),
		mcpSess:     mcpSessions{byID: map[string]*mcpSession{}, counts: map[string]int{}},
	}
	s.store = stream.MemoryStore{Registry: reg}
	if cfg.CallStore != nil {
		if s.store, err = cfg.CallStore(reg); err != nil {
			return nil, fmt.Errorf("httpapi: %w", err)
		}
	}
	s.cluster = cfg.Cluster
	if s.cluster == nil {
		s.cluster = NewSingleNode(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	kid, jwk := PublicJWK(cfg.SigningKey)
	err = s.cluster.PublishKey(ctx, kid, jwk)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s.metrics.watch(reg)
	s.base, s.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(s.sweeperDone)
		reg.Run(s.base)
	}()
	s.handler = s.routes()
	return s, nil
}

// Handler returns the API's handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	r := httprouter.New()
	r.HandleMethodNotAllowed = true
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNotFound) })
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeError(w, errMethodNotAllowed) })
	r.HandleOPTIONS = true
	r.GlobalOPTIONS = http.HandlerFunc(s.preflight)
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		s.log.Error("handler panic", zap.String("path", r.URL.Path), zap.Any("panic", v), zap.Stack("stack"))
		writeError(w, errInternal("internal error"))
	}

	r.GET("/v1/tools", s.authed(false, s.listTools))
	r.POST("/v1/tools/:name/calls", s.authed(true, s.createCall))
	r.GET("/v1/calls/:id", s.authed(false, s.getCall))
	r.GET("/v1/calls/:id/events", s.authed(false, s.callEvents))
	r.DELETE("/v1/calls/:id", s.authed(true, s.deleteCall))
	r.POST("/v1/tickets", s.authed(true, s.createTicket))
	r.GET("/v1/keys", s.keys)
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	mcpH := s.mcpHandler()
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		r.Handler(m, "/mcp", mcpH)
	}
	r.HandlerFunc(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", s.protectedResource)
	r.HandlerFunc(http.MethodGet, "/.well-known/oauth-protected-resource", s.protectedResource)
	if s.cfg.MetricsOnAPI {
		r.Handler(http.MethodGet, "/metrics", s.metrics.Handler())
	}
	if s.cfg.Index != nil {
		r.Handler(http.MethodGet, "/", s.cfg.Index)
		r.Handler(http.MethodGet, "/static/*file", s.cfg.Index)
	}
	return s.cors(r)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is ready when tools are loaded, the authenticator has keys, and
// the server is not shutting down.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	s.mu.Lock()
	shutting := s.shutting
	s.mu.Unlock()
	switch {
	case shutting:
		writeError(w, errShuttingDown)
	case len(s.cfg.Engine.Tools()) == 0:
		writeError(w, errNotReady("no tools are loaded"))
	case s.cfg.Auth.Ready() != nil:
		s.log.Warn("not ready", zap.Error(s.cfg.Auth.Ready()))
		writeError(w, errNotReady("token verification keys are not available"))
	case s.cluster.Ready() != nil:
		writeError(w, errNotReady(s.cluster.Ready().Error()))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "tools": len(s.cfg.Engine.Tools())})
	}
}

// Shutdown stops admitting calls (503 shutting_down), waits for running
// calls until ctx is done, then cancels the rest with reason "shutdown" and
// waits for their terminal events, so every open stream gets one. Call it
// before http.Server.Shutdown, which then waits for the streams to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting = true
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		n := len(s.running)
		for _, r := range s.running {
			r.cancel(host.CancelShutdown)
		}
		s.mu.Unlock()
		s.log.Info("drain timeout: cancelling calls", zap.Int("calls", n))
		<-done
		err = fmt.Errorf("cancelled %d calls at shutdown", n)
	}
	s.closeMCPSessions()
	s.cancel()
	<-s.sweeperDone
	return err
}

// CancelLocal cancels call id with reason (a host.CancelReason) if this
// server runs it for subject, and reports whether it did: how another
// replica's DELETE reaches the call.
func (s *Server) CancelLocal(id, subject, reason string) bool {
	s.mu.Lock()
	r, ok := s.running[id]
	s.mu.Unlock()
	if !ok || r.subject != subject {
		return false
	}
	r.cancel(host.CancelReason(reason))
	return true
}

// Fence cancels every running call with reason lease_lost and refuses new
// ones (503) until Unfence: the cluster may presume this replica dead, and
// its peers then end its calls themselves.
func (s *Server) Fence() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fenced = true
	for _, r := range s.running {
		r.cancel(host.CancelLeaseLost)
	}
}

// Unfence admits calls again.
func (s *Server) Unfence() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fenced = false
}
