package stream

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Defaults for a zero [LogConfig].
const (
	DefaultMaxEvents = 10000
	DefaultMaxBytes  = 8 << 20
)

// LogConfig bounds the memory of one [Log]. The bound is a safety net: the
// engine enforces a call's own limits (events, output bytes) first, with
// proper failure codes, so set these above the capability's limits.
type LogConfig struct {
	// MaxEvents is the most events the log keeps, not counting the terminal
	// event. If zero, DefaultMaxEvents is used; if negative, there is no
	// limit.
	MaxEvents int

	// MaxBytes is the most bytes of event type and data the log keeps, not
	// counting the terminal event. If zero, DefaultMaxBytes is used; if
	// negative, there is no limit.
	MaxBytes int64
}

// Log is the event log of one call: it numbers the events it is given, keeps
// them all, and hands them to any number of subscribers, each reading at its
// own pace. It ends with the first terminal event. Readers never slow the
// producer: Append only takes a short lock, and a subscriber that falls
// behind reads the events it missed from the log itself.
//
// A Log is safe for concurrent use.
type Log struct {
	call      string
	base      uint64 // events before this sequence number are kept elsewhere (NewLogAt)
	maxEvents int    // < 0: no limit
	maxBytes  int64  // < 0: no limit

	mu       sync.Mutex
	events   []Event
	bytes    int64 // of event types and data, the terminal event's included
	terminal bool
	done     chan struct{}
	wake     chan struct{} // closed by the next Append; nil while nobody waits
	onEnd    []func()      // called once, after the terminal event is appended
	lost     error         // set by Abandon
}

// eventOverhead is what [Log.Size] counts for each event besides its type
// and data: the Event value and its share of the slice that holds it.
const eventOverhead = 128

// NewLog returns an empty log for the call with the given id.
func NewLog(callID string, cfg LogConfig) *Log { return NewLogAt(callID, 0, cfg) }

// NewLogAt returns an empty log whose first event is number after+1: a
// reader's copy of a call's log kept elsewhere, from the point it resumes
// at, which its owner fills with [Log.Put]. Subscribe to it after a
// sequence number of at least after.
func NewLogAt(callID string, after uint64, cfg LogConfig) *Log {
	l := &Log{
		call:      callID,
		base:      after,
		maxEvents: cfg.MaxEvents,
		maxBytes:  cfg.MaxBytes,
		done:      make(chan struct{}),
	}
	if l.maxEvents == 0 {
		l.maxEvents = DefaultMaxEvents
	}
	if l.maxBytes == 0 {
		l.maxBytes = DefaultMaxBytes
	}
	return l
}

// Call returns the id of the log's call.
func (l *Log) Call() string { return l.call }

// Append adds an event of type typ that happened at t, with the given data
// (a JSON value; empty means {}), and returns it with its sequence number.
// The data is copied and compacted.
//
// It fails with [ErrInvalidType] or [ErrInvalidData] for an event it cannot
// frame or that does not belong in a call's log (stream.error), with [ErrClosed] once the log holds a terminal event, and with
// [ErrFull] for a non-terminal event beyond the log's bound. A terminal
// event is always accepted, so a producer that gets ErrFull can still end the
// call (call.failed with output_limit, say).
func (l *Log) Append(typ string, t time.Time, data json.RawMessage) (Event, error) {
	return l.add(Event{Type: typ, Call: l.call, Time: t, Data: data})
}

// Put adds e, an event of the call numbered elsewhere, to a copy made by
// [NewLogAt]: e.Seq must be the next number, and e.Call the log's call.
// It checks and fails as Append does, and with [ErrOutOfOrder] for any
// other number or call.
func (l *Log) Put(e Event) error {
	_, err := l.add(e)
	return err
}

// Prepare returns the event Append would append now, numbered and with
// its data compacted, or the error Append would return; it appends nothing.
// A store that must keep an event elsewhere before its readers may see it
// prepares it, stores it, then Puts it: with one producer, Put then cannot
// fail.
func (l *Log) Prepare(typ string, t time.Time, data json.RawMessage) (Event, error) {
	return l.check(Event{Type: typ, Call: l.call, Time: t, Data: data})
}

// add appends e, numbering it if its Seq is 0 and else checking that Seq is
// the next number.
func (l *Log) add(e Event) (Event, error) {
	e, err := l.valid(e)
	if err != nil {
		return Event{}, err
	}
	terminal := IsTerminal(e.Type)
	l.mu.Lock()
	if e, err = l.next(e); err != nil {
		l.mu.Unlock()
		return Event{}, err
	}
	l.events = append(l.events, e)
	l.bytes += int64(len(e.Type) + len(e.Data))
	var onEnd []func()
	if terminal {
		l.terminal = true
		close(l.done)
		onEnd, l.onEnd = l.onEnd, nil
	}
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
	l.mu.Unlock()
	// Outside the lock: a registry's bookkeeping takes its own lock, and
	// holds it while it reads logs.
	for _, f := range onEnd {
		f()
	}
	return e, nil
}

// check validates e and returns it as the log would append it now:
// numbered (if its Seq is 0), in UTC, its data compacted.
func (l *Log) check(e Event) (Event, error) {
	e, err := l.valid(e)
	if err != nil {
		return Event{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next(e)
}

// valid checks what an event holds, and returns it in UTC with its data
// compacted.
func (l *Log) valid(e Event) (Event, error) {
	if err := checkType(e.Type); err != nil {
		return Event{}, err
	}
	if e.Type == TypeStreamError {
		return Event{}, fmt.Errorf("%w: %s concerns one subscription, not the call", ErrInvalidType, e.Type)
	}
	if e.Call != l.call {
		return Event{}, fmt.Errorf("%w: event of call %q in the log of %q", ErrOutOfOrder, e.Call, l.call)
	}
	data, err := normalizeData(e.Data)
	if err != nil {
		return Event{}, err
	}
	e.Time, e.Data = e.Time.UTC(), data
	return e, nil
}

// next returns e numbered (if its Seq is 0), or an error if it cannot come
// next in the log. The caller holds l.mu.
func (l *Log) next(e Event) (Event, error) {
	switch next := l.base + uint64(len(l.events)) + 1; {
	case l.terminal:
		return Event{}, ErrClosed
	case l.lost != nil:
		return Event{}, l.lost
	case e.Seq == 0:
		e.Seq = next
	case e.Seq != next:
		return Event{}, fmt.Errorf("%w: event %d where %d comes next", ErrOutOfOrder, e.Seq, next)
	}
	if !IsTerminal(e.Type) && l.over(int64(len(e.Type)+len(e.Data))) {
		return Event{}, ErrFull
	}
	return e, nil
}

// over reports whether one more event of size bytes would exceed the
// bounds. The caller holds l.mu.
func (l *Log) over(size int64) bool {
	return l.maxEvents >= 0 && len(l.events) >= l.maxEvents || l.maxBytes >= 0 && l.bytes+size > l.maxBytes
}

// whenEnded arranges for f to be called, once, on the goroutine that
// appends the terminal event, after it is appended. It reports false, and
// does not keep f, if the log has ended already.
func (l *Log) whenEnded(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.terminal {
		return false
	}
	l.onEnd = append(l.onEnd, f)
	return true
}

// Done returns a channel that is closed when the log receives its terminal
// event.
func (l *Log) Done() <-chan struct{} { return l.done }

// Terminal returns the terminal event, if the log has one.
func (l *Log) Terminal() (Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.terminal {
		return Event{}, false
	}
	return l.events[len(l.events)-1], true
}

// Size returns the memory the log's events hold, as a [Registry] counts it
// against its retention budgets: the bytes of their types and data, plus a
// fixed overhead per event for the rest of it.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes + int64(len(l.events))*eventOverhead
}

// Len returns the sequence number of the last event in the log: the number
// of events in it, unless it was made by NewLogAt.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.base) + len(l.events)
}

// Subscribe returns a subscription to the events with a sequence number
// greater than afterSeq: first those already in the log, then the others as
// they are appended, up to and including the terminal event. Pass 0 for the
// whole call, or the Last-Event-ID a client sends to resume. Subscribing
// after the terminal event is allowed: the events are replayed all the same.
func (l *Log) Subscribe(afterSeq uint64) *Subscription {
	return &Subscription{log: l, pos: afterSeq}
}

// Abandon ends the log without a terminal event, because the rest of the
// call can no longer be read from here: its store became unreachable, or
// another process ended the call. Readers get the events they have not
// read yet, then an error wrapping [ErrAbandoned] and cause; they resume
// elsewhere. Appends fail with it. Abandoning an ended log does nothing.
func (l *Log) Abandon(cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.terminal || l.lost != nil {
		return
	}
	l.lost = fmt.Errorf("%w: %w", ErrAbandoned, cause)
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// since returns the events after sequence number pos. If there are none it
// returns end: io.EOF when the log is over, the error of Abandon, or else
// nil and a channel closed by the next Append.
func (l *Log) since(pos uint64) (events []Event, wake <-chan struct{}, end error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := uint64(0)
	if pos > l.base {
		i = pos - l.base
	}
	if n := uint64(len(l.events)); i < n {
		// Events below len are never written again, so the caller may read
		// them without the lock; the capacity limit keeps it from appending.
		return l.events[i:n:n], nil, nil
	}
	switch {
	case l.terminal:
		return nil, nil, io.EOF
	case l.lost != nil:
		return nil, nil, l.lost
	}
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return nil, l.wake, nil
}
