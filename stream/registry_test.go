package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRegistrySweep(t *testing.T) {
	const retention = 10 * time.Minute
	finished := func(id string, at time.Time) *Log {
		l := NewLog(id, LogConfig{})
		l.Append("call.started", at.Add(-time.Second), nil)
		l.Append("call.completed", at, nil)
		return l
	}
	running := NewLog("running", LogConfig{})
	running.Append("call.started", t0.Add(-time.Hour), nil)

	tests := []struct {
		name    string
		now     time.Time
		wantIn  []string
		wantOut []string
	}{
		{"nothing old enough", t0.Add(retention - time.Nanosecond), []string{"running", "recent", "old"}, nil},
		{"exactly the retention", t0.Add(retention), []string{"running", "recent"}, []string{"old"}},
		{"later", t0.Add(time.Hour), []string{"running"}, []string{"old", "recent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry(RegistryConfig{})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range []*Log{running, finished("old", t0), finished("recent", t0.Add(time.Minute))} {
				if err := r.Add(Entry{Owner: "alice", Log: l}); err != nil {
					t.Fatal(err)
				}
			}
			if n := r.Sweep(tt.now); n != len(tt.wantOut) {
				t.Errorf("Sweep removed %d, want %d", n, len(tt.wantOut))
			}
			for _, id := range tt.wantIn {
				if e, ok := r.Get(id); !ok || e.Owner != "alice" || e.Log.Call() != id {
					t.Errorf("Get(%q) = %+v, %v", id, e, ok)
				}
			}
			for _, id := range tt.wantOut {
				if _, ok := r.Get(id); ok {
					t.Errorf("%q is still registered", id)
				}
			}
			if r.Len() != len(tt.wantIn) {
				t.Errorf("Len = %d, want %d", r.Len(), len(tt.wantIn))
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	r, err := NewRegistry(RegistryConfig{Retention: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLog("c1", LogConfig{})
	if err := r.Add(Entry{Owner: "alice", Log: l}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(Entry{Owner: "bob", Log: NewLog("c1", LogConfig{})}); !errors.Is(err, ErrDuplicateCall) {
		t.Errorf("Add of a duplicate: %v", err)
	}
	if e, _ := r.Get("c1"); e.Owner != "alice" || e.Log != l {
		t.Errorf("the duplicate replaced the call: %+v", e)
	}
	if _, ok := r.Get("nope"); ok {
		t.Error("Get of an unknown id")
	}
	l.Append("call.failed", t0, nil)
	if n := r.Sweep(t0.Add(time.Second)); n != 1 || r.Len() != 0 {
		t.Errorf("configured retention: Sweep removed %d, Len %d", n, r.Len())
	}
	r.Add(Entry{Owner: "alice", Log: l})
	if !r.Remove("c1") || r.Remove("c1") {
		t.Error("Remove")
	}

	for _, cfg := range []RegistryConfig{{Retention: -1}, {SweepInterval: -1},
		{RetainBytes: -1}, {RetainCalls: -1}, {RetainBytesPerOwner: -1}, {RetainCallsPerOwner: -1}} {
		if _, err := NewRegistry(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewRegistry(%+v): %v", cfg, err)
		}
	}
}

func TestRegistryRun(t *testing.T) {
	r, err := NewRegistry(RegistryConfig{Retention: time.Nanosecond, SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLog("c1", LogConfig{})
	l.Append("call.completed", time.Now(), nil)
	r.Add(Entry{Owner: "alice", Log: l})

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(stopped)
	}()
	for deadline := time.Now().Add(10 * time.Second); r.Len() > 0; {
		if time.Now().After(deadline) {
			t.Fatal("Run did not sweep")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-stopped
}

// ended returns the log of a finished call whose size is about n bytes,
// which ended at t0 plus the given seconds.
func ended(id string, n int, at int) *Log {
	l := NewLog(id, LogConfig{})
	l.Append("call.started", t0, nil)
	l.Append("call.completed", t0.Add(time.Duration(at)*time.Second), json.RawMessage(`{"output":"`+strings.Repeat("x", n)+`"}`))
	return l
}

// TestRegistryBudgets: finished calls are kept within the budgets; over an
// owner's budget its oldest go, over a global one the oldest of whoever
// holds the most, and the stats add up.
func TestRegistryBudgets(t *testing.T) {
	size := ended("probe", 1000, 0).Size() // every call below but "big" is this size
	type call struct {
		id, owner string
	}
	calls := func(owner string, n int) []call {
		var out []call
		for i := range n {
			out = append(out, call{fmt.Sprintf("%s-%d", owner, i), owner})
		}
		return out
	}
	tests := []struct {
		name  string
		cfg   RegistryConfig
		calls []call // finished in this order
		gone  []string
	}{
		{"within the budgets", RegistryConfig{RetainCallsPerOwner: 3},
			calls("alice", 3), nil},
		{"an owner's count", RegistryConfig{RetainCallsPerOwner: 3},
			append(calls("bob", 1), calls("alice", 5)...), []string{"alice-0", "alice-1"}},
		{"an owner's bytes", RegistryConfig{RetainBytesPerOwner: 2*size + size/2},
			append(calls("alice", 4), calls("bob", 2)...), []string{"alice-0", "alice-1"}},
		{"the global count: the owner with the most calls loses its oldest", RegistryConfig{RetainCalls: 4},
			append(calls("bob", 2), calls("alice", 4)...), []string{"alice-0", "alice-1"}},
		{"the global bytes: the owner with the most bytes loses its oldest", RegistryConfig{RetainBytes: 4*size + size/2},
			append(calls("bob", 2), calls("alice", 6)...), []string{"alice-0", "alice-1", "alice-2", "alice-3"}},
		{"the global bytes, owners even: the oldest call goes", RegistryConfig{RetainBytes: 3*size + size/2},
			[]call{{"alice-0", "alice"}, {"bob-0", "bob"}, {"alice-1", "alice"}, {"bob-1", "bob"}}, []string{"alice-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range tt.calls {
				if err := r.Add(Entry{Owner: c.owner, Log: ended(c.id, 1000, i)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range tt.calls {
				_, ok := r.Get(c.id)
				if gone := slices.Contains(tt.gone, c.id); ok == gone {
					t.Errorf("%s: registered %v, want %v", c.id, ok, !gone)
				}
			}
			kept := len(tt.calls) - len(tt.gone)
			want := RegistryStats{Calls: kept, Retained: kept, RetainedBytes: int64(kept) * size, Evicted: uint64(len(tt.gone))}
			if got := r.Stats(); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}

// TestRegistryBudgetsRunningAndLarge: a running call is not counted until
// its terminal event; a finished call larger than a byte budget on its own
// is not kept, and costs the owner's other calls nothing.
func TestRegistryBudgetsRunningAndLarge(t *testing.T) {
	small := ended("probe", 100, 0).Size()
	r, err := NewRegistry(RegistryConfig{RetainBytesPerOwner: 10 * small, RetainCallsPerOwner: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.Add(Entry{Owner: "alice", Log: ended("old", 100, 0)})
	running := NewLog("running", LogConfig{})
	running.Append("call.started", t0, nil)
	r.Add(Entry{Owner: "alice", Log: running})
	r.Add(Entry{Owner: "alice", Log: ended("recent", 100, 1)})
	if st := r.Stats(); st.Calls != 3 || st.Retained != 2 || st.Evicted != 0 {
		t.Fatalf("with one call running: %+v", st)
	}

	// Its terminal event counts it, and the owner's oldest goes.
	running.Append("call.completed", t0.Add(2*time.Second), nil)
	if _, ok := r.Get("old"); ok {
		t.Error("the oldest call is kept over the owner's count")
	}
	for _, id := range []string{"running", "recent"} {
		if _, ok := r.Get(id); !ok {
			t.Errorf("%s is gone", id)
		}
	}

	r.Add(Entry{Owner: "alice", Log: ended("big", int(20*small), 3)})
	if _, ok := r.Get("big"); ok {
		t.Error("a call over the owner's byte budget on its own is kept")
	}
	st := r.Stats()
	if _, ok := r.Get("recent"); !ok || st.Retained != 2 || st.Evicted != 2 || st.RetainedBytes != small+running.Size() {
		t.Errorf("after the big call: %+v", st)
	}

	// Remove and Sweep take calls off the budgets, without counting them
	// as evicted.
	if !r.Remove("recent") {
		t.Fatal("Remove")
	}
	if st := r.Stats(); st.Retained != 1 || st.RetainedBytes != running.Size() || st.Evicted != 2 {
		t.Errorf("after Remove: %+v", st)
	}
	if n := r.Sweep(t0.Add(time.Hour)); n != 1 {
		t.Errorf("Sweep removed %d", n)
	}
	if st := r.Stats(); st != (RegistryStats{Evicted: 2}) {
		t.Errorf("after Sweep: %+v", st)
	}
}

// TestRegistryBudgetsRace: calls of many owners finishing at once, and
// being removed and swept meanwhile, keep the registry within its budgets
// and its books straight (run with -race).
func TestRegistryBudgetsRace(t *testing.T) {
	const owners, each, budget = 8, 50, 20
	r, err := NewRegistry(RegistryConfig{RetainCalls: budget, RetainCallsPerOwner: budget / 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for o := range owners {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("o%d-%d", o, i)
				l := NewLog(id, LogConfig{})
				l.Append("call.started", t0, nil)
				r.Add(Entry{Owner: fmt.Sprint(o), Log: l})
				l.Append("call.completed", t0, nil)
				if st := r.Stats(); st.Retained > budget {
					t.Errorf("%d calls kept, budget %d", st.Retained, budget)
				}
				if i%7 == 0 {
					r.Remove(id)
				}
				if i%11 == 0 {
					r.Sweep(t0)
				}
			}
		})
	}
	wg.Wait()
	st := r.Stats()
	if st.Retained != st.Calls || st.Retained > budget {
		t.Errorf("at the end: %+v", st)
	}
	var sum int64
	r.mu.Lock()
	for _, h := range r.owners {
		sum += h.bytes
	}
	r.mu.Unlock()
	if sum != st.RetainedBytes {
		t.Errorf("owners hold %d bytes, the registry counts %d", sum, st.RetainedBytes)
	}
	if n := r.Sweep(t0.Add(time.Hour)); n != st.Retained || r.Len() != 0 || r.Stats().RetainedBytes != 0 {
		t.Errorf("sweeping all: removed %d, left %+v", n, r.Stats())
	}
}
