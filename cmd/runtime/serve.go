package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/capstream/capstream/examples/chat"
	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/internal/egress"
	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/stream"
)

// serveFlags are the flags of capstream serve (docs/design.md §3).
type serveFlags struct {
	addr, plugins, policy, dataDir, cacheDir         string
	corsOrigins                                      stringList
	secretFile, publicKey, jwksURL, issuer, audience string
	cookieName                                       string
	dev                                              bool
	drainTimeout, heartbeat                          time.Duration
	maxCalls, maxCallsPerPrincipal                   int
	maxStreamsPerPrincipal                           countFlag
	retainBytes, retainBytesPerPrincipal             sizeFlag
	retainCalls, retainCallsPerPrincipal             countFlag
	cpuProfile                                       string
	metricsAddr                                      string
	devListenAnywhere, audienceAny                   bool
	shutdownGrace                                    time.Duration
	publicURL, mcpResource                           string
	mcpAuthServers, mcpAllowedHosts                  stringList
	mcpSessionTimeout                                time.Duration
	mcpMaxSessions                                   int
	cluster                                          clusterFlags
	fromEnv                                          map[string]string // flag name -> the CAPSTREAM_* variable that set it
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlagSet("serve", "serve [flags]", stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&f.plugins, "plugins", "plugins/wasm", "directory of .wasm tools")
	fs.StringVar(&f.policy, "policy", "", "policy file (YAML); with --dev and none given, a dev policy in the data directory")
	fs.StringVar(&f.dataDir, "data-dir", ".capstream", "directory for the KV store, keys and (by default) the compilation cache")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "compiled and pre-initialized tools, reused across restarts (default DATA_DIR/cache)")
	fs.Var(&f.corsOrigins, "cors-origin", "an origin allowed to call the API from a browser, with credentials (repeatable)")
	fs.StringVar(&f.secretFile, "jwt-secret-file", "", "HS256 secret for verifying tokens")
	fs.StringVar(&f.publicKey, "jwt-public-key", "", "PEM public key (RSA, EC or Ed25519) for verifying tokens")
	fs.StringVar(&f.jwksURL, "jwks-url", "", "JWKS URL for verifying tokens")
	fs.StringVar(&f.issuer, "jwt-issuer", "", "required iss of tokens")
	fs.StringVar(&f.audience, "jwt-audience", "", "required aud of tokens: needed with --jwt-public-key and --jwks-url, whose keys an identity provider also uses for its other applications; optional with --jwt-secret-file, a secret this service alone shares")
	fs.BoolVar(&f.audienceAny, "jwt-accept-any-audience", false, "with --jwt-public-key or --jwks-url and no --jwt-audience, accept tokens whatever their aud, including those the provider issued for other applications")
	fs.StringVar(&f.cookieName, "cookie-name", auth.DefaultCookieName, "cookie GET endpoints take a token from")
	fs.BoolVar(&f.dev, "dev", false, "development mode: generate a secret, print tokens for sample users, serve the demo page; loopback only, and never with a key given")
	fs.BoolVar(&f.devListenAnywhere, "dev-unsafe-listen-anywhere", false, "let --dev listen beyond loopback: every host that reaches --addr can take the sample users' tokens from the demo page")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "address of a listener that serves /metrics alone, without a token (empty: no metrics, except with --dev, which serves them on --addr)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long running calls may finish before they are cancelled")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", defaultShutdownGrace, "after --drain-timeout, how long cancelled calls and open streams may take to end; then the server exits without them (status 1 if calls were abandoned)")
	fs.DurationVar(&f.heartbeat, "heartbeat", stream.DefaultHeartbeat, "interval of SSE keep-alive comments")
	fs.IntVar(&f.maxCalls, "max-calls", 256, "calls running at once, in all")
	fs.IntVar(&f.maxCallsPerPrincipal, "max-calls-per-principal", 16, "calls running at once, per subject")
	f.maxStreamsPerPrincipal, f.retainCalls, f.retainCallsPerPrincipal = 64, stream.DefaultRetainCalls, stream.DefaultRetainCallsPerOwner
	f.retainBytes, f.retainBytesPerPrincipal = stream.DefaultRetainBytes, stream.DefaultRetainBytesPerOwner
	fs.Var(&f.maxStreamsPerPrincipal, "max-streams-per-principal", "`number` of event streams a subject may hold open: subscriptions and POSTs that stream")
	fs.Var(&f.retainBytes, "retain-bytes", "total `size` of the finished calls kept for replay; over it, the subject holding the most loses its oldest")
	fs.Var(&f.retainCalls, "retain-calls", "`number` of finished calls kept for replay; over it, the subject holding the most loses its oldest")
	fs.Var(&f.retainBytesPerPrincipal, "retain-bytes-per-principal", "total `size` of one subject's finished calls kept for replay; over it, its oldest are dropped")
	fs.Var(&f.retainCallsPerPrincipal, "retain-calls-per-principal", "`number` of one subject's finished calls kept for replay; over it, its oldest are dropped")
	fs.StringVar(&f.publicURL, "public-url", "", "the origin clients reach this server at, such as https://tools.example.com: /mcp accepts its Host and Origin, and builds the URLs of its auth metadata on it")
	fs.StringVar(&f.mcpResource, "mcp-resource", "", "canonical URI of /mcp (RFC 8707), such as https://tools.example.com/mcp: a token must name it in aud to use /mcp")
	fs.Var(&f.mcpAuthServers, "mcp-authorization-server", "an OAuth authorization server /mcp's protected resource metadata names (repeatable; default --jwt-issuer, when it is a URL)")
	fs.Var(&f.mcpAllowedHosts, "mcp-allowed-host", "a Host /mcp accepts besides loopback and --public-url's: a name (any port), name:port, or * for any (repeatable)")
	fs.DurationVar(&f.mcpSessionTimeout, "mcp-session-timeout", 30*time.Minute, "an MCP session idle this long is closed")
	fs.IntVar(&f.mcpMaxSessions, "mcp-max-sessions-per-principal", 16, "MCP sessions a subject may hold open")
	f.cluster.register(fs)
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the server, from listening to stopping, to this file (go tool pprof reads it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fromEnv, err := mirrorEnv(fs)
	if err != nil {
		return err
	}
	f.fromEnv = fromEnv
	if fs.NArg() != 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	if err := checkServeFlags(f); err != nil {
		return err
	}
	log, err := newLogger(f.dev, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	if f.dev {
		printDevWarning(stderr, f)
	}
	return serve(ctx, f, log, stdout)
}

func newLogger(dev bool, stderr io.Writer) (*zap.Logger, error) {
	if dev {
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		core := zapcore.NewCore(zapcore.NewConsoleEncoder(cfg), zapcore.AddSync(stderr), zap.InfoLevel)
		return zap.New(core), nil
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(stderr), zap.InfoLevel)
	return zap.New(core), nil
}

func serve(ctx context.Context, f serveFlags, log *zap.Logger, stdout io.Writer) error {
	if f.dev {
		log.Warn("dev mode is on: sample users' tokens are printed and served on the demo page; never run it where others can reach it",
			zap.String("from", devSource(f)), zap.String("addr", f.addr), zap.Bool("listenAnywhere", f.devListenAnywhere))
	}
	// abandoned is set when shutdown gives up on calls that did not end:
	// they may still use the engine, the KV store and egress, so those are
	// left for the process's exit to release.
	abandoned := false
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	authCfg, devSecret, err := authConfig(f)
	if err != nil {
		return err
	}
	authn, err := auth.New(ctx, authCfg)
	if err != nil {
		return err
	}
	defer authn.Close()

	policyFile := f.policy
	if policyFile == "" {
		if !f.dev {
			return errors.New("no policy: give --policy FILE (or --dev for a development policy)")
		}
		if policyFile, err = writeDevPolicy(f.dataDir); err != nil {
			return err
		}
	}
	policies, err := policy.NewStore(policyFile)
	if err != nil {
		return err
	}
	signingKey, err := loadOrCreateSigningKey(filepath.Join(f.dataDir, "capability-key.pem"))
	if err != nil {
		return err
	}

	metricsReg := prometheus.NewRegistry()
	// The KV store: a bbolt file, or in a cluster the replicas' shared
	// bucket.
	var store host.KV
	var backend *cluster.Backend
	var ticketKey []byte
	if f.cluster.enabled() {
		if backend, ticketKey, err = openCluster(ctx, f.cluster, f.dataDir, log, metricsReg); err != nil {
			return err
		}
		defer func() {
			if !abandoned {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if err := backend.Close(cctx); err != nil {
					log.Warn("giving the cluster lease back", zap.Error(err))
				}
			}
		}()
		store = backend.KV
	} else {
		bolt, err := kv.Open(filepath.Join(f.dataDir, "kv.db"), kv.Options{})
		if err != nil {
			return err
		}
		defer func() {
			if !abandoned {
				bolt.Close()
			}
		}()
		store = bolt
	}
	eg, err := egress.New(egress.Config{Secrets: secretsFromEnv()})
	if err != nil {
		return err
	}
	defer func() {
		if !abandoned {
			eg.Close()
		}
	}()
	cacheDir := f.cacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(f.dataDir, "cache")
	}
	engine, err := host.New(ctx, host.Config{CacheDir: cacheDir, KV: store, Egress: eg, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if !abandoned {
			engine.Close(context.WithoutCancel(ctx))
		}
	}()
	tools, loadErrs, err := engine.LoadDir(ctx, f.plugins)
	if err != nil {
		return err
	}
	for _, e := range loadErrs {
		log.Error("tool not loaded", zap.Error(e))
	}

	var index http.Handler
	var users []chat.User // dev mode: the sample users, with tokens
	if f.dev {
		if users, err = devUsers(devSecret, policies.Current().RolesClaim, f.issuer, f.audience); err != nil {
			return err
		}
		index = chat.Handler(chat.Config{Users: users})
	}
	metrics := httpapi.NewMetrics(metricsReg)
	metricsReg.MustRegister(devModeGauge(f.dev))
	apiCfg := httpapi.Config{
		Engine: engine, Auth: authn, Policies: policies, SigningKey: signingKey, Logger: log,
		Metrics: metrics, MetricsOnAPI: f.dev && f.metricsAddr == "" && !f.devListenAnywhere,
		CookieName: f.cookieName, CORSOrigins: f.corsOrigins,
		MaxCalls: f.maxCalls, MaxCallsPerPrincipal: f.maxCallsPerPrincipal,
		MaxStreamsPerPrincipal: int(f.maxStreamsPerPrincipal),
		RetainBytes:            int64(f.retainBytes), RetainCalls: int(f.retainCalls),
		RetainBytesPerPrincipal: int64(f.retainBytesPerPrincipal), RetainCallsPerPrincipal: int(f.retainCallsPerPrincipal),
		Stream: stream.WriterConfig{Heartbeat: f.heartbeat},
		Index:  index,
		MCP: httpapi.MCPConfig{
			PublicURL: strings.TrimSuffix(f.publicURL, "/"), Resource: f.mcpResource,
			AuthorizationServers: mcpAuthServers(f), AllowedHosts: f.mcpAllowedHosts,
			SessionTimeout: f.mcpSessionTimeout, MaxSessionsPerPrincipal: f.mcpMaxSessions, Version: buildVersion(),
		},
		TicketKey: ticketKey,
	}
	if backend != nil {
		apiCfg.Cluster, apiCfg.CallStore = backend.Node, backend.CallStore
	}
	api, err := httpapi.New(apiCfg)
	if err != nil {
		return err
	}
	if backend != nil {
		backend.Node.Attach(api)
	}

	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile(log)
	var metricsServed <-chan error // nil, never ready, without --metrics-addr
	if f.metricsAddr != "" {
		msrv, served, err := serveMetrics(f.metricsAddr, metrics, log)
		if err != nil {
			return err
		}
		defer msrv.Close()
		metricsServed = served
	} else if !f.dev {
		log.Info("metrics are not served: give --metrics-addr to serve them on a listener of their own")
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	if f.dev && !f.devListenAnywhere && !loopbackAddr(ln.Addr()) {
		ln.Close()
		return fmt.Errorf("dev mode listens on loopback only, and --addr %q is %s; use --addr 127.0.0.1:PORT", f.addr, ln.Addr())
	}
	handler := api.Handler()
	if f.dev {
		handler = withDevHeader(handler)
	}
	srv := httpapi.NewHTTPServer(handler, zap.NewStdLog(log.Named("net/http")))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	log.Info("serving", zap.String("url", base), zap.Int("tools", len(tools)), zap.String("policy", policyFile))
	if f.dev {
		printDevBanner(stdout, base, users)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if err := policies.Reload(); err != nil {
				log.Error("policy reload failed; keeping the old policy", zap.Error(err))
			} else {
				log.Info("policy reloaded", zap.String("policy", policyFile))
				api.PolicyReloaded()
			}
			continue
		case err := <-served:
			return err
		case err := <-metricsServed:
			srv.Close()
			return fmt.Errorf("serving metrics: %w", err)
		case <-ctx.Done():
		}
		break
	}

	// Drain with the listener open, so that a client arriving meanwhile is
	// told to come back (503 shutting_down with Retry-After; /readyz too)
	// rather than refused a connection.
	err = shutdown(ctx, log, api, srv, f.drainTimeout, f.shutdownGrace)
	<-served
	if errors.Is(err, errAbandoned) {
		abandoned = true
	}
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// authConfig builds the token verification config from the flags. In dev
// mode, which takes no key, it uses (and keeps, in the data directory) a
// generated HS256 secret, which it returns so that the banner can mint
// tokens.
func authConfig(f serveFlags) (auth.Config, []byte, error) {
	cfg := auth.Config{Issuer: f.issuer, Audience: f.audience, JWKSURL: f.jwksURL}
	if f.secretFile != "" {
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return cfg, nil, fmt.Errorf("reading --jwt-secret-file: %w", err)
		}
		cfg.Secret = b
	}
	if f.publicKey != "" {
		b, err := os.ReadFile(f.publicKey)
		if err != nil {
			return cfg, nil, fmt.Errorf("reading --jwt-public-key: %w", err)
		}
		cfg.PublicKeyPEM = b
	}
	if cfg.Secret != nil || cfg.PublicKeyPEM != nil || cfg.JWKSURL != "" {
		return cfg, nil, nil // never dev mode: checkDev refuses a key with it
	}
	if !f.dev {
		return cfg, nil, errors.New("no token key: give --jwt-secret-file, --jwt-public-key or --jwks-url (or --dev)")
	}
	file := filepath.Join(f.dataDir, "dev-secret")
	secret, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		secret = auth.GenerateSecret()
		err = os.WriteFile(file, secret, 0o600)
	}
	if err != nil {
		return cfg, nil, fmt.Errorf("dev secret: %w", err)
	}
	cfg.Secret = secret
	return cfg, secret, nil
}

// writeDevPolicy writes the development policy to the data directory, once,
// so that it can be edited and reloaded with SIGHUP.
func writeDevPolicy(dataDir string) (string, error) {
	file := filepath.Join(dataDir, "dev-policy.yaml")
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	if err := os.WriteFile(file, policy.Dev, 0o600); err != nil {
		return "", fmt.Errorf("writing the dev policy: %w", err)
	}
	return file, nil
}

// loadOrCreateSigningKey returns the Ed25519 key that signs capabilities,
// kept in the data directory so that audit records stay verifiable across
// restarts.
func loadOrCreateSigningKey(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("writing the capability signing key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the capability signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: not PEM", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", file)
	}
	return key, nil
}

// secretsFromEnv collects the secrets guests may use as {{secret:NAME}}:
// every environment variable CAPSTREAM_SECRET_<NAME>.
func secretsFromEnv() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if n, ok := strings.CutPrefix(name, "CAPSTREAM_SECRET_"); ok && n != "" {
			out[n] = value
		}
	}
	return out
}

// devUsers mints tokens for the sample users, alice (analyst) and bob
// (guest), with the generated dev secret, and with the issuer and audience
// the server requires, if any.
func devUsers(secret []byte, rolesClaim, issuer, audience string) ([]chat.User, error) {
	users := []chat.User{{Name: "alice", Role: "analyst"}, {Name: "bob", Role: "guest"}}
	for i, u := range users {
		tok, err := auth.Mint(secret, auth.MintClaims{
			Subject: u.Name, Roles: []string{u.Role}, RolesClaim: rolesClaim, Issuer: issuer, Audience: audience, TTL: 24 * time.Hour,
		})
		if err != nil {
			return nil, err
		}
		users[i].Token = tok
	}
	return users, nil
}

// printDevBanner prints ready-to-use tokens for the sample users (alice,
// then bob, as devUsers returns them), a curl line and the demo page's URL.
func printDevBanner(w io.Writer, base string, users []chat.User) {
	alice, bob := "(none: mint one with capstream token)", "(none)"
	if len(users) == 2 {
		alice, bob = users[0].Token, users[1].Token
	}
	fmt.Fprintf(w, `
capstream is running in dev mode at %[1]s

  export ALICE=%[2]s   # role analyst
  export BOB=%[3]s   # role guest

Stream a call:
  curl -N -H "Authorization: Bearer $ALICE" -H 'Accept: text/event-stream' -H 'Content-Type: application/json' \
       -d '{"steps":5,"delayMs":300}' %[1]s/v1/tools/slow/calls

Connect an MCP client as alice (docs/mcp.md):
  claude mcp add --transport http capstream %[1]s/mcp --header "Authorization: Bearer $ALICE"
  CAPSTREAM_TOKEN=$ALICE capstream mcp --url %[1]s    # stdio, for clients that cannot send headers

Demo page: %[1]s/

`, base, alice, bob)
}

// mcpAuthServers are the authorization servers /mcp's metadata names:
// those given, or the token issuer when it is a URL.
func mcpAuthServers(f serveFlags) []string {
	if len(f.mcpAuthServers) > 0 {
		return f.mcpAuthServers
	}
	if u, err := url.Parse(f.issuer); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		return []string{f.issuer}
	}
	return nil
}

// sizeFlag is a flag of a positive number of bytes, written as sizes are in
// the policy: "256MiB", "1GB", "1048576".
type sizeFlag int64

func (s *sizeFlag) String() string { return policy.FormatSize(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := policy.ParseSize(v)
	if err != nil {
		return err
	}
	if n <= 0 {
		return errors.New("must be positive")
	}
	*s = sizeFlag(n)
	return nil
}

// countFlag is a flag of a positive whole number.
type countFlag int

func (c *countFlag) String() string { return strconv.Itoa(int(*c)) }

func (c *countFlag) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return errors.New("want a whole number")
	}
	if n <= 0 {
		return errors.New("must be positive")
	}
	*c = countFlag(n)
	return nil
}
