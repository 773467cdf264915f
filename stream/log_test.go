package stream

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
)

// collect reads sub until io.EOF and returns the sequence numbers it got.
func collect(t *testing.T, ctx context.Context, sub *Subscription) []uint64 {
	t.Helper()
	var seqs []uint64
	for {
		e, err := sub.Next(ctx)
		if errors.Is(err, io.EOF) {
			return seqs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		seqs = append(seqs, e.Seq)
	}
}

// checkContiguous fails unless seqs is from, from+1, ..., to.
func checkContiguous(t *testing.T, seqs []uint64, from, to uint64) {
	t.Helper()
	want := 0
	if from <= to {
		want = int(to - from + 1)
	}
	if len(seqs) != want {
		t.Fatalf("got %d events (%v...), want %d..%d", len(seqs), seqs[:min(len(seqs), 5)], from, to)
	}
	for i, s := range seqs {
		if s != from+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d", i, s, from+uint64(i))
		}
	}
}

func TestLogAppend(t *testing.T) {
	l := NewLog("c1", LogConfig{})
	for i, typ := range []string{"call.started", "host.log", "host.progress"} {
		e, err := l.Append(typ, t0.Local(), json.RawMessage(`{ "i": 1 }`))
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) || e.Call != "c1" || e.Type != typ || e.Time.Location() != time.UTC || string(e.Data) != `{"i":1}` {
			t.Fatalf("Append #%d = %+v", i, e)
		}
	}
	if _, ok := l.Terminal(); ok {
		t.Fatal("Terminal before the terminal event")
	}
	select {
	case <-l.Done():
		t.Fatal("Done before the terminal event")
	default:
	}
	term, err := l.Append("call.completed", t0, nil)
	if err != nil || term.Seq != 4 || string(term.Data) != "{}" {
		t.Fatalf("terminal = %+v, %v", term, err)
	}
	<-l.Done()
	if got, ok := l.Terminal(); !ok || got.Seq != 4 {
		t.Fatalf("Terminal = %+v, %v", got, ok)
	}
	for _, typ := range []string{"host.log", "call.failed"} {
		if _, err := l.Append(typ, t0, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Append(%s) after terminal: err = %v, want ErrClosed", typ, err)
		}
	}
	if l.Len() != 4 {
		t.Errorf("Len = %d, want 4", l.Len())
	}
}

func TestLogAppendInvalid(t *testing.T) {
	tests := []struct {
		name, typ, data string
		want            error
	}{
		{"empty type", "", `{}`, ErrInvalidType},
		{"space in type", "host log", `{}`, ErrInvalidType},
		{"newline in type", "host.log\ndata: x", `{}`, ErrInvalidType},
		{"non-ASCII type", "hôst.log", `{}`, ErrInvalidType},
		{"stream.error", "stream.error", `{"code":"token_expired"}`, ErrInvalidType},
		{"invalid JSON", "host.log", `{"a"}`, ErrInvalidData},
		{"two values", "host.log", `{} {}`, ErrInvalidData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLog("c1", LogConfig{})
			if _, err := l.Append(tt.typ, t0, json.RawMessage(tt.data)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if l.Len() != 0 {
				t.Fatal("a refused event was kept")
			}
		})
	}
}

func TestLogBound(t *testing.T) {
	data := json.RawMessage(`{"m":"0123456789"}`) // 18 bytes, +8 for "host.log"
	tests := []struct {
		name      string
		cfg       LogConfig
		wantKept  int
		wantFull  bool
		appending int
	}{
		{"events", LogConfig{MaxEvents: 3}, 3, true, 5},
		{"bytes", LogConfig{MaxBytes: 26*2 + 25}, 2, true, 5},
		{"bytes exact", LogConfig{MaxBytes: 26 * 2}, 2, true, 5},
		{"defaults", LogConfig{}, 100, false, 100},
		{"no limit", LogConfig{MaxEvents: -1, MaxBytes: -1}, DefaultMaxEvents + 1, false, DefaultMaxEvents + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLog("c1", tt.cfg)
			var full error
			for range tt.appending {
				if _, err := l.Append("host.log", t0, data); err != nil {
					full = err
				}
			}
			if tt.wantFull != errors.Is(full, ErrFull) || (!tt.wantFull && full != nil) {
				t.Fatalf("err = %v, want ErrFull: %v", full, tt.wantFull)
			}
			if l.Len() != tt.wantKept {
				t.Fatalf("Len = %d, want %d", l.Len(), tt.wantKept)
			}
			// The terminal event always goes in, however big.
			big := json.RawMessage(`{"output":"` + strings.Repeat("x", 1000) + `"}`)
			if e, err := l.Append("call.failed", t0, big); err != nil || e.Seq != uint64(tt.wantKept+1) {
				t.Fatalf("terminal: %+v, %v", e.Seq, err)
			}
		})
	}
}

func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	l := NewLog("c1", LogConfig{})
	for range 5 {
		l.Append("host.log", t0, nil)
	}
	tests := []struct {
		name     string
		after    uint64
		from, to uint64
	}{
		{"from the start", 0, 1, 6},
		{"resume", 3, 4, 6},
		{"after the last", 5, 6, 6},
		{"after the terminal", 6, 7, 6},
		{"beyond", 100, 101, 6},
	}
	subs := make([]*Subscription, len(tests))
	for i, tt := range tests {
		subs[i] = l.Subscribe(tt.after)
	}
	l.Append("call.completed", t0, nil)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkContiguous(t, collect(t, ctx, subs[i]), tt.from, tt.to)
			// Subscribing after the end replays the same.
			checkContiguous(t, collect(t, ctx, l.Subscribe(tt.after)), tt.from, tt.to)
			if _, err := subs[i].Next(ctx); !errors.Is(err, io.EOF) {
				t.Fatalf("Next after EOF: %v", err)
			}
		})
	}
}

func TestSubscriptionNextContext(t *testing.T) {
	l := NewLog("c1", LogConfig{})
	sub := l.Subscribe(0)
	cause := errors.New("token expired")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	if _, err := sub.Next(ctx); !errors.Is(err, cause) {
		t.Fatalf("Next on a done context: %v, want the cause", err)
	}
	// A later call picks up where it stopped.
	l.Append("host.log", t0, nil)
	if e, err := sub.Next(context.Background()); err != nil || e.Seq != 1 {
		t.Fatalf("Next = %d, %v", e.Seq, err)
	}
	if sub.LastSeq() != 1 {
		t.Fatalf("LastSeq = %d", sub.LastSeq())
	}
}

// TestLogHammer subscribes at random points while several producers append:
// every subscriber must see every event after its starting point exactly
// once, in order, ending with the terminal event.
func TestLogHammer(t *testing.T) {
	const producers, perProducer, subscribers = 4, 500, 32
	l := NewLog("c1", LogConfig{MaxEvents: -1})
	ctx := context.Background()

	var prod sync.WaitGroup
	for p := range producers {
		prod.Go(func() {
			for i := range perProducer {
				if _, err := l.Append("host.log", t0, json.RawMessage(fmt.Sprintf(`{"p":%d,"i":%d}`, p, i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		prod.Wait()
		l.Append("call.completed", t0, nil)
		close(done)
	}()

	var subs sync.WaitGroup
	for s := range subscribers {
		subs.Go(func() {
			after := uint64(l.Len()) // somewhere in the appends, or after them
			if s%4 == 0 && after > 0 {
				after -= uint64(s) % after // resume a little behind
			}
			sub := l.Subscribe(after)
			var seqs []uint64
			var last Event
			for {
				e, err := sub.Next(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Error(err)
					return
				}
				seqs = append(seqs, e.Seq)
				last = e
			}
			if len(seqs) > 0 && !IsTerminal(last.Type) {
				t.Errorf("subscriber %d: last event %q", s, last.Type)
			}
			checkContiguous(t, seqs, after+1, producers*perProducer+1)
		})
	}
	subs.Wait()
	<-done
}
