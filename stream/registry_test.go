package stream

import (
	"context"
	"errors"
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

	for _, cfg := range []RegistryConfig{{Retention: -1}, {SweepInterval: -1}} {
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
