package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/capstream/capstream/stream"
)

// CallsStream is the JetStream stream of every call's events.
const CallsStream = "CAPSTREAM_CALLS"

// Subjects: a call's events are stored on cs.call.<id> and republished,
// once stored, on cs.live.<id> for the readers that follow it live.
const (
	callPrefix = "cs.call."
	livePrefix = "cs.live."
)

// The headers of a stored event; its data is the message's body.
const (
	hSeq   = "Cs-Seq"   // the event's number in its call: 1, 2, 3 ...
	hType  = "Cs-Type"  // call.started, host.log, ...
	hTime  = "Cs-Time"  // RFC 3339, nanoseconds
	hOwner = "Cs-Owner" // the subject who started the call
	hTool  = "Cs-Tool"
	hNode  = "Cs-Node" // the replica that wrote it
	hPrev  = "Cs-Prev" // the stream sequence of the call's previous event; 0 for the first
	// hWriter is random for each writer of a call's events (its owner's
	// appender, or one EndLost), so that a writer that lost an ack knows
	// its own event when it reads it back.
	hWriter = "Cs-Writer"
)

// CallsConfig configures the shared call-event log.
type CallsConfig struct {
	// Node names this replica in what it writes.
	Node string
	// Replicas is the stream's replication factor. Zero: 1.
	Replicas int
	// MaxAge is how long an event is kept: at least the longest call plus
	// the retention of finished calls. Zero: 70 minutes.
	MaxAge time.Duration
	// Timeout bounds one request to JetStream: an append unanswered that
	// long is read back and retried, which is how a writer moves on to a
	// newly elected leader. Zero: 2s.
	Timeout time.Duration
	// AppendBudget is how long an append retries while JetStream does not
	// answer (a leader election takes up to about 10s) before the call's
	// log is given up here. Zero: 30s.
	AppendBudget time.Duration
	// Poll is how often a quiet remote reader checks the store for events
	// it may have missed live. Zero: 2s.
	Poll time.Duration
	// Metrics receives the append latency. Nil: kept, not exported.
	Metrics *Metrics
}

// Calls is the call-event log in a JetStream stream shared by the
// replicas: a stream.Store.
//
// A replica appends the events of the calls it runs, each with a
// compare-and-set on the stream sequence of the call's previous event, and
// only then hands the event to its own readers (the local log). So no
// reader anywhere sees an event the store does not hold, and once another
// replica has ended a call (call.failed node_lost, written when this one
// was presumed dead) every later append of this one fails: it is fenced.
//
// A reader on another replica reads the stored events from the stream's
// leader, then follows the republished ones, filling any gap from the
// store.
type Calls struct {
	js    jetstream.JetStream
	st    jetstream.Stream
	local stream.MemoryStore
	cfg   CallsConfig
}

// OpenCalls creates the stream if it does not exist, or brings it to cfg.
// local keeps the logs of this replica's calls for its own readers.
func OpenCalls(ctx context.Context, js jetstream.JetStream, local *stream.Registry, cfg CallsConfig) (*Calls, error) {
	if !validToken(cfg.Node) {
		return nil, fmt.Errorf("cluster: node id %q must be 1 to 64 letters, digits, - or _", cfg.Node)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 70 * time.Minute
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.AppendBudget == 0 {
		cfg.AppendBudget = 30 * time.Second
	}
	if cfg.Poll == 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	st, err := createOrUpdateStream(ctx, js, jetstream.StreamConfig{
		Name:              CallsStream,
		Subjects:          []string{callPrefix + "*"},
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
		MaxAge:            cfg.MaxAge,
		Discard:           jetstream.DiscardOld,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		Duplicates:        min(cfg.MaxAge, time.Second), // no message ids are used
		RePublish:         &jetstream.RePublish{Source: callPrefix + ">", Destination: livePrefix + ">"},
		// Reads go to the leader: a follower may lag, and a reader must
		// not conclude that a call does not exist, or has no more events,
		// from a lagging copy.
		AllowDirect: false,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: creating the %s stream: %w", CallsStream, err)
	}
	return &Calls{js: js, st: st, local: stream.MemoryStore{Registry: local}, cfg: cfg}, nil
}

// validToken reports whether s can be one token of a NATS subject as
// capstream makes them, from call ids and node ids.
func validToken(s string) bool { return stream.ValidCallID(s) }

// Create registers log as the local log of a call this replica runs.
func (c *Calls) Create(ctx context.Context, m stream.Meta, log *stream.Log) (stream.Appender, error) {
	if _, err := c.local.Create(ctx, m, log); err != nil {
		return nil, err
	}
	return &appender{c: c, log: log, meta: m, writer: rand.Text()[:16]}, nil
}

// appender stores a call's events, then appends them to its local log. It
// is used by the call's one producer.
type appender struct {
	c      *Calls
	log    *stream.Log
	meta   stream.Meta
	writer string
	prev   uint64 // stream sequence of the last event stored; 0 before the first
}

func (a *appender) Append(typ string, t time.Time, data json.RawMessage) (stream.Event, error) {
	e, err := a.log.Prepare(typ, t, data)
	if err != nil {
		return stream.Event{}, err
	}
	start := time.Now()
	seq, err := a.c.publish(a.c.message(e, a.meta, a.prev, a.writer), e, a.prev)
	a.c.cfg.Metrics.appendSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		// The rest of the call cannot be stored from here: this replica's
		// readers are told to resume elsewhere, and a later Open reads the
		// store, where whoever ends the call writes its terminal event.
		a.log.Abandon(err)
		a.c.local.Registry.Remove(a.meta.Call)
		return stream.Event{}, err
	}
	a.prev = seq
	if err := a.log.Put(e); err != nil {
		return stream.Event{}, err // not with one producer
	}
	return e, nil
}

// message is e as stored.
func (c *Calls) message(e stream.Event, m stream.Meta, prev uint64, writer string) *nats.Msg {
	msg := nats.NewMsg(callPrefix + e.Call)
	msg.Header.Set(hSeq, strconv.FormatUint(e.Seq, 10))
	msg.Header.Set(hType, e.Type)
	msg.Header.Set(hTime, e.Time.UTC().Format(time.RFC3339Nano))
	msg.Header.Set(hOwner, m.Owner)
	msg.Header.Set(hTool, m.Tool)
	msg.Header.Set(hNode, c.cfg.Node)
	msg.Header.Set(hPrev, strconv.FormatUint(prev, 10))
	msg.Header.Set(hWriter, writer)
	msg.Data = e.Data
	return msg
}

// publish stores e if the call's last stored event is still at stream
// sequence prev, and returns e's stream sequence. After a failed attempt
// it reads back the call's last event: if it is e, written by this writer
// (an attempt whose ack was lost), it is done; if another writer appended
// after prev, it fails wrapping stream.ErrFenced; if the last event is
// still the one at prev, the attempt may be in flight or lost (a
// replicated stream also refuses an append while another of the subject is
// in flight), so it tries again, within the append budget.
func (c *Calls) publish(msg *nats.Msg, e stream.Event, prev uint64) (uint64, error) {
	writer := msg.Header.Get(hWriter)
	deadline := time.Now().Add(c.cfg.AppendBudget)
	backoff := 20 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		ack, err := c.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(prev))
		cancel()
		if err == nil {
			return ack.Sequence, nil
		}
		last, ours, rerr := c.lastWrite(e.Call, writer, e.Seq)
		switch {
		case rerr == nil && ours:
			return last, nil
		case rerr == nil && last != prev:
			return 0, fmt.Errorf("%w: event %d of %s: %w", stream.ErrFenced, e.Seq, e.Call, err)
		case time.Now().After(deadline):
			return 0, fmt.Errorf("cluster: storing event %d of %s: %w", e.Seq, e.Call, err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
}

// lastWrite reads the call's last stored event and reports its stream
// sequence (0 if the call has none) and whether it is event seq of writer.
func (c *Calls) lastWrite(id, writer string, seq uint64) (uint64, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	m, err := c.st.GetLastMsgForSubject(ctx, callPrefix+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return m.Sequence, m.Header.Get(hWriter) == writer && m.Header.Get(hSeq) == strconv.FormatUint(seq, 10), nil
}

// stored is an event read from the store, with where it is.
type stored struct {
	ev        stream.Event
	meta      stream.Meta
	seq, prev uint64 // its stream sequence, and its predecessor's
}

// decode reads an event of call id from a message's headers and body.
func decode(id string, h nats.Header, data []byte) (stream.Event, stream.Meta, error) {
	seq, err := strconv.ParseUint(h.Get(hSeq), 10, 64)
	if err != nil || seq == 0 {
		return stream.Event{}, stream.Meta{}, fmt.Errorf("cluster: a message of call %s has no event number", id)
	}
	t, err := time.Parse(time.RFC3339Nano, h.Get(hTime))
	if err != nil {
		return stream.Event{}, stream.Meta{}, fmt.Errorf("cluster: event %d of call %s has no time", seq, id)
	}
	ev := stream.Event{Type: h.Get(hType), Call: id, Seq: seq, Time: t, Data: data}
	return ev, stream.Meta{Call: id, Owner: h.Get(hOwner), Tool: h.Get(hTool)}, nil
}

func (c *Calls) read(ctx context.Context, id string, m *jetstream.RawStreamMsg) (stored, error) {
	ev, meta, err := decode(id, m.Header, m.Data)
	if err != nil {
		return stored{}, err
	}
	prev, _ := strconv.ParseUint(m.Header.Get(hPrev), 10, 64)
	return stored{ev: ev, meta: meta, seq: m.Sequence, prev: prev}, nil
}

// last reads a call's last stored event from the leader.
func (c *Calls) last(ctx context.Context, id string) (stored, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	m, err := c.st.GetLastMsgForSubject(ctx, callPrefix+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return stored{}, stream.ErrNotFound
	}
	if err != nil {
		return stored{}, err
	}
	return c.read(ctx, id, m)
}

// at reads the message at a stream sequence, which must be an event of id.
func (c *Calls) at(ctx context.Context, id string, seq uint64) (stored, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	m, err := c.st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return stored{}, fmt.Errorf("%w: an event of call %s is past the store's retention", stream.ErrNotFound, id)
	}
	if err != nil {
		return stored{}, err
	}
	if m.Subject != callPrefix+id {
		return stored{}, fmt.Errorf("cluster: stream sequence %d is not an event of call %s", seq, id)
	}
	return c.read(ctx, id, m)
}

// Open returns a call's log: this replica's own, or else as stored.
func (c *Calls) Open(ctx context.Context, id string) (stream.Source, error) {
	if !validToken(id) {
		return nil, stream.ErrNotFound
	}
	if src, err := c.local.Open(ctx, id); err == nil {
		return src, nil
	}
	last, err := c.last(ctx, id)
	if err != nil {
		return nil, err
	}
	r := &remote{c: c, meta: last.meta, last: last}
	return r, nil
}

// remote is a call's log as stored, opened on a replica that does not run
// it.
type remote struct {
	c    *Calls
	meta stream.Meta
	last stored
}

func (r *remote) Meta() stream.Meta { return r.meta }

func (r *remote) Status() (uint64, *stream.Event) {
	if stream.IsTerminal(r.last.ev.Type) {
		ev := r.last.ev
		return ev.Seq, &ev
	}
	return r.last.ev.Seq, nil
}

// Follow copies the call's events after `after` into a log of this
// process, in order, until the terminal event or ctx is done; the
// subscription reads that copy. If the store fails, the copy is abandoned
// and the reader told to resume.
func (r *remote) Follow(ctx context.Context, after uint64) (*stream.Subscription, error) {
	// The copy starts at most at the last event stored when the call was
	// opened, which it includes: a reader asking for more (after the
	// terminal event, say) then ends as it would on a local log.
	base := min(after, r.last.ev.Seq-1)
	mirror := stream.NewLogAt(r.meta.Call, base, stream.LogConfig{MaxEvents: -1, MaxBytes: -1})
	live := make(chan *nats.Msg, 256)
	sub, err := r.c.js.Conn().ChanSubscribe(livePrefix+r.meta.Call, live)
	if err != nil {
		return nil, err
	}
	f := &follower{c: r.c, id: r.meta.Call, copy: mirror, next: base + 1}
	go func() {
		defer sub.Unsubscribe()
		if err := f.run(ctx, live); err != nil && ctx.Err() == nil {
			mirror.Abandon(err)
		}
	}()
	return mirror.Subscribe(after), nil
}

// follower fills a reader's copy of a remote call's log.
type follower struct {
	c    *Calls
	id   string
	copy *stream.Log
	next uint64 // the number of the next event to copy
	at   uint64 // the stream sequence of the last event copied; 0 if unknown
	done bool
}

func (f *follower) run(ctx context.Context, live <-chan *nats.Msg) error {
	// Subscribed first, then read: an event stored in between is in both.
	if err := f.catchUp(ctx); err != nil {
		return err
	}
	poll := time.NewTimer(f.c.cfg.Poll)
	defer poll.Stop()
	for !f.done {
		select {
		case <-ctx.Done():
			return nil
		case m := <-live:
			ev, _, err := decode(f.id, m.Header, m.Data)
			switch {
			case err != nil:
				return err
			case ev.Seq < f.next:
			case ev.Seq == f.next:
				at, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
				if err := f.put(ev, at); err != nil {
					return err
				}
			default: // missed live (a slow reader drops): read the store
				if err := f.catchUp(ctx); err != nil {
					return err
				}
			}
		case <-poll.C:
			// Quiet: a republished event can be lost where a stored one
			// cannot, so look.
			if err := f.catchUp(ctx); err != nil {
				return err
			}
		}
		poll.Reset(f.c.cfg.Poll)
	}
	return nil
}

// put copies ev, stored at stream sequence at (0: unknown).
func (f *follower) put(ev stream.Event, at uint64) error {
	if err := f.copy.Put(ev); err != nil {
		return err
	}
	f.next++
	f.at = at
	f.done = stream.IsTerminal(ev.Type)
	return nil
}

// catchUp copies the stored events from f.next on, up to the call's last
// event, which it reads from the leader. It reads forward, copying each
// event as it comes, when it knows where the next one is (from the call's
// start, or after an event it copied), or when fewer events lie before it
// than after; otherwise it walks back from the last, each event naming its
// predecessor.
func (f *follower) catchUp(ctx context.Context) error {
	last, err := f.c.last(ctx, f.id)
	if err != nil {
		return err
	}
	if last.ev.Seq < f.next {
		return nil
	}
	if f.at > 0 || f.next == 1 || f.next-1 < last.ev.Seq-f.next {
		return f.forward(ctx, last)
	}
	return f.backward(ctx, last)
}

// forward copies events by reading the call's subject from f.at on.
func (f *follower) forward(ctx context.Context, last stored) error {
	from := f.at + 1
	for !f.done && f.next <= last.ev.Seq {
		s, err := f.c.nextFrom(ctx, f.id, from)
		if err != nil {
			return err
		}
		switch {
		case s.ev.Seq < f.next: // before where this reader starts
		case s.ev.Seq == f.next:
			if err := f.put(s.ev, s.seq); err != nil {
				return err
			}
		default:
			return fmt.Errorf("cluster: event %d of call %s follows %d: the events between are past retention", s.ev.Seq, f.id, f.next-1)
		}
		from = s.seq + 1
	}
	return nil
}

// backward walks back from the last event to the next one wanted.
func (f *follower) backward(ctx context.Context, cur stored) error {
	var err error
	var back []stored
	for cur.ev.Seq >= f.next {
		back = append(back, cur)
		if cur.ev.Seq == f.next {
			break
		}
		if cur.prev == 0 {
			return fmt.Errorf("cluster: event %d of call %s names no predecessor", cur.ev.Seq, f.id)
		}
		if cur, err = f.c.at(ctx, f.id, cur.prev); err != nil {
			return err
		}
	}
	for i := len(back) - 1; i >= 0 && !f.done; i-- {
		if err := f.put(back[i].ev, back[i].seq); err != nil {
			return err
		}
	}
	return nil
}

// nextFrom reads, from the leader, the call's first event stored at or
// after stream sequence from.
func (c *Calls) nextFrom(ctx context.Context, id string, from uint64) (stored, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	m, err := c.st.GetMsg(ctx, max(from, 1), jetstream.WithGetMsgSubject(callPrefix+id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return stored{}, fmt.Errorf("%w: call %s has no event after stream sequence %d", stream.ErrNotFound, id, from)
	}
	if err != nil {
		return stored{}, err
	}
	return c.read(ctx, id, m)
}

// EndLost ends a call that was running on a replica found dead with
// call.failed node_lost, unless its log has ended already; it reports
// whether it wrote the terminal event. m names the call in case it has no
// event yet. Several replicas may race to do it: exactly one succeeds.
func (c *Calls) EndLost(ctx context.Context, m stream.Meta, node string) (bool, error) {
	if !validToken(m.Call) {
		return false, fmt.Errorf("cluster: call id %q cannot name a subject", m.Call)
	}
	for {
		last, err := c.last(ctx, m.Call)
		var prev uint64
		var started time.Time
		switch {
		case errors.Is(err, stream.ErrNotFound): // it died before its first event
		case err != nil:
			return false, err
		case stream.IsTerminal(last.ev.Type):
			return false, nil
		default:
			prev, m = last.seq, last.meta
			if first, err := c.first(ctx, last); err == nil {
				started = first.ev.Time
			}
		}
		now := time.Now().UTC()
		data := lostData(node, started, now)
		e := stream.Event{Type: stream.TypeFailed, Call: m.Call, Seq: last.ev.Seq + 1, Time: now, Data: data}
		_, err = c.publish(c.message(e, m, prev, rand.Text()[:16]), e, prev)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, stream.ErrFenced):
			continue // its owner or another replica wrote meanwhile: look again
		default:
			return false, err
		}
	}
}

// first walks back from an event to the call's first one.
func (c *Calls) first(ctx context.Context, s stored) (stored, error) {
	for s.ev.Seq > 1 {
		var err error
		if s, err = c.at(ctx, s.ev.Call, s.prev); err != nil {
			return stored{}, err
		}
	}
	return s, nil
}

// lostData is the data of call.failed node_lost. It has no usage: the
// replica that counted it is gone.
func lostData(node string, started, now time.Time) json.RawMessage {
	d := struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		DurationMs int64 `json:"durationMs"`
	}{}
	d.Error.Code = "node_lost"
	d.Error.Message = "the replica running the call (" + node + ") stopped; the call may have done part of its work, and is not run again"
	if !started.IsZero() {
		d.DurationMs = now.Sub(started).Milliseconds()
	}
	b, _ := json.Marshal(d)
	return b
}
