package stream

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Defaults for a zero [RegistryConfig].
const (
	DefaultRetention     = 10 * time.Minute
	DefaultSweepInterval = time.Minute
)

// RegistryConfig configures a [Registry]. Negative durations are invalid.
type RegistryConfig struct {
	// Retention is how long a finished call stays replayable, counted from
	// the time of its terminal event. If zero, DefaultRetention is used.
	Retention time.Duration

	// SweepInterval is how often Run sweeps. If zero, DefaultSweepInterval
	// is used.
	SweepInterval time.Duration
}

// Entry is a registered call.
type Entry struct {
	Owner string // the subject who started the call, for the HTTP layer's owner checks
	Tool  string // the tool the call runs, for status reports
	Log   *Log
}

// Registry holds the logs of running calls and, for a retention period, of
// finished ones, keyed by call id. It does no access control: it stores the
// owner so that its caller can. A call that never gets a terminal event is
// kept until it is removed.
//
// A Registry is safe for concurrent use.
type Registry struct {
	retention time.Duration
	interval  time.Duration

	mu    sync.Mutex
	calls map[string]Entry
}

// NewRegistry returns an empty registry. It fails, wrapping
// [ErrInvalidConfig], if a duration in cfg is negative.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if cfg.Retention < 0 || cfg.SweepInterval < 0 {
		return nil, fmt.Errorf("%w: negative Retention or SweepInterval", ErrInvalidConfig)
	}
	r := &Registry{retention: cfg.Retention, interval: cfg.SweepInterval, calls: make(map[string]Entry)}
	if r.retention == 0 {
		r.retention = DefaultRetention
	}
	if r.interval == 0 {
		r.interval = DefaultSweepInterval
	}
	return r, nil
}

// Add registers e under the call id of its log. It fails with
// [ErrDuplicateCall] if that id is registered already.
func (r *Registry) Add(e Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := e.Log.Call()
	if _, ok := r.calls[id]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateCall, id)
	}
	r.calls[id] = e
	return nil
}

// Get returns the call with the given id, if it is registered.
func (r *Registry) Get(callID string) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.calls[callID]
	return e, ok
}

// Remove unregisters the call with the given id and reports whether it was
// registered.
func (r *Registry) Remove(callID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.calls[callID]
	delete(r.calls, callID)
	return ok
}

// Len returns the number of registered calls.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// Sweep removes the calls whose terminal event is at least the retention
// period older than now, and returns how many it removed.
func (r *Registry) Sweep(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id, e := range r.calls {
		if t, ok := e.Log.Terminal(); ok && !now.Before(t.Time.Add(r.retention)) {
			delete(r.calls, id)
			n++
		}
	}
	return n
}

// Run sweeps at the configured interval until ctx is done.
func (r *Registry) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			r.Sweep(now)
		case <-ctx.Done():
			return
		}
	}
}
