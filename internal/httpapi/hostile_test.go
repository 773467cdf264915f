package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/capstream/capstream/internal/httpapi"
)

// Hostile HTTP input, through the http.Server that capstream serve runs.
// What api_test.go's TestBadRequests covers (invalid JSON, a bad byte in a
// string, 200-deep nesting, a body over a 1 KiB limit with its length
// declared, a form) is not repeated here.

// realServer serves an env's API with the http.Server that capstream serve
// runs (httpapi.NewHTTPServer), so hostile clients meet the real timeouts
// and header bound. Tests may shorten the timeouts (tune) for speed.
type realServer struct {
	url, addr string
	srv       *http.Server
	client    *http.Client
	conns     *connTracker
	errLog    *syncBuffer // net/http's own error log
}

func serveReal(t *testing.T, e *env, tune func(*http.Server)) *realServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &connTracker{Listener: ln, conns: map[string]*trackedConn{}}
	errLog := &syncBuffer{}
	srv := httpapi.NewHTTPServer(e.api.Handler(), log.New(errLog, "", 0))
	if tune != nil {
		tune(srv)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(tr)
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		srv.Close()
		<-served
	})
	return &realServer{url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), srv: srv, client: client, conns: tr, errLog: errLog}
}

// request sends a request to the real server; headers come in pairs.
func (s *realServer) request(t testing.TB, method, path, tok string, body io.Reader, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// stillServes asserts the server answers a whole echo call, streamed.
func (s *realServer) stillServes(t testing.TB) {
	t.Helper()
	resp := s.request(t, "POST", "/v1/tools/echo/calls", alice(t), strings.NewReader(`{"text":"still here"}`),
		"Content-Type", "application/json", "Accept", "text/event-stream")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the server no longer serves: %s", resp.Status)
	}
	st := parseSSE(t, resp.Body)
	checkCallStream(t, st, 0)
	if last := st.Events[len(st.Events)-1]; last.Type != "call.completed" || !strings.Contains(last.Data, "still here") {
		t.Fatalf("the server no longer serves: last event %+v", last)
	}
}

// dial opens a raw connection to the real server.
func (s *realServer) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connTracker is a listener that remembers the connections it accepted,
// by the client's address, with the bytes the server wrote to each and a
// signal when the server closes it. setWriteBuffer, when set, bounds the
// kernel's send buffer of every accepted connection.
type connTracker struct {
	net.Listener
	mu             sync.Mutex
	conns          map[string]*trackedConn
	accepted       chan struct{} // closed at the next Accept; nil while nobody waits
	setWriteBuffer int
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.setWriteBuffer > 0 {
		c.(*net.TCPConn).SetWriteBuffer(l.setWriteBuffer)
	}
	tc := &trackedConn{Conn: c, closed: make(chan struct{})}
	l.conns[c.RemoteAddr().String()] = tc
	if l.accepted != nil {
		close(l.accepted)
		l.accepted = nil
	}
	return tc, nil
}

// conn returns the server's side of the client connection c, once the
// server has accepted it.
func (l *connTracker) conn(t testing.TB, c net.Conn) *trackedConn {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		tc, ok := l.conns[c.LocalAddr().String()]
		if l.accepted == nil {
			l.accepted = make(chan struct{})
		}
		accepted := l.accepted
		l.mu.Unlock()
		if ok {
			return tc
		}
		select {
		case <-accepted:
		case <-timeout:
			t.Fatalf("the server did not accept %s", c.LocalAddr())
		}
	}
}

type trackedConn struct {
	net.Conn
	mu      sync.Mutex
	written int
	once    sync.Once
	closed  chan struct{}
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.written += n
	c.mu.Unlock()
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c *trackedConn) bytesWritten() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

// syncBuffer is a bytes.Buffer for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// observed makes an env log warnings and errors to an observer.
func observed(logs **observer.ObservedLogs) envOption {
	return func(c *httpapi.Config) {
		core, l := observer.New(zapcore.WarnLevel)
		c.Logger, *logs = zap.New(core), l
	}
}

// noPanics asserts that no handler panicked: neither the router's panic
// handler nor net/http logged one.
func noPanics(t testing.TB, logs *observer.ObservedLogs, s *realServer) {
	t.Helper()
	if n := logs.FilterMessage("handler panic").Len(); n > 0 {
		t.Errorf("%d handler panics: %v", n, logs.FilterMessage("handler panic").All()[0].ContextMap())
	}
	if strings.Contains(s.errLog.String(), "panic") {
		t.Errorf("net/http logged a panic:\n%s", s.errLog.String())
	}
}

// rawResponse reads one HTTP response from a raw connection, failing if
// none comes within limit.
func rawResponse(t testing.TB, c net.Conn, limit time.Duration) (*http.Response, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", limit, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// TestHostileReadTimeoutSparesStreams: the server's timeouts bound reading
// a request, never the response. There is no WriteTimeout (docs/design.md §5: no
// absolute deadline on streams), and a stream, a JSON-mode wait and a
// subscription that outlive ReadTimeout run to their end: net/http lifts
// its deadline once the body is read, and this pins that the
// configuration may rely on that.
func TestHostileReadTimeoutSparesStreams(t *testing.T) {
	if srv := httpapi.NewHTTPServer(http.NotFoundHandler(), nil); srv.WriteTimeout != 0 || srv.ReadTimeout <= 0 || srv.ReadHeaderTimeout <= 0 {
		t.Fatalf("WriteTimeout %v, ReadTimeout %v, ReadHeaderTimeout %v: want none, some, some", srv.WriteTimeout, srv.ReadTimeout, srv.ReadHeaderTimeout)
	}
	e := newEnv(t)
	s := serveReal(t, e, func(srv *http.Server) { srv.ReadTimeout = 500 * time.Millisecond })
	// 6 steps of 200 ms: each call outlives ReadTimeout twice over.
	const input = `{"steps":6,"delayMs":200}`

	t.Run("direct stream", func(t *testing.T) {
		resp := s.request(t, "POST", "/v1/tools/slow/calls", alice(t), strings.NewReader(input), "Content-Type", "application/json", "Accept", "text/event-stream")
		defer resp.Body.Close()
		st := parseSSE(t, resp.Body)
		checkCallStream(t, st, 0)
		if last := st.Events[len(st.Events)-1]; last.Type != "call.completed" {
			t.Fatalf("the call ended with %s %s", last.Type, last.Data)
		}
	})
	t.Run("JSON mode", func(t *testing.T) {
		resp := s.request(t, "POST", "/v1/tools/slow/calls", alice(t), strings.NewReader(input), "Content-Type", "application/json")
		term := decode[struct{ Type string }](t, resp)
		if resp.StatusCode != http.StatusOK || term.Type != "call.completed" {
			t.Fatalf("%s, terminal event %q", resp.Status, term.Type)
		}
	})
	t.Run("subscriber", func(t *testing.T) {
		resp := s.request(t, "POST", "/v1/tools/slow/calls?detach=1", alice(t), strings.NewReader(input), "Content-Type", "application/json")
		d := decode[struct{ Events string }](t, resp)
		sub := s.request(t, "GET", d.Events, alice(t), nil)
		defer sub.Body.Close()
		st := parseSSE(t, sub.Body)
		checkCallStream(t, st, 0)
		if last := st.Events[len(st.Events)-1]; last.Type != "call.completed" {
			t.Fatalf("the subscription ended after %s %s", last.Type, last.Data)
		}
	})
}

// TestHostileBodies: bodies at and past the size bound, declared or
// chunked; media types; JSON nested past any sane depth; and invalid UTF-8
// of every kind. Each is a clear 4xx with a JSON error body, no handler
// panics, and the server keeps serving.
func TestHostileBodies(t *testing.T) {
	var logs *observer.ObservedLogs
	const limit = 256 << 10 // above the 100k-bracket rows
	e := newEnv(t, observed(&logs), func(c *httpapi.Config) { c.MaxBodyBytes = limit })
	s := serveReal(t, e, nil)

	// echoOf is an echo input of exactly n bytes.
	echoOf := func(n int) string {
		const head, tail = `{"text":"`, `"}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	// chunked hides the length, so the client sends the body chunked.
	chunked := func(b string) io.Reader { return io.MultiReader(strings.NewReader(b)) }
	tests := []struct {
		name        string
		body        io.Reader
		contentType string
		status      int
		code        string // "" for a call that completes
	}{
		{"exactly the limit", strings.NewReader(echoOf(limit)), "application/json", 200, ""},
		{"exactly the limit, chunked", chunked(echoOf(limit)), "application/json", 200, ""},
		{"one byte over, chunked", chunked(echoOf(limit + 1)), "application/json", 413, "body_too_large"},
		{"16 MiB, chunked", chunked(echoOf(16 << 20)), "application/json", 413, "body_too_large"},

		{"json with charset", strings.NewReader(`{"text":"x"}`), "application/json; charset=utf-8", 200, ""},
		{"+json suffix", strings.NewReader(`{"text":"x"}`), "application/vnd.example+json", 200, ""},
		{"text/plain", strings.NewReader(`{"text":"x"}`), "text/plain", 415, "unsupported_media_type"},
		{"multipart", strings.NewReader("--x\r\n\r\n{}\r\n--x--\r\n"), "multipart/form-data; boundary=x", 415, "unsupported_media_type"},
		{"ndjson", strings.NewReader(`{"text":"x"}`), "application/x-ndjson", 415, "unsupported_media_type"},
		{"malformed media type", strings.NewReader(`{"text":"x"}`), "application/json; =", 415, "unsupported_media_type"},

		{"100k [", strings.NewReader(strings.Repeat("[", 100_000)), "application/json", 400, "invalid_json"},
		{"100k [ in a field", strings.NewReader(`{"text":` + strings.Repeat("[", 100_000)), "application/json", 400, "invalid_json"},
		{"100k [ balanced", strings.NewReader(`{"text":` + strings.Repeat("[", 50_000) + strings.Repeat("]", 50_000) + `}`), "application/json", 400, "invalid_json"},
		{"10k nested objects", strings.NewReader(strings.Repeat(`{"a":`, 10_001) + "1" + strings.Repeat("}", 10_001)), "application/json", 400, "invalid_json"},
		// 9,999 levels is within encoding/json's bound: valid JSON, which
		// the schema then refuses (text must be a string).
		{"9,999 levels", strings.NewReader(`{"text":` + strings.Repeat("[", 9_998) + strings.Repeat("]", 9_998) + `}`), "application/json", 400, "invalid_input"},

		{"invalid utf-8 in a key", strings.NewReader("{\"te\xffxt\":\"x\"}"), "application/json", 400, "invalid_json"},
		{"overlong encoding", strings.NewReader("{\"text\":\"\xc0\xaf\"}"), "application/json", 400, "invalid_json"},
		{"utf-16 surrogate as utf-8", strings.NewReader("{\"text\":\"\xed\xa0\x80\"}"), "application/json", 400, "invalid_json"},
		{"truncated sequence", strings.NewReader("{\"text\":\"\xe2\x82\"}"), "application/json", 400, "invalid_json"},
		{"latin-1", strings.NewReader("{\"text\":\"caf\xe9\"}"), "application/json", 400, "invalid_json"},
		{"utf-16 body", strings.NewReader("\xff\xfe{\x00}\x00"), "application/json", 400, "invalid_json"},
		{"utf-16 declared", strings.NewReader("\xff\xfe{\x00}\x00"), "application/json; charset=utf-16", 415, "unsupported_media_type"},
		{"byte order mark", strings.NewReader("\xef\xbb\xbf{\"text\":\"x\"}"), "application/json", 400, "invalid_json"},
		{"NUL in a string", strings.NewReader("{\"text\":\"a\x00b\"}"), "application/json", 400, "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.request(t, "POST", "/v1/tools/echo/calls", alice(t), tt.body, "Content-Type", tt.contentType)
			if tt.code == "" {
				term := decode[struct{ Type string }](t, resp)
				if resp.StatusCode != tt.status || term.Type != "call.completed" {
					t.Fatalf("%s %+v, want %d and a completed call", resp.Status, term, tt.status)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			got := decode[errorBody](t, resp)
			if resp.StatusCode != tt.status || got.Error.Code != tt.code || got.Error.Message == "" {
				t.Fatalf("%s %+v, want %d %s with a message", resp.Status, got, tt.status, tt.code)
			}
		})
	}

	// A body declared larger than the bound is refused before it is sent:
	// at once, and without inviting it (no "100 Continue").
	for _, expect := range []bool{false, true} {
		t.Run(fmt.Sprintf("declared 1 TiB, expect 100-continue %v", expect), func(t *testing.T) {
			c := s.dial(t)
			req := "POST /v1/tools/echo/calls HTTP/1.1\r\nHost: capstream\r\nAuthorization: Bearer " + alice(t) +
				"\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n"
			if expect {
				req += "Expect: 100-continue\r\n"
			}
			if _, err := io.WriteString(c, req+"\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, body := rawResponse(t, c, 5*time.Second)
			var got errorBody
			json.Unmarshal(body, &got)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || got.Error.Code != "body_too_large" {
				t.Fatalf("%s %s, want 413 body_too_large", resp.Status, body)
			}
		})
	}
	s.stillServes(t)
	noPanics(t, logs, s)
}

// TestHostileHugeHeaders: headers past MaxHeaderBytes (64 KiB, well below
// net/http's own default of 1 MiB) get 431 from net/http, one huge header
// or many small ones; headers just under it reach the API, which answers
// them as it should.
func TestHostileHugeHeaders(t *testing.T) {
	e := newEnv(t)
	s := serveReal(t, e, nil)
	var many strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&many, "X-Header-%d: %s\r\n", i, strings.Repeat("h", 32))
	}
	for _, tt := range []struct{ name, headers string }{
		{"one 100 KiB header", "X-Padding: " + strings.Repeat("p", 100<<10) + "\r\n"},
		{"3,000 headers", many.String()},
		{"100 KiB token", "Authorization: Bearer " + strings.Repeat("t", 100<<10) + "\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := s.dial(t)
			// The server may answer and hang up before the request is all
			// written: write on the side.
			go io.WriteString(c, "GET /v1/tools HTTP/1.1\r\nHost: capstream\r\n"+tt.headers+"\r\n")
			resp, body := rawResponse(t, c, 10*time.Second)
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("%s %.200s, want 431", resp.Status, body)
			}
		})
	}
	t.Run("60 KiB header", func(t *testing.T) {
		resp := s.request(t, "GET", "/v1/tools", alice(t), nil, "X-Padding", strings.Repeat("p", 60<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s, want 200", resp.Status)
		}
	})
	t.Run("60 KiB token", func(t *testing.T) {
		resp := s.request(t, "GET", "/v1/tools", strings.Repeat("t", 60<<10), nil)
		got := decode[errorBody](t, resp)
		if resp.StatusCode != http.StatusUnauthorized || got.Error.Code != "unauthenticated" {
			t.Fatalf("%s %+v, want 401 unauthenticated", resp.Status, got)
		}
	})
	s.stillServes(t)
}

// TestHostileSlowHeaders: clients that send their headers a byte at a
// time, slower than ReadHeaderTimeout allows, are disconnected when it
// passes, before their headers are complete; while 50 of them trickle,
// the server answers others.
func TestHostileSlowHeaders(t *testing.T) {
	e := newEnv(t)
	const timeout = 300 * time.Millisecond
	s := serveReal(t, e, func(srv *http.Server) { srv.ReadHeaderTimeout = timeout })
	req := "GET /v1/tools HTTP/1.1\r\nHost: capstream\r\nAuthorization: Bearer " + alice(t) + "\r\n\r\n"
	const clients, every = 50, 20 * time.Millisecond // the headers would take seconds

	type cut struct {
		after time.Duration
		sent  int
		got   string // what the server said, if anything
		err   error
	}
	cuts := make(chan cut, clients)
	for range clients {
		start := time.Now() // before the server can have started its clock
		c := s.dial(t)
		go func() {
			stop := make(chan struct{})
			sentc := trickle(c, []byte(req), every, stop)
			// The server hanging up ends this read; if it never does, the
			// deadline (the time the whole trickle takes) ends it.
			c.SetReadDeadline(time.Now().Add(time.Duration(len(req)) * every))
			got, err := io.ReadAll(c)
			after := time.Since(start)
			close(stop)
			cuts <- cut{after: after, sent: <-sentc, got: string(got), err: err}
		}()
	}
	s.stillServes(t) // while they trickle
	for range clients {
		c := <-cuts
		// The server hangs up with EOF, or with a reset when a byte of ours
		// was still on the way; only the deadline means it did not.
		if ne, ok := c.err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("a slow client was not disconnected: %v after %v, %d of %d bytes sent", c.err, c.after, c.sent, len(req))
		}
		// net/http hangs up in silence, or with a 400 when the timeout
		// struck inside the request line; never with an answer.
		if c.after < timeout || c.sent >= len(req) || c.got != "" && !strings.HasPrefix(c.got, "HTTP/1.1 400 ") {
			t.Fatalf("a slow client was cut after %v (timeout %v), having sent %d of %d bytes, and read %q", c.after, timeout, c.sent, len(req), c.got)
		}
	}
	s.stillServes(t)
}

// TestHostileSlowBody: a body trickled slower than ReadTimeout allows is
// answered 408 request_timeout (JSON) when it passes, the connection is
// closed, and no call starts.
func TestHostileSlowBody(t *testing.T) {
	e := newEnv(t)
	const timeout = time.Second
	s := serveReal(t, e, func(srv *http.Server) { srv.ReadTimeout = timeout })
	const body = `{"text":"this body arrives one byte every 100 ms"}`
	start := time.Now() // before the server can have started its clock
	c := s.dial(t)
	if _, err := fmt.Fprintf(c, "POST /v1/tools/echo/calls HTTP/1.1\r\nHost: capstream\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", alice(t), len(body)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	sentc := trickle(c, []byte(body), 100*time.Millisecond, stop)
	resp, b := rawResponse(t, c, 10*time.Second)
	after := time.Since(start)
	close(stop)
	sent := <-sentc
	var got errorBody
	json.Unmarshal(b, &got)
	if resp.StatusCode != http.StatusRequestTimeout || got.Error.Code != "request_timeout" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s %s, want 408 request_timeout", resp.Status, b)
	}
	if after < timeout || sent >= len(body) {
		t.Fatalf("answered after %v (ReadTimeout %v), with %d of %d bytes sent", after, timeout, sent, len(body))
	}
	if !resp.Close {
		t.Error("the connection is kept open after a timed-out body")
	}
	// No call was started.
	r := s.request(t, "GET", "/metrics", "", nil)
	m, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if strings.Contains(string(m), `tool="echo"`) {
		t.Fatalf("a call ran:\n%s", grepLines(string(m), `tool="echo"`))
	}
	s.stillServes(t)
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// metric returns the value of the sample named exactly name (with its
// labels) in the metrics page m, and whether it is there.
func metric(m, name string) (float64, bool) {
	for line := range strings.SplitSeq(m, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f, true
			}
		}
	}
	return 0, false
}

// settledMetric waits, up to 30 s, for the metric name to read want, and
// returns what it last read. A call cancelled because its client left ends
// after the client is gone, and a stream's place is given back after its
// last byte is sent: a gauge has no signal to wait for but itself.
func settledMetric(t testing.TB, fetch func(testing.TB) string, name string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, _ := metric(fetch(t), name)
		if v == want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *realServer) metrics(t testing.TB) string {
	t.Helper()
	r := s.request(t, "GET", "/metrics", "", nil)
	defer r.Body.Close()
	m, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(m)
}

// TestHostileDroppedStreams: 2,000 clients start a long call, read its
// stream until call.started and hang up. Each call ends with
// call.cancelled (client_gone), which its owner sees on replay; afterwards
// no call or stream is open, goroutines are back to their baseline and the
// server still answers.
//
// Clients run 8 at a time: under -race an instance is heavy, and the
// point is the number of drops, not their concurrency (the hammer tests
// that).
func TestHostileDroppedStreams(t *testing.T) {
	var logs *observer.ObservedLogs
	e := newEnv(t, observed(&logs))
	s := serveReal(t, e, nil)
	const drops, workers = 2000, 8
	// 400 steps of 25 ms: 10 s if the call were not cancelled.
	const input = `{"steps":400,"delayMs":25}`
	tok := alice(t)

	s.stillServes(t) // warm: the tools' first instances, the client's connections
	s.client.CloseIdleConnections()
	baseline := settledGoroutines(0, time.Second)

	results := make(chan droppedCall, drops)
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for range jobs {
				results <- dropOne(s, tok, input)
			}
		})
	}
	for i := range drops {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(start)
	close(results)

	seen := map[string]bool{}
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if seen[r.id] {
			t.Fatalf("call id %s twice", r.id)
		}
		seen[r.id] = true
		st := parseSSE(t, bytes.NewReader(r.replay))
		checkCallStream(t, st, 0)
		last := st.Events[len(st.Events)-1].envelope(t)
		var d struct{ Reason string }
		json.Unmarshal(last.Data, &d)
		if last.Type != "call.cancelled" || d.Reason != "client_gone" {
			t.Fatalf("call %s dropped by its client ended with %s %s", r.id, last.Type, last.Data)
		}
	}
	t.Logf("figure: %d streams dropped mid-call by their clients (%d at a time), each ended call.cancelled client_gone; %v, %.0f drops/s",
		drops, workers, wall.Round(time.Millisecond), float64(drops)/wall.Seconds())

	for name, want := range map[string]float64{
		"capstream_calls_in_flight": 0,
		"capstream_streams_open":    0,
		// Counted once the engine has returned, after the terminal event.
		`capstream_calls_total{outcome="cancelled",tool="slow"}`: drops,
	} {
		if v := settledMetric(t, s.metrics, name, want); v != want {
			t.Errorf("%s is %v after the drops, want %v", name, v, want)
		}
	}
	m := s.metrics(t)
	for name, want := range map[string]float64{
		`capstream_calls_total{outcome="cancelled",tool="slow"}`: drops,
		`capstream_calls_total{outcome="completed",tool="slow"}`: -1, // absent
		`capstream_calls_rejected_total{cap="principal"}`:        -1,
		`capstream_calls_rejected_total{cap="global"}`:           -1,
	} {
		got, ok := metric(m, name)
		if want < 0 && ok || want >= 0 && (!ok || got != want) {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	s.client.CloseIdleConnections()
	after := settledGoroutines(baseline, 10*time.Second)
	t.Logf("figure: goroutines %d before the drops, %d after", baseline, after)
	if after > baseline {
		t.Errorf("goroutines: %d after the drops, %d before", after, baseline)
	}
	s.stillServes(t)
	noPanics(t, logs, s)
}

type droppedCall struct {
	id     string
	replay []byte // GET /v1/calls/{id}/events after the drop
	err    error
}

// dropOne starts a long call as a stream, reads until call.started, hangs
// up, and replays the call's events as its owner: the replay ends with the
// terminal event, so it returns once the call has ended.
func dropOne(s *realServer, tok, input string) (d droppedCall) {
	req, _ := http.NewRequest("POST", s.url+"/v1/tools/slow/calls", strings.NewReader(input))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := s.client.Do(req)
	if err != nil {
		d.err = err
		return d
	}
	d.id = strings.TrimPrefix(resp.Header.Get("Location"), "/v1/calls/")
	if resp.StatusCode != http.StatusOK || d.id == "" {
		resp.Body.Close()
		d.err = fmt.Errorf("starting a call: %s, Location %q", resp.Status, d.id)
		return d
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			resp.Body.Close()
			d.err = fmt.Errorf("call %s: the stream ended before call.started: %v", d.id, err)
			return d
		}
		if line == "event: call.started\n" {
			break
		}
	}
	resp.Body.Close() // mid-stream: the transport closes the connection
	req, _ = http.NewRequest("GET", s.url+"/v1/calls/"+d.id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = s.client.Do(req)
	if err != nil {
		d.err = err
		return d
	}
	defer resp.Body.Close()
	d.replay, d.err = io.ReadAll(resp.Body)
	if d.err == nil && resp.StatusCode != http.StatusOK {
		d.err = fmt.Errorf("replaying call %s: %s", d.id, resp.Status)
	}
	return d
}

// settledGoroutines waits, up to limit, for the number of goroutines to
// fall to want or below (0: to stop changing), and returns it. Goroutines
// of closed connections end on their own time: there is no signal to wait
// for but their count.
func settledGoroutines(want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	n := runtime.NumGoroutine()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if want > 0 && m <= want || want == 0 && m == n {
			return m
		}
		n = m
	}
	return n
}

// TestHostileSubscriberNeverReads: a subscriber that never reads its
// stream costs the server a bounded amount (the socket's buffers: events
// wait in the call's log, not in a queue per subscriber); when a write has
// been blocked for the stream's WriteTimeout it is dropped, while the call
// runs on undisturbed and another subscriber sees the whole stream.
func TestHostileSubscriberNeverReads(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	e := newEnv(t, func(c *httpapi.Config) { c.Stream.WriteTimeout = writeTimeout })
	s := serveReal(t, e, nil)
	// Small kernel buffers on the server's side, so the stalled stream
	// backs up after a few KiB rather than megabytes.
	s.conns.mu.Lock()
	s.conns.setWriteBuffer = 4 << 10
	s.conns.mu.Unlock()

	// 240 steps of 20 ms, two events (and host calls) each: over 100 KB of
	// stream, for at least 4.8 s, within the default 500 host calls.
	const steps = 240
	resp := s.request(t, "POST", "/v1/tools/slow/calls?detach=1", alice(t), strings.NewReader(fmt.Sprintf(`{"steps":%d,"delayMs":20}`, steps)), "Content-Type", "application/json")
	d := decode[struct{ CallID, Events string }](t, resp)

	// The subscriber that reads.
	reader := s.request(t, "GET", d.Events, alice(t), nil)
	whole := make(chan []byte, 1)
	go func() {
		defer reader.Body.Close()
		b, _ := io.ReadAll(reader.Body)
		whole <- b
	}()

	// The subscriber that never reads, with a small receive buffer.
	c := s.dial(t)
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: capstream\r\nAuthorization: Bearer %s\r\n\r\n", d.Events, alice(t)); err != nil {
		t.Fatal(err)
	}
	stalled := s.conns.conn(t, c)
	start := time.Now()
	select {
	case <-stalled.closed:
	case <-time.After(30 * time.Second):
		t.Fatalf("the subscriber that never reads was not dropped; the server wrote it %d bytes", stalled.bytesWritten())
	}
	dropAfter := time.Since(start)
	st := decode[struct{ Status string }](t, s.request(t, "GET", "/v1/calls/"+d.CallID, alice(t), nil))
	if st.Status != "running" {
		t.Fatalf("when the stalled subscriber was dropped the call was %s, want running (the test proves nothing)", st.Status)
	}

	b := <-whole
	full := parseSSE(t, bytes.NewReader(b))
	checkCallStream(t, full, 0)
	last := full.Events[len(full.Events)-1]
	if last.Type != "call.completed" || len(full.Events) != 1+2*steps+1 {
		t.Fatalf("the reading subscriber saw %d events, ending with %s %s; want %d ending with call.completed", len(full.Events), last.Type, last.Data, 2+2*steps)
	}
	written := stalled.bytesWritten()
	if written >= len(b)/2 {
		t.Fatalf("the server wrote %d bytes to the subscriber that never reads, of a %d-byte stream: not bounded by its buffers", written, len(b))
	}
	t.Logf("figure: a subscriber that never reads was dropped %v after subscribing, holding %d bytes of a %d-byte stream; the call and the other subscriber were unaffected",
		dropAfter.Round(time.Millisecond), written, len(b))
	if v, _ := metric(s.metrics(t), "capstream_streams_open"); v != 0 {
		t.Errorf("%v streams open after the call", v)
	}
}

// trickle writes b to c one byte every interval, until all is sent, a write
// fails or stop is closed, and then sends how many bytes it wrote.
func trickle(c net.Conn, b []byte, every time.Duration, stop <-chan struct{}) <-chan int {
	sentc := make(chan int, 1)
	go func() {
		sent := 0
		defer func() { sentc <- sent }()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for sent < len(b) {
			if _, err := c.Write(b[sent : sent+1]); err != nil {
				return
			}
			sent++
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	return sentc
}
