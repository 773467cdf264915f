package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Meta says whose a call is and what it runs: what a reader checks before
// it may see the call's events.
type Meta struct {
	Call  string
	Owner string // the subject who started it
	Tool  string
}

// Appender is where a call's producer writes its events, with the
// semantics of [Log.Append].
type Appender interface {
	Append(typ string, t time.Time, data json.RawMessage) (Event, error)
}

// Store keeps the event logs of calls: where the producer of a call run by
// this process writes its events, and where a reader finds any call's
// events, wherever it runs.
//
// capstream has two: [MemoryStore], the single-node default, and a
// JetStream stream shared by the replicas of a cluster (internal/cluster).
// Both pass one conformance suite (stream/storetest), which states the
// contract: events are numbered 1, 2, 3 ... with no gaps, the first
// terminal event ends a log and is always accepted, a reader resumes after
// any sequence number, and a reader only ever sees events the store keeps.
type Store interface {
	// Create registers the log of a new call that this process runs, under
	// log.Call(), which must be a ValidCallID. log is where this process's readers follow the call: a
	// store appends to it the events it has stored, in order. Create
	// returns where the producer appends them. It fails with
	// ErrDuplicateCall for a call id the store holds already.
	Create(ctx context.Context, m Meta, log *Log) (Appender, error)

	// Open returns a call's log as a reader sees it, or an error wrapping
	// ErrNotFound for a call the store does not hold (unknown, or past its
	// retention).
	Open(ctx context.Context, callID string) (Source, error)
}

// Source is a call's log as one reader sees it when it opens it.
type Source interface {
	Meta() Meta

	// Status returns the sequence number of the last event and, if the call
	// has ended, its terminal event, as of when the log was opened or
	// last followed to its end.
	Status() (last uint64, terminal *Event)

	// Follow returns a subscription to the events after sequence number
	// after, live until the terminal event. Work it does in the background
	// (reading from another process) stops when ctx is done; Next calls
	// given a later context still get the events read by then.
	Follow(ctx context.Context, after uint64) (*Subscription, error)
}

// WaitEnd follows r to its terminal event and returns it, or ctx's cause.
func WaitEnd(ctx context.Context, r Source) (Event, error) {
	last, term := r.Status()
	if term != nil {
		return *term, nil
	}
	sub, err := r.Follow(ctx, last)
	if err != nil {
		return Event{}, err
	}
	var e Event
	for {
		next, err := sub.Next(ctx)
		if err == io.EOF {
			return e, nil
		}
		if err != nil {
			return Event{}, err
		}
		e = next
	}
}

// ValidCallID reports whether id can be a call's id: 1 to 64 ASCII
// letters, digits, '-' or '_'. A store refuses to create any other, and
// finds none: such an id can name a file, a key or a message subject
// without escaping.
func ValidCallID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// MemoryStore is a [Store] in this process's memory: a [Registry] of the
// logs themselves. Its readers follow the producer's own log.
type MemoryStore struct {
	Registry *Registry
}

// Create registers log in the registry; the producer appends to it
// directly.
func (m MemoryStore) Create(_ context.Context, meta Meta, log *Log) (Appender, error) {
	if !ValidCallID(meta.Call) || meta.Call != log.Call() {
		return nil, fmt.Errorf("%w: call id %q for the log of %q", ErrInvalidCallID, meta.Call, log.Call())
	}
	if err := m.Registry.Add(Entry{Owner: meta.Owner, Tool: meta.Tool, Log: log}); err != nil {
		return nil, err
	}
	return log, nil
}

// Open returns the registered call.
func (m MemoryStore) Open(_ context.Context, callID string) (Source, error) {
	if !ValidCallID(callID) {
		return nil, ErrNotFound
	}
	e, ok := m.Registry.Get(callID)
	if !ok {
		return nil, ErrNotFound
	}
	return e, nil
}

// Meta returns the call's id, owner and tool.
func (e Entry) Meta() Meta { return Meta{Call: e.Log.Call(), Owner: e.Owner, Tool: e.Tool} }

// Status returns the log's last sequence number and terminal event now.
func (e Entry) Status() (uint64, *Event) {
	l := e.Log
	l.mu.Lock()
	defer l.mu.Unlock()
	last := l.base + uint64(len(l.events))
	if !l.terminal {
		return last, nil
	}
	term := l.events[len(l.events)-1]
	return last, &term
}

// Follow subscribes to the log.
func (e Entry) Follow(_ context.Context, after uint64) (*Subscription, error) {
	return e.Log.Subscribe(after), nil
}
