package stream

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// Defaults for a zero [RegistryConfig].
const (
	DefaultRetention     = 10 * time.Minute
	DefaultSweepInterval = time.Minute

	// The retention budgets. A call's log is bounded by its capability's
	// limits (with the default policy, at most about 5 MiB), so one owner's
	// budget holds a few of the largest calls and hundreds of ordinary ones:
	// 1,000 calls in the 10 minutes of retention is more than one every
	// second. The global budgets hold eight owners at their full budget of
	// bytes, or ten at their full count.
	DefaultRetainBytes         = 256 << 20
	DefaultRetainCalls         = 10000
	DefaultRetainBytesPerOwner = 32 << 20
	DefaultRetainCallsPerOwner = 1000
)

// RegistryConfig configures a [Registry]. Negative values are invalid.
//
// The budgets bound the finished calls a registry keeps for replay, by
// count and by bytes (see [Log.Size]), per owner and in all. Running calls
// are not counted: their number is the caller's to bound, and their logs
// are bounded by [LogConfig]. A call is counted from its terminal event.
type RegistryConfig struct {
	// Retention is how long a finished call stays replayable, counted from
	// the time of its terminal event. If zero, DefaultRetention is used.
	Retention time.Duration

	// SweepInterval is how often Run sweeps. If zero, DefaultSweepInterval
	// is used.
	SweepInterval time.Duration

	// RetainBytes bounds the bytes of all finished calls kept. If zero,
	// DefaultRetainBytes is used.
	RetainBytes int64

	// RetainCalls bounds the number of finished calls kept. If zero,
	// DefaultRetainCalls is used.
	RetainCalls int

	// RetainBytesPerOwner bounds the bytes of one owner's finished calls
	// kept. If zero, DefaultRetainBytesPerOwner is used.
	RetainBytesPerOwner int64

	// RetainCallsPerOwner bounds the number of one owner's finished calls
	// kept. If zero, DefaultRetainCallsPerOwner is used.
	RetainCallsPerOwner int
}

// Entry is a registered call.
type Entry struct {
	Owner string // the subject who started the call, for the HTTP layer's owner checks
	Tool  string // the tool the call runs, for status reports
	Log   *Log
}

// RegistryStats is a snapshot of a [Registry]'s contents.
type RegistryStats struct {
	Calls         int    // calls registered, running or finished
	Retained      int    // finished calls kept for replay
	RetainedBytes int64  // their size, as the budgets count it
	Evicted       uint64 // finished calls removed before their retention ended, to keep within the budgets, since the registry was made
}

// Registry holds the logs of running calls and, for a retention period, of
// finished ones, keyed by call id. It does no access control: it stores the
// owner so that its caller can. A call that never gets a terminal event is
// kept until it is removed.
//
// A finished call is kept until its retention ends or a budget would be
// exceeded, whichever comes first. Over an owner's budget, that owner's
// oldest finished calls are evicted; over a global budget, the owner that
// holds the most (bytes, or calls for the count) loses its oldest, so one
// owner that floods the registry evicts its own calls rather than others'.
// A call larger than a byte budget on its own is not kept once finished.
// An evicted call is gone, exactly as if its retention had ended.
//
// A Registry is safe for concurrent use.
type Registry struct {
	retention time.Duration
	interval  time.Duration

	retainBytes, retainBytesPerOwner int64
	retainCalls, retainCallsPerOwner int

	mu      sync.Mutex
	calls   map[string]*record
	owners  map[string]*holdings // owners with finished calls kept
	bytes   int64                // of the finished calls kept
	kept    int                  // finished calls kept
	evicted uint64
}

// record is a registered call.
type record struct {
	Entry
	size  int64         // as counted against the budgets; set when it finishes
	ended time.Time     // the time of its terminal event; set when it finishes
	elem  *list.Element // in its owner's finished calls; nil while it runs
}

// holdings are one owner's finished calls, oldest first.
type holdings struct {
	calls list.List // of *record
	bytes int64
}

// NewRegistry returns an empty registry. It fails, wrapping
// [ErrInvalidConfig], if a value in cfg is negative.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if cfg.Retention < 0 || cfg.SweepInterval < 0 {
		return nil, fmt.Errorf("%w: negative Retention or SweepInterval", ErrInvalidConfig)
	}
	if cfg.RetainBytes < 0 || cfg.RetainCalls < 0 || cfg.RetainBytesPerOwner < 0 || cfg.RetainCallsPerOwner < 0 {
		return nil, fmt.Errorf("%w: negative retention budget; give a positive one, or zero for the default", ErrInvalidConfig)
	}
	r := &Registry{
		retention:           orDefault(cfg.Retention, DefaultRetention),
		interval:            orDefault(cfg.SweepInterval, DefaultSweepInterval),
		retainBytes:         orDefault(cfg.RetainBytes, DefaultRetainBytes),
		retainCalls:         orDefault(cfg.RetainCalls, DefaultRetainCalls),
		retainBytesPerOwner: orDefault(cfg.RetainBytesPerOwner, DefaultRetainBytesPerOwner),
		retainCallsPerOwner: orDefault(cfg.RetainCallsPerOwner, DefaultRetainCallsPerOwner),
		calls:               make(map[string]*record),
		owners:              make(map[string]*holdings),
	}
	return r, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Add registers e under the call id of its log. It fails with
// [ErrDuplicateCall] if that id is registered already. The call counts
// against the budgets from its terminal event on (at once, if its log has
// ended already).
func (r *Registry) Add(e Entry) error {
	id := e.Log.Call()
	rec := &record{Entry: e}
	r.mu.Lock()
	if _, ok := r.calls[id]; ok {
		r.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrDuplicateCall, id)
	}
	r.calls[id] = rec
	r.mu.Unlock()
	if !e.Log.whenEnded(func() { r.finish(rec) }) {
		r.finish(rec)
	}
	return nil
}

// finish counts a call that has ended against the budgets, and evicts what
// is over them.
func (r *Registry) finish(rec *record) {
	term, _ := rec.Log.Terminal()
	size := rec.Log.Size()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls[rec.Log.Call()] != rec || rec.elem != nil {
		return // removed meanwhile
	}
	if size > r.retainBytesPerOwner || size > r.retainBytes {
		delete(r.calls, rec.Log.Call())
		r.evicted++
		return
	}
	rec.size, rec.ended = size, term.Time
	h := r.owners[rec.Owner]
	if h == nil {
		h = &holdings{}
		r.owners[rec.Owner] = h
	}
	rec.elem = h.calls.PushBack(rec)
	h.bytes += size
	r.bytes += size
	r.kept++

	for h.calls.Len() > r.retainCallsPerOwner || h.bytes > r.retainBytesPerOwner {
		r.evict(h)
	}
	for r.kept > r.retainCalls {
		r.evict(r.most(func(h *holdings) int64 { return int64(h.calls.Len()) }))
	}
	for r.bytes > r.retainBytes {
		r.evict(r.most(func(h *holdings) int64 { return h.bytes }))
	}
}

// most returns the holdings with the largest measure; of equals, the one
// whose oldest call ended first. It scans every owner that has finished
// calls kept, which only a budget overrun makes it do.
func (r *Registry) most(measure func(*holdings) int64) *holdings {
	var best *holdings
	var bestN int64
	for _, h := range r.owners {
		n := measure(h)
		if best == nil || n > bestN ||
			n == bestN && h.calls.Front().Value.(*record).ended.Before(best.calls.Front().Value.(*record).ended) {
			best, bestN = h, n
		}
	}
	return best
}

// evict removes the oldest finished call of h.
func (r *Registry) evict(h *holdings) {
	rec := h.calls.Front().Value.(*record)
	r.drop(rec)
	r.evicted++
}

// drop unregisters rec and, if it had finished, takes it off the budgets.
func (r *Registry) drop(rec *record) {
	delete(r.calls, rec.Log.Call())
	if rec.elem == nil {
		return
	}
	h := r.owners[rec.Owner]
	h.calls.Remove(rec.elem)
	rec.elem = nil
	h.bytes -= rec.size
	r.bytes -= rec.size
	r.kept--
	if h.calls.Len() == 0 {
		delete(r.owners, rec.Owner)
	}
}

// Get returns the call with the given id, if it is registered.
func (r *Registry) Get(callID string) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.calls[callID]
	if !ok {
		return Entry{}, false
	}
	return rec.Entry, true
}

// Remove unregisters the call with the given id and reports whether it was
// registered.
func (r *Registry) Remove(callID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.calls[callID]
	if ok {
		r.drop(rec)
	}
	return ok
}

// Len returns the number of registered calls.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// Stats returns what the registry holds now.
func (r *Registry) Stats() RegistryStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RegistryStats{Calls: len(r.calls), Retained: r.kept, RetainedBytes: r.bytes, Evicted: r.evicted}
}

// Sweep removes the calls whose terminal event is at least the retention
// period older than now, and returns how many it removed.
func (r *Registry) Sweep(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, h := range r.owners {
		// Every call is looked at: they are in the order of their
		// bookkeeping, which may differ a little from that of their
		// terminal events' times.
		for e := h.calls.Front(); e != nil; {
			next := e.Next()
			if rec := e.Value.(*record); !now.Before(rec.ended.Add(r.retention)) {
				r.drop(rec)
				n++
			}
			e = next
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
