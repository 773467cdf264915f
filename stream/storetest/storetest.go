// Package storetest is the conformance suite of stream.Store: the contract
// every store of call logs keeps, run against stream.MemoryStore and the
// JetStream stream of a cluster (internal/cluster).
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstream/capstream/stream"
)

// Config says how to make the store under test.
type Config struct {
	// Open returns two handles on one new, empty store: the replica that
	// runs the calls the suite makes, and another one that reads them (or
	// the same store twice).
	Open func(t *testing.T) (runner, reader stream.Store)
}

// Run runs the suite.
func Run(t *testing.T, cfg Config) {
	tests := []struct {
		name string
		f    func(*testing.T, Config)
	}{
		{"ReplayFromEveryID", replayFromEveryID},
		{"FollowLive", followLive},
		{"TerminalEndsTheLog", terminalEndsTheLog},
		{"FullLogStillEnds", fullLogStillEnds},
		{"InvalidEventsAreNotStored", invalidEvents},
		{"UnknownAndHostileIDs", hostileIDs},
		{"DuplicateID", duplicateID},
		{"ConcurrentCalls", concurrentCalls},
		{"FollowStopsWithContext", followStops},
		{"WaitEnd", waitEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, cfg) })
	}
}

var callN struct {
	sync.Mutex
	n int
}

// newCall creates a call on s with a fresh id.
func newCall(t *testing.T, s stream.Store, owner string, lc stream.LogConfig) (stream.Appender, *stream.Log, stream.Meta) {
	t.Helper()
	callN.Lock()
	callN.n++
	id := fmt.Sprintf("c_test%d_%d", time.Now().UnixNano(), callN.n)
	callN.Unlock()
	m := stream.Meta{Call: id, Owner: owner, Tool: "echo"}
	log := stream.NewLog(id, lc)
	app, err := s.Create(t.Context(), m, log)
	if err != nil {
		t.Fatalf("Create(%s): %v", id, err)
	}
	return app, log, m
}

func mustAppend(t *testing.T, app stream.Appender, typ, data string) stream.Event {
	t.Helper()
	e, err := app.Append(typ, time.Now(), json.RawMessage(data))
	if err != nil {
		t.Fatalf("Append(%s, %s): %v", typ, data, err)
	}
	return e
}

// write appends a call's events: started, n logs with non-ASCII data, and
// completed.
func write(t *testing.T, app stream.Appender, n int) []stream.Event {
	t.Helper()
	evs := []stream.Event{mustAppend(t, app, "call.started", `{"tool":"echo"}`)}
	for i := range n {
		evs = append(evs, mustAppend(t, app, "host.log", fmt.Sprintf(`{"level":"info","message":"é %d \u2028 ✓"}`, i)))
	}
	return append(evs, mustAppend(t, app, stream.TypeCompleted, `{"output":{"ok":true}}`))
}

func open(t *testing.T, s stream.Store, id string) stream.Source {
	t.Helper()
	src, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	return src
}

// readAll follows src after `after` to its end.
func readAll(t *testing.T, src stream.Source, after uint64) []stream.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	sub, err := src.Follow(ctx, after)
	if err != nil {
		t.Fatalf("Follow(%d): %v", after, err)
	}
	var got []stream.Event
	for {
		e, err := sub.Next(ctx)
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Next after %d events: %v", len(got), err)
		}
		got = append(got, e)
	}
}

func sameEvents(t *testing.T, what string, got, want []stream.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Call != w.Call || g.Seq != w.Seq || string(g.Data) != string(w.Data) || !g.Time.Equal(w.Time) {
			t.Fatalf("%s: event %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func replayFromEveryID(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{})
	want := write(t, app, 12)
	for _, s := range []stream.Store{runner, reader} {
		src := open(t, s, m.Call)
		if got := src.Meta(); got != m {
			t.Fatalf("Meta = %+v, want %+v", got, m)
		}
		last, term := src.Status()
		if last != uint64(len(want)) || term == nil || term.Type != stream.TypeCompleted || term.Seq != last {
			t.Fatalf("Status = %d, %+v; want %d and the terminal event", last, term, len(want))
		}
		for after := range uint64(len(want)) + 1 {
			sameEvents(t, fmt.Sprintf("after %d", after), readAll(t, src, after), want[after:])
		}
	}
}

func followLive(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{})
	first := mustAppend(t, app, "call.started", `{}`)
	src := open(t, reader, m.Call)
	if last, term := src.Status(); last != 1 || term != nil {
		t.Fatalf("Status of a running call = %d, %v; want 1, nil", last, term)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	subs := make([]*stream.Subscription, 3)
	for i := range subs {
		var err error
		if subs[i], err = src.Follow(ctx, uint64(i%2)); err != nil {
			t.Fatal(err)
		}
	}
	want := []stream.Event{first}
	for i := range 20 {
		want = append(want, mustAppend(t, app, "progress", fmt.Sprintf(`{"done":%d}`, i)))
		if i%5 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	want = append(want, mustAppend(t, app, stream.TypeFailed, `{"error":{"code":"x","message":"y"}}`))
	for i, sub := range subs {
		var got []stream.Event
		for {
			e, err := sub.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e)
		}
		sameEvents(t, fmt.Sprintf("follower %d", i), got, want[i%2:])
	}
}

func terminalEndsTheLog(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{})
	want := write(t, app, 1)
	for _, typ := range []string{"host.log", stream.TypeCancelled, stream.TypeCompleted} {
		if _, err := app.Append(typ, time.Now(), nil); !errors.Is(err, stream.ErrClosed) {
			t.Errorf("Append(%s) after the terminal event: err = %v, want ErrClosed", typ, err)
		}
	}
	sameEvents(t, "after a refused append", readAll(t, open(t, reader, m.Call), 0), want)
}

func fullLogStillEnds(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{MaxEvents: 3})
	want := []stream.Event{mustAppend(t, app, "call.started", `{}`), mustAppend(t, app, "host.log", `{}`), mustAppend(t, app, "host.log", `{}`)}
	if _, err := app.Append("host.log", time.Now(), nil); !errors.Is(err, stream.ErrFull) {
		t.Fatalf("Append beyond the bound: err = %v, want ErrFull", err)
	}
	want = append(want, mustAppend(t, app, stream.TypeFailed, `{"error":{"code":"output_limit","message":"full"}}`))
	sameEvents(t, "full log", readAll(t, open(t, reader, m.Call), 0), want)
}

func invalidEvents(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{})
	first := mustAppend(t, app, "call.started", `{}`)
	for _, bad := range []struct{ typ, data string }{
		{"", `{}`}, {"has space", `{}`}, {"line\nbreak", `{}`}, {stream.TypeStreamError, `{}`},
		{"host.log", `{"unterminated"`}, {"host.log", "\xff"},
	} {
		if _, err := app.Append(bad.typ, time.Now(), json.RawMessage(bad.data)); err == nil {
			t.Errorf("Append(%q, %q) succeeded", bad.typ, bad.data)
		}
	}
	last := mustAppend(t, app, stream.TypeCompleted, `{}`)
	if last.Seq != 2 {
		t.Fatalf("terminal event is number %d, want 2: a refused event took a number", last.Seq)
	}
	sameEvents(t, "after refused events", readAll(t, open(t, reader, m.Call), 0), []stream.Event{first, last})
}

func hostileIDs(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{})
	write(t, app, 0)
	for _, id := range []string{
		"", "c_nope", "*", ">", "a.b", m.Call + ".x", m.Call + ".>", "*." + m.Call, m.Call[:len(m.Call)-1] + "*",
		m.Call + " ", "ünïcode", strings.Repeat("c", 300), "c\x00", "$JS.API.>",
	} {
		for _, s := range []stream.Store{runner, reader} {
			if src, err := s.Open(t.Context(), id); !errors.Is(err, stream.ErrNotFound) {
				t.Errorf("Open(%q) = %v, %v; want ErrNotFound", id, src, err)
			}
		}
	}
	for _, id := range []string{"*", ">", "a.b", "c_x.>"} {
		if _, err := runner.Create(t.Context(), stream.Meta{Call: id, Owner: "mallory"}, stream.NewLog(id, stream.LogConfig{})); err == nil {
			t.Errorf("Create(%q) succeeded", id)
		}
	}
}

func duplicateID(t *testing.T, c Config) {
	runner, _ := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{})
	mustAppend(t, app, "call.started", `{}`)
	if _, err := runner.Create(t.Context(), stream.Meta{Call: m.Call, Owner: "mallory", Tool: "x"}, stream.NewLog(m.Call, stream.LogConfig{})); err == nil {
		t.Fatal("a second Create of one call id succeeded")
	}
	if got := open(t, runner, m.Call).Meta(); got.Owner != "alice" {
		t.Fatalf("after a refused Create the owner is %q", got.Owner)
	}
}

// concurrentCalls runs calls of several owners at once: each reader sees
// exactly its call's events, under its owner.
func concurrentCalls(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	const calls, events = 16, 15
	t.Run("group", func(t *testing.T) {
		for i := range calls {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				app, _, m := newCall(t, runner, fmt.Sprintf("user%d", i%5), stream.LogConfig{})
				var want []stream.Event
				for j := range events {
					want = append(want, mustAppend(t, app, "host.log", fmt.Sprintf(`{"call":%d,"n":%d}`, i, j)))
				}
				want = append(want, mustAppend(t, app, stream.TypeCompleted, fmt.Sprintf(`{"call":%d}`, i)))
				src := open(t, reader, m.Call)
				if src.Meta() != m {
					t.Errorf("Meta = %+v, want %+v", src.Meta(), m)
				}
				sameEvents(t, m.Call, readAll(t, src, 0), want)
			})
		}
	})
}

func followStops(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{})
	mustAppend(t, app, "call.started", `{}`)
	ctx, cancel := context.WithCancel(t.Context())
	sub, err := open(t, reader, m.Call).Follow(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := sub.Next(ctx); err != nil || e.Seq != 1 {
		t.Fatalf("Next = %+v, %v", e, err)
	}
	cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: err = %v, want context.Canceled", err)
	}
	mustAppend(t, app, stream.TypeCompleted, `{}`)
}

func waitEnd(t *testing.T, c Config) {
	runner, reader := c.Open(t)
	app, _, m := newCall(t, runner, "alice", stream.LogConfig{})
	mustAppend(t, app, "call.started", `{}`)
	src := open(t, reader, m.Call)
	done := make(chan stream.Event, 1)
	go func() {
		e, err := stream.WaitEnd(t.Context(), src)
		if err != nil {
			t.Error(err)
		}
		done <- e
	}()
	time.Sleep(10 * time.Millisecond)
	want := mustAppend(t, app, stream.TypeCancelled, `{"reason":"deleted"}`)
	select {
	case got := <-done:
		sameEvents(t, "WaitEnd", []stream.Event{got}, []stream.Event{want})
	case <-time.After(20 * time.Second):
		t.Fatal("WaitEnd did not return after the terminal event")
	}
}
