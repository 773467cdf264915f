package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// callServer serves the events of l the way the HTTP layer does, resuming
// after the Last-Event-ID header. Each Serve result goes to errs. Options
// configure the server before it starts.
func callServer(t *testing.T, l *Log, cfg WriterConfig, opts ...func(*httptest.Server)) (srv *httptest.Server, errs <-chan error) {
	t.Helper()
	ch := make(chan error, 16)
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var after uint64
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			var err error
			if after, err = strconv.ParseUint(id, 10, 64); err != nil {
				http.Error(rw, "bad Last-Event-ID", http.StatusBadRequest)
				return
			}
		}
		// What a handler might have set before: it must not survive.
		rw.Header().Set("Content-Encoding", "gzip")
		rw.Header().Set("Content-Length", "42")
		w, err := NewWriter(rw, cfg)
		if err != nil {
			ch <- err
			return
		}
		ch <- w.Serve(r.Context(), l.Subscribe(after))
	}))
	for _, o := range opts {
		o(srv)
	}
	srv.Start()
	srv.Client().Transport.(*http.Transport).DisableCompression = true
	t.Cleanup(srv.Close)
	return srv, ch
}

// get opens the stream, resuming after lastID if it is not empty.
func get(t *testing.T, srv *httptest.Server, lastID string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// checkHeaders checks the response headers of an event stream.
func checkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache, no-transform",
		"X-Accel-Buffering": "no",
		"Content-Encoding":  "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if resp.ContentLength != -1 {
		t.Errorf("ContentLength = %d, want unknown", resp.ContentLength)
	}
}

// checkPreamble reads the retry field and the ": ok" comment that open
// every stream.
func checkPreamble(t *testing.T, p *sseParser) {
	t.Helper()
	for _, want := range []sseItem{{Kind: "retry", RetryMS: 2000}, {Kind: "comment", Data: "ok"}} {
		got, err := p.Next()
		if err != nil || got != want {
			t.Fatalf("preamble: got %+v, %v; want %+v", got, err, want)
		}
	}
}

// checkEvent checks that an SSE event carries a well-formed envelope for
// the given sequence number, and returns the envelope.
func checkEvent(t *testing.T, it sseItem, call string, seq uint64) map[string]any {
	t.Helper()
	if it.Kind != "event" {
		t.Fatalf("got %+v, want event %d", it, seq)
	}
	if strings.ContainsAny(it.Data, "\r\n\u2028\u2029") {
		t.Errorf("data of event %d is not one line: %q", seq, it.Data)
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(it.Data), &env); err != nil {
		t.Fatalf("event %d: %v", seq, err)
	}
	// An event without a seq has no id line, so it keeps the last id.
	if wantID := strconv.FormatUint(seq, 10); seq != 0 && it.ID != wantID {
		t.Errorf("event id %q, want %q", it.ID, wantID)
	}
	if env["type"] != it.Type || env["call"] != call {
		t.Errorf("event type %q envelope %v, want call %q", it.Type, env, call)
	}
	if s, _ := env["seq"].(float64); uint64(s) != seq {
		t.Errorf("envelope seq %v, want %d", env["seq"], seq)
	}
	if ts, _ := env["time"].(string); !strings.HasSuffix(ts, "Z") {
		t.Errorf("time %q is not UTC", ts)
	} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Errorf("time: %v", err)
	}
	if _, ok := env["data"].(map[string]any); !ok {
		t.Errorf("data is not an object: %v", env["data"])
	}
	return env
}

// readCall reads events until the stream ends, checks they are contiguous
// from from, that exactly the last is terminal, and returns them. Heartbeat
// comments are skipped.
func readCall(t *testing.T, p *sseParser, call string, from uint64) []sseItem {
	t.Helper()
	var events []sseItem
	for seq := from; ; {
		it, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		if it.Kind == "comment" && it.Data == "ping" {
			continue
		}
		if len(events) > 0 && IsTerminal(events[len(events)-1].Type) {
			t.Fatalf("%+v after the terminal event", it)
		}
		checkEvent(t, it, call, seq)
		events = append(events, it)
		seq++
	}
	if n := len(events); n > 0 && !IsTerminal(events[n-1].Type) {
		t.Fatalf("stream ended after %s, not a terminal event", events[n-1].Type)
	}
	return events
}

func TestServe(t *testing.T) {
	types := []string{"call.started", "host.log", "host.progress", "host.output", "host.kv", "call.completed"}
	tests := []struct {
		name       string
		before     int    // events in the log when the client connects; the rest come live
		lastID     string // Last-Event-ID sent
		wantEvents int
	}{
		{"live", 0, "", 6},
		{"replay", 6, "", 6},
		{"replay then live", 3, "", 6},
		{"resume", 6, "2", 4},
		{"resume live", 3, "2", 4},
		{"resume after the terminal event", 6, "6", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLog("c-"+tt.name, LogConfig{})
			appendN := func(types []string) {
				for _, typ := range types {
					if _, err := l.Append(typ, time.Now(), json.RawMessage(`{"n":1}`)); err != nil {
						t.Error(err)
					}
				}
			}
			appendN(types[:tt.before])
			srv, errs := callServer(t, l, WriterConfig{})
			resp := get(t, srv, tt.lastID)
			checkHeaders(t, resp)
			p := newSSEParser(resp.Body)
			checkPreamble(t, p)
			go appendN(types[tt.before:]) // live, once the stream is open

			from := uint64(1)
			if tt.lastID != "" {
				from, _ = strconv.ParseUint(tt.lastID, 10, 64)
				from++
			}
			if got := readCall(t, p, l.Call(), from); len(got) != tt.wantEvents {
				t.Fatalf("got %d events, want %d", len(got), tt.wantEvents)
			}
			if err := <-errs; err != nil {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
}

// TestServeConcurrentAppends hands off from replay to live while producers
// append as fast as they can; readers that join at different points must
// each see every event once.
func TestServeConcurrentAppends(t *testing.T) {
	const events, readers = 2000, 8
	l := NewLog("c1", LogConfig{})
	srv, errs := callServer(t, l, WriterConfig{})
	go func() {
		for i := range events {
			l.Append("host.progress", time.Now(), json.RawMessage(fmt.Sprintf(`{"progress":%d}`, i)))
		}
		l.Append("call.completed", time.Now(), nil)
	}()
	results := make(chan int, readers)
	for range readers {
		go func() {
			resp := get(t, srv, "")
			p := newSSEParser(resp.Body)
			checkPreamble(t, p)
			results <- len(readCall(t, p, "c1", 1))
		}()
	}
	for range readers {
		if n := <-results; n != events+1 {
			t.Errorf("a reader got %d events, want %d", n, events+1)
		}
		if err := <-errs; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

func TestServeHeartbeat(t *testing.T) {
	l := NewLog("c1", LogConfig{})
	srv, errs := callServer(t, l, WriterConfig{Heartbeat: 5 * time.Millisecond})
	resp := get(t, srv, "")
	p := newSSEParser(resp.Body)
	checkPreamble(t, p)
	for range 2 {
		if it, err := p.Next(); err != nil || it != (sseItem{Kind: "comment", Data: "ping"}) {
			t.Fatalf("got %+v, %v; want a ping", it, err)
		}
	}
	l.Append("call.cancelled", time.Now(), json.RawMessage(`{"reason":"deleted"}`))
	if got := readCall(t, p, "c1", 1); len(got) != 1 {
		t.Fatalf("got %d events", len(got))
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// TestServeContextCause ends one subscription, as the HTTP layer does when
// a viewer's token expires: the stream ends with a stream.error event that
// has no id, and the call goes on.
func TestServeContextCause(t *testing.T) {
	errExpired := errors.New("token expired")
	l := NewLog("c1", LogConfig{})
	for range 3 {
		l.Append("host.log", time.Now(), nil)
	}
	expire := make(chan struct{})
	served := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		go func() {
			select {
			case <-expire:
				cancel(errExpired)
			case <-ctx.Done():
			}
		}()
		w, err := NewWriter(rw, WriterConfig{})
		if err != nil {
			served <- err
			return
		}
		err = w.Serve(ctx, l.Subscribe(0))
		if errors.Is(err, errExpired) {
			w.Event(ErrorEvent(l.Call(), "token_expired", "token expired", time.Now()))
		}
		served <- err
	}))
	defer srv.Close()

	resp := get(t, srv, "")
	p := newSSEParser(resp.Body)
	checkPreamble(t, p)
	for seq := uint64(1); seq <= 3; seq++ {
		it, err := p.Next()
		if err != nil {
			t.Fatal(err)
		}
		checkEvent(t, it, "c1", seq)
	}
	close(expire)
	it, err := p.Next()
	if err != nil {
		t.Fatal(err)
	}
	env := checkEvent(t, it, "c1", 0)
	if it.Type != "stream.error" || p.lastID != "3" {
		t.Errorf("got %+v (last event id %q), want stream.error keeping id 3", it, p.lastID)
	}
	if code := env["data"].(map[string]any)["code"]; code != "token_expired" {
		t.Errorf("code %v", code)
	}
	if _, err := p.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after stream.error: %v, want the end of the stream", err)
	}
	if err := <-served; !errors.Is(err, errExpired) {
		t.Errorf("Serve: %v, want the cause", err)
	}
	// The call itself is unaffected.
	if _, err := l.Append("call.completed", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestServeSlowClient: a client that stops reading is cut off by the write
// timeout, while the producer and a client that does read go on unaffected.
func TestServeSlowClient(t *testing.T) {
	const events = 100
	chunk := json.RawMessage(`{"chunk":"` + strings.Repeat("x", 16<<10) + `"}`)
	l := NewLog("c1", LogConfig{MaxBytes: -1})
	// Small socket buffers, so that a few hundred kilobytes fill them.
	srv, errs := callServer(t, l, WriterConfig{WriteTimeout: 250 * time.Millisecond}, func(srv *httptest.Server) {
		srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				c.(*net.TCPConn).SetWriteBuffer(4 << 10)
			}
		}
	})
	stalledClient := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(4 << 10)
			}
			return c, err
		},
	}}
	stalled, err := stalledClient.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Body.Close()
	checkPreamble(t, newSSEParser(io.LimitReader(stalled.Body, 17))) // then stop reading

	start := time.Now()
	for range events {
		if _, err := l.Append("host.output", time.Now(), chunk); err != nil {
			t.Fatal(err)
		}
	}
	l.Append("call.completed", time.Now(), nil)
	if d := time.Since(start); d > time.Second {
		t.Errorf("appending took %v: the producer was held up", d)
	}

	reader := get(t, srv, "")
	p := newSSEParser(reader.Body)
	checkPreamble(t, p)
	if got := readCall(t, p, "c1", 1); len(got) != events+1 {
		t.Errorf("the reading client got %d events", len(got))
	}

	// One Serve ends with the write timeout, the other cleanly.
	var timedOut, ok int
	for range 2 {
		select {
		case err := <-errs:
			switch {
			case err == nil:
				ok++
			case errors.Is(err, os.ErrDeadlineExceeded):
				timedOut++
			default:
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve to a stalled client did not time out")
		}
	}
	if timedOut != 1 || ok != 1 {
		t.Errorf("%d Serve calls timed out and %d ended cleanly, want 1 and 1", timedOut, ok)
	}
}

// fakeResponseWriter fails its writes after limit bytes, or its flushes.
type fakeResponseWriter struct {
	header   http.Header
	buf      bytes.Buffer
	limit    int
	flushErr error
	noFlush  bool
}

var errBroken = errors.New("broken pipe")

func (f *fakeResponseWriter) Header() http.Header { return f.header }
func (f *fakeResponseWriter) WriteHeader(int)     {}
func (f *fakeResponseWriter) Write(p []byte) (int, error) {
	if f.buf.Len()+len(p) > f.limit {
		return 0, errBroken
	}
	return f.buf.Write(p)
}

// FlushError is what http.ResponseController calls to flush.
func (f *fakeResponseWriter) FlushError() error {
	if f.noFlush {
		return http.ErrNotSupported
	}
	return f.flushErr
}

func TestWriterErrors(t *testing.T) {
	const preamble = len("retry: 2000\n: ok\n\n")
	tests := []struct {
		name         string
		rw           *fakeResponseWriter
		hideFlush    bool // pass a ResponseWriter with no flush method at all
		cfg          WriterConfig
		wantNewErr   error
		wantServeErr error // if NewWriter succeeds; nil: errBroken
	}{
		{"invalid heartbeat", &fakeResponseWriter{limit: 1 << 20}, false, WriterConfig{Heartbeat: -1}, ErrInvalidConfig, nil},
		{"invalid write timeout", &fakeResponseWriter{limit: 1 << 20}, false, WriterConfig{WriteTimeout: -1}, ErrInvalidConfig, nil},
		{"invalid retry", &fakeResponseWriter{limit: 1 << 20}, false, WriterConfig{Retry: -time.Second}, ErrInvalidConfig, nil},
		{"no flush method", &fakeResponseWriter{limit: 1 << 20}, true, WriterConfig{}, http.ErrNotSupported, nil},
		// A flush method that turns out not to work is found out by the
		// first flush, which NewWriter leaves to Serve.
		{"flush not supported", &fakeResponseWriter{limit: 1 << 20, noFlush: true}, false, WriterConfig{}, nil, http.ErrNotSupported},
		{"preamble write fails", &fakeResponseWriter{limit: 3}, false, WriterConfig{}, errBroken, nil},
		{"flush fails", &fakeResponseWriter{limit: 1 << 20, flushErr: errBroken}, false, WriterConfig{}, nil, nil},
		{"event write fails", &fakeResponseWriter{limit: preamble + 10}, false, WriterConfig{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rw.header = http.Header{}
			var rw http.ResponseWriter = tt.rw
			if tt.hideFlush {
				rw = struct{ http.ResponseWriter }{tt.rw}
			}
			w, err := NewWriter(rw, tt.cfg)
			if tt.wantNewErr != nil {
				if !errors.Is(err, tt.wantNewErr) {
					t.Fatalf("NewWriter: %v, want %v", err, tt.wantNewErr)
				}
				if errors.Is(err, ErrInvalidConfig) && (tt.rw.buf.Len() > 0 || len(tt.rw.header) > 0) {
					t.Fatal("NewWriter wrote with an invalid config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := NewLog("c1", LogConfig{})
			l.Append("host.log", t0, nil)
			l.Append("call.completed", t0, nil)
			want := tt.wantServeErr
			if want == nil {
				want = errBroken
			}
			err = w.Serve(context.Background(), l.Subscribe(0))
			if !errors.Is(err, want) {
				t.Fatalf("Serve: %v, want %v", err, want)
			}
			// The error sticks.
			if err := w.Comment("ping"); !errors.Is(err, want) {
				t.Fatalf("Comment after a failure: %v", err)
			}
		})
	}
}

func TestWriterFraming(t *testing.T) {
	tests := []struct {
		name    string
		write   func(w *Writer) error
		want    string
		wantErr error
	}{
		{
			name: "event",
			write: func(w *Writer) error {
				return w.Event(Event{Type: "host.log", Call: "c1", Seq: 12, Time: t0, Data: json.RawMessage(`{"a":1}`)})
			},
			want: "id: 12\nevent: host.log\ndata: {\"type\":\"host.log\",\"call\":\"c1\",\"seq\":12,\"time\":\"2025-01-02T03:04:05.678Z\",\"data\":{\"a\":1}}\n\n",
		},
		{
			name:  "no id without seq",
			write: func(w *Writer) error { return w.Event(ErrorEvent("c1", "x", "y", t0)) },
			want:  "event: stream.error\ndata: {\"type\":\"stream.error\",\"call\":\"c1\",\"time\":\"2025-01-02T03:04:05.678Z\",\"data\":{\"code\":\"x\",\"message\":\"y\"}}\n\n",
		},
		{
			name: "line breaks in data stay on one line",
			write: func(w *Writer) error {
				return w.Event(Event{Type: "a", Call: "c1", Seq: 1, Time: t0, Data: json.RawMessage("{\n\"m\":\"x\\ny\\r\u2028\"\r\n}")})
			},
			want: "id: 1\nevent: a\ndata: {\"type\":\"a\",\"call\":\"c1\",\"seq\":1,\"time\":\"2025-01-02T03:04:05.678Z\",\"data\":{\"m\":\"x\\ny\\r\\u2028\"}}\n\n",
		},
		{
			name:    "invalid type",
			write:   func(w *Writer) error { return w.Event(Event{Type: "a\ndata: b", Seq: 1}) },
			wantErr: ErrInvalidType,
		},
		{
			name:    "invalid data",
			write:   func(w *Writer) error { return w.Event(Event{Type: "a", Seq: 1, Data: json.RawMessage("{\n")}) },
			wantErr: ErrInvalidData,
		},
		{
			name:  "comment",
			write: func(w *Writer) error { return w.Comment("ping") },
			want:  ": ping\n\n",
		},
		{
			name:  "multi-line comment",
			write: func(w *Writer) error { return w.Comment("a\nb\r\nc\rdata: x") },
			want:  ": a\n: b\n: c\n: data: x\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w, err := NewWriter(rec, WriterConfig{Retry: 1500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			const preamble = "retry: 1500\n: ok\n\n"
			err = tt.write(w)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := strings.TrimPrefix(rec.Body.String(), preamble); got != tt.want {
				t.Errorf("wrote %q\nwant %q", got, tt.want)
			}
			if tt.wantErr == nil && !rec.Flushed {
				t.Error("not flushed")
			}
			// A refused event does not break the stream.
			if err := w.Comment("still here"); err != nil {
				t.Errorf("Comment after: %v", err)
			}
		})
	}
}

// flushRecorder records what is flushed, flush by flush, and signals each
// flush on flushed.
type flushRecorder struct {
	header  http.Header
	mu      sync.Mutex
	pending bytes.Buffer
	flushes []string
	flushed chan struct{}
}

func newFlushRecorder() *flushRecorder {
	return &flushRecorder{header: http.Header{}, flushed: make(chan struct{}, 16)}
}

func (f *flushRecorder) Header() http.Header { return f.header }
func (f *flushRecorder) WriteHeader(int)     {}
func (f *flushRecorder) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending.Write(p)
}
func (f *flushRecorder) Flush() {
	f.mu.Lock()
	f.flushes = append(f.flushes, f.pending.String())
	f.pending.Reset()
	f.mu.Unlock()
	f.flushed <- struct{}{}
}

func (f *flushRecorder) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.flushes)
}

// TestServeFlushesStartWithFirstEvents: the start of the stream (retry and
// ": ok") goes out in the same flush as the events ready when Serve begins,
// so a short call is one write to the connection plus one for its end.
// With no event ready, Serve flushes the start at once, before it waits.
func TestServeFlushesStartWithFirstEvents(t *testing.T) {
	const preamble = "retry: 2000\n: ok\n\n"
	t.Run("events ready", func(t *testing.T) {
		l := NewLog("c1", LogConfig{})
		l.Append("call.started", t0, json.RawMessage(`{"tool":"echo"}`))
		l.Append("host.log", t0, json.RawMessage(`{"level":"info","message":"echoing"}`))
		l.Append(TypeCompleted, t0, json.RawMessage(`{"output":{"text":"hi"}}`))
		rec := newFlushRecorder()
		w, err := NewWriter(rec, WriterConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Serve(context.Background(), l.Subscribe(0)); err != nil {
			t.Fatal(err)
		}
		flushes := rec.all()
		if len(flushes) != 1 {
			t.Fatalf("%d flushes, want 1: %q", len(flushes), flushes)
		}
		items, err := newSSEParser(strings.NewReader(flushes[0])).All()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(flushes[0], preamble) || len(items) != 5 || items[4].Type != TypeCompleted {
			t.Fatalf("the flush: %q", flushes[0])
		}
	})
	t.Run("none ready", func(t *testing.T) {
		l := NewLog("c1", LogConfig{})
		rec := newFlushRecorder()
		w, err := NewWriter(rec, WriterConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.all(); len(got) != 0 {
			t.Fatalf("NewWriter flushed %q; Serve is to flush", got)
		}
		errs := make(chan error, 1)
		go func() { errs <- w.Serve(context.Background(), l.Subscribe(0)) }()
		<-rec.flushed // with nothing appended: the start, on its own
		if got := rec.all(); len(got) != 1 || got[0] != preamble {
			t.Fatalf("first flush %q, want the start alone", got)
		}
		l.Append(TypeCompleted, t0, nil)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if got := rec.all(); len(got) != 2 || !strings.Contains(got[1], "event: call.completed\n") {
			t.Fatalf("flushes %q, want the start, then the terminal event", got)
		}
	})
}

// TestServeLongReplayInPieces: a subscriber that resumes a long call gets
// every event, in order, written in pieces of bounded size and flushed
// once, and the Writer does not keep a buffer the size of the call.
func TestServeLongReplayInPieces(t *testing.T) {
	l := NewLog("c1", LogConfig{MaxBytes: -1})
	data := json.RawMessage(`{"chunk":"` + strings.Repeat("x", 1000) + `"}`)
	const n = 500
	for range n {
		if _, err := l.Append("host.output", t0, data); err != nil {
			t.Fatal(err)
		}
	}
	l.Append(TypeCompleted, t0, nil)
	rec := newFlushRecorder()
	w, err := NewWriter(rec, WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sub := l.Subscribe(0)
	if err := w.Serve(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	flushes := rec.all()
	if len(flushes) != 1 {
		t.Fatalf("%d flushes, want 1", len(flushes))
	}
	items, err := newSSEParser(strings.NewReader(flushes[0])).All()
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2+n+1 {
		t.Fatalf("%d items, want %d", len(items), 2+n+1)
	}
	for i, it := range items[2:] {
		if it.ID != strconv.Itoa(i+1) {
			t.Fatalf("item %d has id %q", i+2, it.ID)
		}
	}
	if sub.LastSeq() != n+1 {
		t.Errorf("the subscription is at %d, want %d", sub.LastSeq(), n+1)
	}
	if c := cap(w.buf); c > 2*batchBytes {
		t.Errorf("the Writer keeps a %d-byte buffer after a %d-byte replay", c, n*1100)
	}
}

// TestAppendLogFrame: Serve frames a log's events without encoding/json,
// to the bytes Event writes, and allocates nothing doing so. Types and call
// ids that JSON must escape take Event's way.
func TestAppendLogFrame(t *testing.T) {
	tests := []struct {
		name, call, typ, data string
	}{
		{"plain", "c_rwsjz3p7eeyf5pap73hqk7in4q", "call.started", `{"tool":"echo","capability":{"grants":{"http":[]}}}`},
		{"spaced data", "c1", "host.log", "{ \"level\" : \"info\",\n\"message\":\"a\\nb\" }"},
		{"html and unicode", "c1", "host.output", `{"chunk":"<b>&amp;</b> é \u2028 ` + "\u2028\u2029" + `"}`},
		{"invalid utf-8", "c1", "host.output", "{\"chunk\":\"\xff\xfe\"}"},
		{"empty data", "c1", "host.progress", ""},
		{"quote in call id", `c"1`, "host.log", `{}`},
		{"backslash in call id", `c\1`, "host.log", `{}`},
		{"non-ASCII call id", "c-é", "host.log", `{}`},
		{"control in call id", "c\x01", "host.log", `{}`},
		{"html in call id", "<c&1>", "host.log", `{}`},
		{"quote in type", "c1", `a"b`, `{}`},
		{"backslash in type", "c1", `a\b`, `{}`},
		{"terminal", "c1", TypeFailed, `{"error":{"code":"trap","message":"x"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewLog(tt.call, LogConfig{}).Append(tt.typ, t0, json.RawMessage(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			want, err := appendFrame(nil, e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendLogFrame(nil, e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}

	e, _ := NewLog("c_rwsjz3p7eeyf5pap73hqk7in4q", LogConfig{}).Append("host.log", t0, json.RawMessage(`{"level":"info","message":"echoing 5 bytes"}`))
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf, _ = appendLogFrame(buf[:0], e) }); n != 0 {
		t.Errorf("framing a log event allocates %v times, want 0", n)
	}
}
