// Package stream records the events of one call and delivers them as
// Server-Sent Events.
//
// It knows nothing of WebAssembly, of the engine or of authentication: a
// producer appends events to a call's [Log]; any number of readers replay and
// follow it through a [Subscription]; a [Writer] frames them on an
// http.ResponseWriter; a [Registry] keeps finished calls replayable for a
// retention period.
//
// # Wire format
//
// A stream opens with "retry: 2000" and a ": ok" comment. Each event is
//
//	id: 3
//	event: host.log
//	data: {"type":"host.log","call":"c1","seq":3,"time":"2025-01-02T03:04:05.000Z","data":{"level":"info","message":"hi"}}
//
// followed by a blank line. Ids are the event's sequence number within its
// call: 1, 2, 3, ... with no gaps, so a client that reconnects with
// Last-Event-ID resumes exactly where it stopped. Events that belong to one
// subscription rather than to the call (stream.error) carry no id, so they
// never move a client's Last-Event-ID. While nothing happens a ": ping"
// comment is written every 15 seconds.
//
// # Serving a call
//
// A handler that has already authenticated the viewer streams a call like
// this; a viewer whose token expires is ended with a stream.error event:
//
//	sub := log.Subscribe(lastEventID)
//	w, err := stream.NewWriter(rw, stream.WriterConfig{})
//	if err != nil {
//		return
//	}
//	ctx, cancel := context.WithDeadlineCause(r.Context(), tokenExpiry, errTokenExpired)
//	defer cancel()
//	if err := w.Serve(ctx, sub); errors.Is(err, errTokenExpired) {
//		w.Event(stream.ErrorEvent(callID, "token_expired", "token expired", time.Now()))
//	}
//
// An EventSource reconnects whenever a stream ends, so clients close it on
// the terminal event. A handler asked to resume after the terminal event
// (Last-Event-ID ≥ the terminal event's Seq, see [Log.Terminal]) may answer
// 204 No Content instead, which makes an EventSource stop.
package stream
