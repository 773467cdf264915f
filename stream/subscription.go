package stream

import (
	"context"
)

// Subscription is one reader's position in a [Log]. It holds no resources
// and needs no closing: drop it when done. A reader that falls behind costs
// the producer nothing, since the events it has not read yet are the log's
// own.
//
// A Subscription is for one goroutine at a time.
type Subscription struct {
	log *Log
	pos uint64 // sequence number of the last event delivered
}

// Next returns the next event, waiting for it if need be. After the
// terminal event it returns io.EOF; after the last event of an abandoned
// log, an error wrapping ErrAbandoned (see [Log.Abandon]). If ctx is done first it returns
// context.Cause(ctx), and a later call picks up where this one stopped.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		events, wake, end := s.log.since(s.pos)
		if len(events) > 0 {
			s.pos++
			return events[0], nil
		}
		if end != nil {
			return Event{}, end
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Event{}, context.Cause(ctx)
		}
	}
}

// Call returns the id of the call it follows.
func (s *Subscription) Call() string { return s.log.Call() }

// LastSeq returns the sequence number of the last event delivered, or the
// afterSeq it started from: what a client would send as Last-Event-ID.
func (s *Subscription) LastSeq() uint64 { return s.pos }
