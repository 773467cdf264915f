package cluster_test

import (
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/stream"
)

// replicas returns the call stores of two replicas, a and b, on one node.
func replicas(t *testing.T) (*cluster.Calls, *cluster.Calls) {
	conn := single(t)
	return openCalls(t, conn(t), "a", 1), openCalls(t, conn(t), "b", 1)
}

func started(t *testing.T, c *cluster.Calls, id string) (stream.Appender, *stream.Log, stream.Meta) {
	t.Helper()
	m := stream.Meta{Call: id, Owner: "alice", Tool: "slow"}
	log := stream.NewLog(id, stream.LogConfig{})
	app, err := c.Create(t.Context(), m, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Append("call.started", time.Now(), json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	return app, log, m
}

// events reads a call from store s to its end.
func events(t *testing.T, s stream.Store, id string) []stream.Event {
	t.Helper()
	src, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := src.Follow(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []stream.Event
	for {
		e, err := sub.Next(t.Context())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

func terminals(evs []stream.Event) int {
	n := 0
	for _, e := range evs {
		if stream.IsTerminal(e.Type) {
			n++
		}
	}
	return n
}

// TestFencedOwner: once another replica has ended a call with node_lost,
// its owner can append nothing more; its local readers are told to resume
// elsewhere, and every reader then sees the one terminal event.
func TestFencedOwner(t *testing.T) {
	a, b := replicas(t)
	app, log, m := started(t, a, "c_fenced")
	local := log.Subscribe(0)

	wrote, err := b.EndLost(t.Context(), m, "a")
	if err != nil || !wrote {
		t.Fatalf("EndLost = %v, %v; want true, nil", wrote, err)
	}
	if _, err := app.Append("host.log", time.Now(), json.RawMessage(`{"message":"zombie"}`)); !errors.Is(err, stream.ErrFenced) {
		t.Fatalf("the owner's append after node_lost: err = %v, want ErrFenced", err)
	}
	if _, err := app.Append(stream.TypeCompleted, time.Now(), nil); err == nil {
		t.Fatal("the owner's terminal event after node_lost was accepted")
	}
	if e, err := local.Next(t.Context()); err != nil || e.Seq != 1 {
		t.Fatalf("local reader: %+v, %v; want event 1", e, err)
	}
	if _, err := local.Next(t.Context()); !errors.Is(err, stream.ErrAbandoned) {
		t.Fatalf("local reader after the fence: err = %v, want ErrAbandoned", err)
	}
	for _, s := range []*cluster.Calls{a, b} {
		evs := events(t, s, m.Call)
		if len(evs) != 2 || terminals(evs) != 1 {
			t.Fatalf("%s reads %+v, want call.started and one terminal event", "replica", evs)
		}
		var d struct {
			Error struct{ Code, Message string }
		}
		if last := evs[1]; last.Type != stream.TypeFailed || json.Unmarshal(last.Data, &d) != nil || d.Error.Code != "node_lost" {
			t.Fatalf("terminal event %s %s, want call.failed node_lost", last.Type, last.Data)
		}
		src, err := s.Open(t.Context(), m.Call)
		if err != nil || src.Meta() != m {
			t.Fatalf("Open = %+v, %v; want %+v", src, err, m)
		}
	}
}

// TestOneTerminalUnderRace: the owner ending its call and replicas ending
// it as lost, all at once: exactly one terminal event is written.
func TestOneTerminalUnderRace(t *testing.T) {
	a, b := replicas(t)
	for round := range 20 {
		id := "c_race" + string(rune('a'+round))
		app, _, m := started(t, a, id)
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			if _, err := app.Append(stream.TypeCompleted, time.Now(), json.RawMessage(`{"output":1}`)); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, stream.ErrFenced) {
				t.Error(err)
			}
		})
		for i := range 6 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				<-start
				wrote, err := s.EndLost(t.Context(), m, "a")
				if err != nil {
					t.Error(err)
				}
				if wrote {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d writers ended the call, want 1", round, wins.Load())
		}
		if evs := events(t, b, id); len(evs) != 2 || terminals(evs) != 1 {
			t.Fatalf("round %d: %d events, %d terminal; want 2 and 1", round, len(evs), terminals(evs))
		}
	}
}

// TestEndLostBeforeFirstEvent: a call whose replica died before it stored
// anything still ends, under the owner it was started for.
func TestEndLostBeforeFirstEvent(t *testing.T) {
	a, b := replicas(t)
	m := stream.Meta{Call: "c_early", Owner: "bob", Tool: "echo"}
	if _, err := a.Create(t.Context(), m, stream.NewLog(m.Call, stream.LogConfig{})); err != nil {
		t.Fatal(err)
	}
	if wrote, err := b.EndLost(t.Context(), m, "a"); err != nil || !wrote {
		t.Fatalf("EndLost = %v, %v", wrote, err)
	}
	if wrote, err := b.EndLost(t.Context(), m, "a"); err != nil || wrote {
		t.Fatalf("second EndLost = %v, %v; want false, nil", wrote, err)
	}
	src, err := b.Open(t.Context(), m.Call)
	if err != nil || src.Meta() != m {
		t.Fatalf("Open = %v, %v", src, err)
	}
	if last, term := src.Status(); last != 1 || term == nil || term.Type != stream.TypeFailed {
		t.Fatalf("Status = %d, %+v; want event 1, call.failed", last, term)
	}
}
