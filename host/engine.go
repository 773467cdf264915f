// Package host is capstream's engine: it loads WebAssembly tools, and runs
// each call of a tool in a fresh sandboxed instance bound to the call's
// capability, reporting everything the guest does as events to a Sink.
//
// The engine knows nothing of HTTP, SSE or authentication. Identity reaches
// it only as the capability value of a call, carried in the call's
// context.Context to the host functions; no call state lives anywhere else.
package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"go.uber.org/zap"

	"github.com/capstream/capstream/sdk/abi"
)

// Config configures an Engine. The zero value is usable: no compilation
// cache on disk, no KV store, no outbound HTTP.
type Config struct {
	// CacheDir holds wazero's compilation cache, so that a restart does not
	// recompile. Empty: compiled code is kept in memory only.
	CacheDir string
	// KV is the store behind the kv_* host functions (a *kv.Store, or a
	// cluster's). Nil: every KV host call is denied.
	KV KV
	// Egress performs the guest's outbound HTTP (an *egress.Client in
	// capstream serve). Nil: every HTTP host call is denied.
	Egress Egress
	// Logger receives the engine's logs; it is named "host". Nil: no logs.
	Logger *zap.Logger
	// ManifestTimeout bounds reading a tool's manifest at load time.
	// Zero: 5s.
	ManifestTimeout time.Duration
	// DisableSnapshots runs a reactor's _initialize (the Go runtime's
	// start-up) in every call instead of once at load time. Zero:
	// snapshots on (see snapshot.go).
	DisableSnapshots bool

	// uninterruptible compiles guests without wazero's termination checks
	// (close-on-context-done), so that a guest in a loop cannot be stopped.
	// Only the benchmark that measures what interruptibility costs sets it.
	uninterruptible bool
}

// Engine loads tools and runs calls. It is safe for concurrent use; every
// call runs in its own instance.
type Engine struct {
	cfg     Config
	log     *zap.Logger
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	modCfg  wazero.ModuleConfig
	imports map[string]api.FunctionDefinition // "module\x00name" -> definition

	instantiating chan struct{} // a place per CPU; see run

	mu    sync.RWMutex
	tools map[string]*Tool
}

// New returns an Engine with the host module and WASI instantiated once.
// Close releases it.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.ManifestTimeout == 0 {
		cfg.ManifestTimeout = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	e := &Engine{cfg: cfg, log: log.Named("host"), tools: map[string]*Tool{},
		instantiating: make(chan struct{}, runtime.GOMAXPROCS(0))}

	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(!cfg.uninterruptible)
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(filepath.Clean(cfg.CacheDir))
		if err != nil {
			return nil, fmt.Errorf("opening compilation cache %q: %w", cfg.CacheDir, err)
		}
		e.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, rc)

	hostMod, err := e.hostModule().Instantiate(ctx)
	if err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("instantiating %s: %w", abi.Module, err)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("instantiating wasi: %w", err)
	}
	wasiMod := e.rt.Module(wasi_snapshot_preview1.ModuleName)
	e.imports = map[string]api.FunctionDefinition{}
	for _, m := range []api.Module{hostMod, wasiMod} {
		for name, def := range m.ExportedFunctionDefinitions() {
			e.imports[m.Name()+"\x00"+name] = def
		}
	}

	// One module config for every instance: no args, env or files; real
	// clocks; crypto/rand. Start functions are run by the engine itself, so
	// that their failures are classified like any other.
	e.modCfg = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithSysNanotime()
	return e, nil
}

// Close closes every instance and releases the runtime. Calls in flight end
// with a failure.
func (e *Engine) Close(ctx context.Context) error {
	var err error
	if e.rt != nil {
		err = e.rt.Close(ctx)
	}
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// Tool returns the loaded tool of that name.
func (e *Engine) Tool(name string) (*Tool, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	t, ok := e.tools[name]
	return t, ok
}

// Tools returns the loaded tools, sorted by name.
func (e *Engine) Tools() []*Tool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*Tool, 0, len(e.tools))
	for _, t := range e.tools {
		out = append(out, t)
	}
	sortTools(out)
	return out
}
