package httpapi_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// writesListener records what the server writes to each connection, write
// by write.
type writesListener struct {
	net.Listener
	mu     sync.Mutex
	writes [][]byte
}

func (l *writesListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &writesConn{Conn: c, l: l}, nil
}

func (l *writesListener) all() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.writes...)
}

type writesConn struct {
	net.Conn
	l *writesListener
}

func (c *writesConn) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes = append(c.l.writes, bytes.Clone(p))
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

// TestStreamStartsWithCallStarted: the response of a streamed call leaves
// in as few writes as its events allow. The first write to the connection
// carries the status line and headers, the stream's start (retry, ": ok")
// and call.started together, rather than the start alone with the event a
// moment later: one write and one wake-up of the client fewer per call.
func TestStreamStartsWithCallStarted(t *testing.T) {
	e := newEnv(t)
	ln := &writesListener{Listener: newLocalListener(t)}
	srv := httptest.NewUnstartedServer(e.api.Handler())
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	for i := range 5 {
		before := len(ln.all())
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/tools/echo/calls", strings.NewReader(`{"text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+alice(t))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "event: call.completed\n") {
			t.Fatalf("call %d: %v %d %s", i, err, resp.StatusCode, body)
		}
		writes := ln.all()[before:]
		first := string(writes[0])
		if !strings.HasPrefix(first, "HTTP/1.1 200 OK\r\n") || !strings.Contains(first, "retry: ") ||
			!strings.Contains(first, "event: call.started\n") {
			t.Fatalf("call %d: the first of %d writes is\n%q\nwant the headers, the start and call.started", i, len(writes), first)
		}
	}
}

func newLocalListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
