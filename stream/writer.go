package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults for a zero [WriterConfig].
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultRetry        = 2 * time.Second
)

// WriterConfig configures a [Writer]. Negative durations are invalid.
type WriterConfig struct {
	// Heartbeat is how long Serve lets the stream sit idle before it writes
	// a ": ping" comment. If zero, DefaultHeartbeat is used.
	Heartbeat time.Duration

	// WriteTimeout bounds each write and flush on its own; the deadline is
	// set before a write and cleared after it, never for the whole stream.
	// If zero, DefaultWriteTimeout is used.
	WriteTimeout time.Duration

	// Retry is the reconnection delay announced to the client, in whole
	// milliseconds. If zero, DefaultRetry is used.
	Retry time.Duration
}

// Writer writes Server-Sent Events to an http.ResponseWriter. It reaches the connection through http.NewResponseController, so any
// wrapper of the ResponseWriter must implement Unwrap.
//
// The first write or flush error ends the stream: it is returned, and every
// later call returns it again. A Writer is for one goroutine at a time and
// must not be used after the handler has returned.
type Writer struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	cfg       WriterConfig
	deadlines bool // false once SetWriteDeadline turned out unsupported
	unflushed bool // written since the last flush
	buf       []byte
	err       error
}

// NewWriter sets the response headers of an event stream on w and writes
// the status (200), the retry interval and a ": ok" comment. It must be
// called before anything else is written to w. Headers already set are
// kept, except Content-Encoding and Content-Length, which would break the
// stream.
//
// What NewWriter writes goes out with the first flush: Serve's, at once,
// together with the events ready by then, so that a call's first events
// reach the connection in the same write as the response headers; or
// Event's or Comment's. Call one of the three before the handler returns:
// until the first flush, the connection keeps the write deadline that
// NewWriter set.
//
// It fails if cfg is invalid (having written nothing), if w cannot flush
// (the error wraps http.ErrNotSupported), or if the first write fails.
func NewWriter(w http.ResponseWriter, cfg WriterConfig) (*Writer, error) {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Heartbeat", &cfg.Heartbeat, DefaultHeartbeat},
		{"WriteTimeout", &cfg.WriteTimeout, DefaultWriteTimeout},
		{"Retry", &cfg.Retry, DefaultRetry},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("%w: negative %s %v", ErrInvalidConfig, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Encoding")
	h.Del("Content-Length")

	if !canFlush(w) {
		return nil, fmt.Errorf("stream: writing: the ResponseWriter cannot flush: %w", http.ErrNotSupported)
	}
	sw := &Writer{w: w, rc: http.NewResponseController(w), cfg: cfg, deadlines: true}
	if err := sw.setDeadline(time.Now().Add(cfg.WriteTimeout)); err != nil {
		return nil, sw.fail(err)
	}
	w.WriteHeader(http.StatusOK)
	sw.buf = fmt.Appendf(sw.buf[:0], "retry: %d\n: ok\n\n", cfg.Retry.Milliseconds())
	if err := sw.write(sw.buf); err != nil {
		return nil, err
	}
	return sw, nil
}

// canFlush reports whether http.ResponseController can flush w: whether w,
// or a ResponseWriter it unwraps to, has a Flush or FlushError method.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// Event writes e as one SSE event and flushes it:
//
//	id: <seq>
//	event: <type>
//	data: <the JSON envelope, on one line>
//
// and a blank line. The id line is left out when e.Seq is zero, so events
// outside the call's log never move the client's Last-Event-ID. It fails with
// [ErrInvalidType] or [ErrInvalidData], having written nothing, for an event
// it cannot frame.
func (w *Writer) Event(e Event) error {
	if err := w.writeEvent(e); err != nil {
		return err
	}
	return w.flush()
}

// Comment writes an SSE comment and flushes it; line breaks in text start a
// new comment line. Serve uses it for the ": ping" heartbeat.
func (w *Writer) Comment(text string) error {
	w.buf = append(w.buf[:0], ": "...)
	w.buf = append(w.buf, commentLines.Replace(text)...)
	w.buf = append(w.buf, "\n\n"...)
	if err := w.write(w.buf); err != nil {
		return err
	}
	return w.flush()
}

var commentLines = strings.NewReplacer("\r\n", "\n: ", "\r", "\n: ", "\n", "\n: ")

// Serve writes the events of sub as they come (advancing sub as Next does),
// and a heartbeat whenever the
// stream has been idle for the configured interval, until one of:
//   - sub is past the terminal event, which Serve has written (or which sub
//     had already passed): it returns nil, and the handler returns to end
//     the response;
//   - ctx is done: it returns context.Cause(ctx), and the handler may still
//     write a last event (a stream.error, say) before returning;
//   - a write or flush fails: it returns that error.
//
// Events that are ready together are written together and flushed once;
// the first flush, at once, also carries what NewWriter wrote. Serve never
// returns with anything unflushed.
// To end one viewer's stream for a reason of its own (its token expires),
// give ctx a cause: context.WithDeadlineCause, context.WithCancelCause.
func (w *Writer) Serve(ctx context.Context, sub *Subscription) error {
	err := w.serve(ctx, sub)
	if w.unflushed {
		if ferr := w.flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (w *Writer) serve(ctx context.Context, sub *Subscription) error {
	heartbeat := time.NewTicker(w.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		events, wake, end := sub.log.since(sub.pos)
		switch {
		case end == io.EOF:
			return nil
		case end != nil:
			return end
		}
		// The frames of the events ready now, written in pieces of about
		// batchBytes (a replay of a long call is not held in memory at
		// once), and flushed once.
		b := w.buf[:0]
		terminal, written := false, 0
		for i, e := range events {
			var err error
			if b, err = appendLogFrame(b, e); err != nil {
				return err
			}
			terminal = IsTerminal(e.Type)
			if last := terminal || i == len(events)-1; last || len(b) >= batchBytes {
				if err := w.write(b); err != nil {
					return err
				}
				sub.pos += uint64(i + 1 - written)
				written, b = i+1, b[:0]
			}
			if terminal {
				break
			}
		}
		w.buf = b
		if w.unflushed {
			if err := w.flush(); err != nil {
				return err
			}
		}
		if terminal {
			return nil
		}
		if len(events) > 0 {
			heartbeat.Reset(w.cfg.Heartbeat)
			continue
		}
		select {
		case <-wake:
		case <-heartbeat.C:
			if err := w.Comment("ping"); err != nil {
				return err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// batchBytes is about the most Serve buffers before it writes.
const batchBytes = 32 << 10

// writeEvent frames e and writes it, without flushing.
func (w *Writer) writeEvent(e Event) error {
	if w.err != nil {
		return w.err
	}
	b, err := appendFrame(w.buf[:0], e)
	if err != nil {
		return err
	}
	w.buf = b
	return w.write(b)
}

// appendLogFrame appends the SSE frame of e, an event of a [Log], to b:
// the bytes appendFrame would append, without encoding/json. The Log has
// checked e's type and normalized its data when it was appended, so the
// data goes in as it is; the type and the call id go in as they are when
// they need no escaping in JSON, which is always so for capstream's own.
// Anything else takes appendFrame's way.
func appendLogFrame(b []byte, e Event) ([]byte, error) {
	if !plainJSON(e.Type) || !plainJSON(e.Call) || len(e.Data) == 0 || bytes.ContainsAny(e.Data, "\r\n") {
		return appendFrame(b, e)
	}
	b = appendFrameHead(b, e)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, e.Type...)
	b = append(b, `","call":"`...)
	b = append(b, e.Call...)
	b = append(b, '"')
	if e.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, e.Seq, 10)
	}
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, timeFormat)
	b = append(b, `","data":`...)
	b = append(b, e.Data...)
	b = append(b, "}\n\n"...)
	return b, nil
}

// plainJSON reports whether s is the same inside a JSON string as it is:
// printable ASCII without '"' or '\\'.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendFrame appends the SSE frame of e to b.
func appendFrame(b []byte, e Event) ([]byte, error) {
	if err := checkType(e.Type); err != nil {
		return b, err
	}
	line, err := e.MarshalJSON()
	if err != nil {
		return b, err
	}
	// encoding/json never writes a raw line break; this guard keeps a future
	// mistake from splitting an event in two on the wire.
	if bytes.ContainsAny(line, "\r\n") {
		return b, fmt.Errorf("%w: line break in encoded event", ErrInvalidData)
	}
	b = appendFrameHead(b, e)
	b = append(b, "\ndata: "...)
	b = append(b, line...)
	b = append(b, "\n\n"...)
	return b, nil
}

// appendFrameHead appends the id line of e, if it has a sequence number,
// and its event line without the line break.
func appendFrameHead(b []byte, e Event) []byte {
	if e.Seq != 0 {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, e.Seq, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, e.Type...)
	return b
}

// write writes p under a fresh deadline.
func (w *Writer) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	if err := w.setDeadline(time.Now().Add(w.cfg.WriteTimeout)); err != nil {
		return w.fail(err)
	}
	if _, err := w.w.Write(p); err != nil {
		return w.fail(err)
	}
	w.unflushed = true
	return nil
}

// flush flushes under a fresh deadline, then clears it so that an idle
// stream (or the next request on the connection) is not cut off.
func (w *Writer) flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.setDeadline(time.Now().Add(w.cfg.WriteTimeout)); err != nil {
		return w.fail(err)
	}
	if err := w.rc.Flush(); err != nil {
		return w.fail(err)
	}
	w.unflushed = false
	if err := w.setDeadline(time.Time{}); err != nil {
		return w.fail(err)
	}
	return nil
}

// setDeadline sets the write deadline, if the ResponseWriter supports one
// (httptest.ResponseRecorder does not).
func (w *Writer) setDeadline(t time.Time) error {
	if !w.deadlines {
		return nil
	}
	err := w.rc.SetWriteDeadline(t)
	if errors.Is(err, http.ErrNotSupported) {
		w.deadlines = false
		return nil
	}
	return err
}

// fail makes err the Writer's final error.
func (w *Writer) fail(err error) error {
	w.err = fmt.Errorf("stream: writing: %w", err)
	return w.err
}
