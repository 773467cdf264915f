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
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/capstream/capstream/examples/chat"
	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/egress"
	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/stream"
)

// serveFlags are the flags of capstream serve (DESIGN §3).
type serveFlags struct {
	addr, plugins, policy, dataDir, cacheDir         string
	corsOrigins                                      stringList
	secretFile, publicKey, jwksURL, issuer, audience string
	cookieName                                       string
	dev                                              bool
	drainTimeout, heartbeat                          time.Duration
	maxCalls, maxCallsPerPrincipal                   int
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
	fs.StringVar(&f.audience, "jwt-audience", "", "required aud of tokens")
	fs.StringVar(&f.cookieName, "cookie-name", auth.DefaultCookieName, "cookie GET endpoints take a token from")
	fs.BoolVar(&f.dev, "dev", false, "development mode: generate a key when none is given, print tokens for sample users, serve the demo page")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long running calls may finish before they are cancelled")
	fs.DurationVar(&f.heartbeat, "heartbeat", stream.DefaultHeartbeat, "interval of SSE keep-alive comments")
	fs.IntVar(&f.maxCalls, "max-calls", 256, "calls running at once, in all")
	fs.IntVar(&f.maxCallsPerPrincipal, "max-calls-per-principal", 16, "calls running at once, per subject")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := mirrorEnv(fs); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	log, err := newLogger(f.dev, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
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

	store, err := kv.Open(filepath.Join(f.dataDir, "kv.db"), kv.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	eg, err := egress.New(egress.Config{Secrets: secretsFromEnv()})
	if err != nil {
		return err
	}
	defer eg.Close()
	cacheDir := f.cacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(f.dataDir, "cache")
	}
	engine, err := host.New(ctx, host.Config{CacheDir: cacheDir, KV: store, Egress: eg, Logger: log})
	if err != nil {
		return err
	}
	defer engine.Close(context.WithoutCancel(ctx))
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
		if users, err = devUsers(devSecret, policies.Current().RolesClaim); err != nil {
			log.Warn("no dev tokens: the key given cannot mint them; the demo page will ask for one", zap.Error(err))
		}
		index = chat.Handler(chat.Config{Users: users})
	}
	api, err := httpapi.New(httpapi.Config{
		Engine: engine, Auth: authn, Policies: policies, SigningKey: signingKey, Logger: log,
		CookieName: f.cookieName, CORSOrigins: f.corsOrigins,
		MaxCalls: f.maxCalls, MaxCallsPerPrincipal: f.maxCallsPerPrincipal,
		Stream: stream.WriterConfig{Heartbeat: f.heartbeat},
		Index:  index,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	srv := httpapi.NewHTTPServer(api.Handler(), zap.NewStdLog(log.Named("net/http")))
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
			}
			continue
		case err := <-served:
			return err
		case <-ctx.Done():
		}
		break
	}

	log.Info("shutting down", zap.Duration("drain", f.drainTimeout))
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.drainTimeout)
	defer cancel()
	// Drain with the listener open, so that a client arriving meanwhile is
	// told to come back (503 shutting_down with Retry-After; /readyz too)
	// rather than refused a connection. Then stop accepting connections;
	// the handlers of open streams end once their call's terminal event
	// is written.
	if err := api.Shutdown(drainCtx); err != nil {
		log.Info("drain", zap.Error(err))
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(context.WithoutCancel(ctx)) }()
	select {
	case err := <-shutdown:
		if err != nil {
			return err
		}
	case <-time.After(10 * time.Second):
		srv.Close()
	}
	<-served
	log.Info("stopped")
	return nil
}

// authConfig builds the token verification config from the flags. In dev
// mode with no key given it uses (and keeps, in the data directory) an HS256
// secret, which it returns so that the banner can mint tokens.
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
		return cfg, cfg.Secret, nil
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
// (guest), with the dev secret; there is none when a key was given.
func devUsers(secret []byte, rolesClaim string) ([]chat.User, error) {
	users := []chat.User{{Name: "alice", Role: "analyst"}, {Name: "bob", Role: "guest"}}
	for i, u := range users {
		tok, err := auth.Mint(secret, auth.MintClaims{Subject: u.Name, Roles: []string{u.Role}, RolesClaim: rolesClaim, TTL: 24 * time.Hour})
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

Demo page: %[1]s/

`, base, alice, bob)
}
