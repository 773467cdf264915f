package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/apitest"
	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) { testwasm.Main(m, true) }

func TestReadTerminal(t *testing.T) {
	tests := []struct {
		name, stream string
		wantType     string
		wantData     string
	}{
		{
			name: "completed",
			stream: "retry: 2000\n: ok\n\n" +
				"id: 1\nevent: call.started\ndata: {\"type\":\"call.started\"}\n\n" +
				"id: 2\nevent: call.completed\ndata: {\"type\":\"call.completed\",\"data\":{\"output\":{}}}\n\n",
			wantType: "call.completed", wantData: `{"type":"call.completed","data":{"output":{}}}`,
		},
		{
			name:     "CRLF, no space after the colon, data on two lines",
			stream:   ": ping\r\n\r\nevent:call.failed\r\ndata:{\"a\":\r\ndata: 1}\r\n\r\n",
			wantType: "call.failed", wantData: "{\"a\":\n1}",
		},
		{
			name:   "a terminal type not yet dispatched is not the end",
			stream: "event: call.completed\ndata: {}\n",
		},
		{
			name:   "no terminal event",
			stream: "id: 1\nevent: call.started\ndata: {}\n\n",
		},
		{
			name:   "empty",
			stream: "",
		},
		{
			name:     "a data line longer than the reader's buffer",
			stream:   "event: call.cancelled\ndata: " + strings.Repeat("x", 100) + "\n\n",
			wantType: "call.cancelled", wantData: strings.Repeat("x", 100),
		},
		{
			name:     "the event type of one event does not leak into the next",
			stream:   "event: call.completed\n: only a comment\nevent: host.log\ndata: {}\n\ndata: {}\n\nevent: call.completed\ndata: 2\n\n",
			wantType: "call.completed", wantData: "2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, data, err := readTerminal(bufio.NewReaderSize(strings.NewReader(tt.stream), 16))
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.wantType || string(data) != tt.wantData {
				t.Errorf("got %q %q, want %q %q", typ, data, tt.wantType, tt.wantData)
			}
		})
	}
}

func TestReadTerminalError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("event: call.started\n"), errReader{})
	if _, _, err := readTerminal(bufio.NewReader(r)); err != io.ErrUnexpectedEOF {
		t.Errorf("err = %v, want the reader's", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestTerminalOutcome(t *testing.T) {
	tests := []struct {
		typ, data string
		want      outcome
	}{
		{"call.completed", `{}`, outcome{}},
		{"call.failed", `{"data":{"error":{"code":"timeout","message":"too slow"}}}`, outcome{failFailed, "timeout: too slow"}},
		{"call.cancelled", `{"data":{"reason":"shutdown"}}`, outcome{failCancelled, "reason: shutdown"}},
		{"", ``, outcome{failNoEnd, "the stream ended without call.completed, call.failed or call.cancelled"}},
	}
	for _, tt := range tests {
		if got := terminalOutcome(tt.typ, []byte(tt.data)); got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.typ, got, tt.want)
		}
	}
}

func TestReport(t *testing.T) {
	r := &result{
		tool: "echo", server: "given with -url", clients: 16,
		warmup: 2 * time.Second, duration: 10 * time.Second, conns: 16,
		serverCPU: 15 * time.Second, loadCPU: 3 * time.Second,
		failed:  map[string]int{failTooMany: 1200, failFailed: 3},
		example: map[string]string{failTooMany: "429 Too Many Requests: {\"error\":\n{}}", failFailed: "trap: boom"},
	}
	for i := range 25000 {
		r.latencies = append(r.latencies, time.Duration(i+1)*time.Microsecond)
	}
	var out bytes.Buffer
	r.write(&out)
	want := `tool       echo, 16 clients, one principal, streamed (POST, Accept: text/event-stream)
server     given with -url
measured   10s after 2s of warm-up, over 16 connections
calls      25,000 completed: 2,500 calls/s
latency    p50 12.50 ms  p90 22.50 ms  p99 24.75 ms  max 25.00 ms
cpu        server 1.50 CPUs (600 µs a call), load tool 0.30 CPUs (120 µs a call)
failures   1,203 (warm-up included), by kind, with the first of each:
  429                  1,200  429 Too Many Requests: {"error": {}}
  call.failed              3  trap: boom
`
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
	if r.failures() != 1203 {
		t.Errorf("failures() = %d", r.failures())
	}

	empty := &result{tool: "echo", clients: 1, duration: time.Second}
	out.Reset()
	empty.write(&out)
	if !strings.Contains(out.String(), "calls      0 completed: 0 calls/s\n") || !strings.Contains(out.String(), "failures   0\n") {
		t.Errorf("empty report:\n%s", out.String())
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 2512.6: "2,513", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	o, err := parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.clients != 16 || o.maxPerPrincipal != 16 || o.tool != "echo" || o.duration != 10*time.Second || o.url != "" {
		t.Errorf("defaults: %+v", o)
	}
	if o, _ := parse([]string{"-clients", "32"}, io.Discard); o.maxPerPrincipal != 32 {
		t.Errorf("the server's per-principal cap follows -clients: %d", o.maxPerPrincipal)
	}
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-duration", "0s"},
		{"-warmup", "-1s"},
		{"-url", "http://127.0.0.1:8080"},
		{"-token", "x"},
		{"-url", "http://127.0.0.1:8080", "-token", "x", "-serve-arg", "--heartbeat=1s"},
		{"-input", "[1]"},
		{"extra"},
	} {
		if _, err := parse(args, io.Discard); err == nil {
			t.Errorf("parse(%q) accepted", args)
		}
	}
}

func TestReadBanner(t *testing.T) {
	// What capstream serve --dev prints (cmd/runtime's printDevBanner).
	banner := `
capstream is running in dev mode at http://127.0.0.1:40123

  export ALICE=eyJhbGciOiJIUzI1NiJ9.a.b   # role analyst
  export BOB=eyJhbGciOiJIUzI1NiJ9.c.d   # role guest

Demo page: http://127.0.0.1:40123/
`
	ch := make(chan [2]string, 1)
	readBanner(strings.NewReader(banner), ch)
	if got := <-ch; got != [2]string{"http://127.0.0.1:40123", "eyJhbGciOiJIUzI1NiJ9.a.b"} {
		t.Errorf("got %q", got)
	}
	readBanner(strings.NewReader("no banner\n"), ch)
	if got := <-ch; got != [2]string{} {
		t.Errorf("without a banner: %q", got)
	}
}

// TestMeasureSmoke runs the load for a second against an in-process server
// with the echo tool: every call completes, on one connection per client.
func TestMeasureSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the echo tool")
	}
	ctx := context.Background()
	srv, token := apitest.ServeTool(t, "echo")

	const clients = 4 // under the default per-principal cap of 16
	res, err := measure(ctx, loadConfig{
		url: srv.URL + "/v1/tools/echo/calls", token: token, input: `{"text":"smoke"}`,
		clients: clients, warmup: 100 * time.Millisecond, duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res.write(&out)
	t.Logf("\n%s", out.String())
	if n := res.failures(); n != 0 {
		t.Fatalf("%d calls failed:\n%s", n, out.String())
	}
	if len(res.latencies) == 0 {
		t.Fatal("no call completed")
	}
	if res.conns != clients {
		t.Errorf("%d connections for %d clients: connections are not reused", res.conns, clients)
	}
	if res.loadCPU <= 0 && res.serverCPU != 0 {
		t.Errorf("CPU: load %v, server %v (no server process given)", res.loadCPU, res.serverCPU)
	}

	// A tool the principal may not call: every call is a non-200 failure.
	res, err = measure(ctx, loadConfig{
		url: srv.URL + "/v1/tools/nope/calls", token: token, input: `{}`,
		clients: 1, duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.failed[failStatus] == 0 || len(res.latencies) != 0 || !strings.HasPrefix(res.example[failStatus], "404") {
		t.Errorf("calls of a missing tool: %+v %v", res.failed, res.example)
	}
}

// fakeCalls is a calls endpoint that answers every call with a stream
// ending in call.completed, closing the connection after each response if
// closeEach is set.
func fakeCalls(closeEach bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Accept") != "text/event-stream" ||
			r.Header.Get("Content-Type") != "application/json" || r.Method != http.MethodPost {
			http.Error(w, "bad request: "+r.Method+" "+r.Header.Get("Authorization"), http.StatusBadRequest)
			return
		}
		if body, _ := io.ReadAll(r.Body); string(body) != `{"text":"x"}` {
			http.Error(w, "bad body "+string(body), http.StatusBadRequest)
			return
		}
		if closeEach {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\nevent: call.started\ndata: {}\n\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, "id: 2\nevent: call.completed\ndata: {\"type\":\"call.completed\"}\n\n")
	})
}

// TestMeasureConnections: the clients reuse their connections, dial again
// when the server closes one, and reach an https server with the TLS
// configuration given.
func TestMeasureConnections(t *testing.T) {
	for _, tc := range []struct {
		name             string
		closeEach, https bool
	}{{"keep-alive", false, false}, {"server closes", true, false}, {"https", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(fakeCalls(tc.closeEach))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			cfg := loadConfig{token: "tok", input: `{"text":"x"}`, clients: 2, duration: 300 * time.Millisecond}
			if tc.https {
				srv.StartTLS()
				cfg.tls = srv.Client().Transport.(*http.Transport).TLSClientConfig
			} else {
				srv.Start()
			}
			defer srv.Close()
			cfg.url = srv.URL + "/v1/tools/echo/calls"
			res, err := measure(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if n := res.failures(); n != 0 {
				t.Fatalf("%d failures: %v", n, res.example)
			}
			calls := int64(len(res.latencies))
			if calls < 10 {
				t.Fatalf("only %d calls completed", calls)
			}
			switch {
			case tc.closeEach && (res.conns < calls || conns.Load() != res.conns):
				t.Errorf("server closing: %d calls over %d connections (server saw %d)", calls, res.conns, conns.Load())
			case !tc.closeEach && (res.conns != 2 || conns.Load() != 2):
				t.Errorf("%d connections (server saw %d) for 2 clients", res.conns, conns.Load())
			}
		})
	}
}

func TestNewTargetRefuses(t *testing.T) {
	for _, u := range []string{"ftp://h/v1/tools/echo/calls", "://x", "h:80/v1"} {
		if _, err := newTarget(u, "tok", "{}", nil); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
	tg, err := newTarget("http://127.0.0.1/v1/tools/echo/calls", "tok", `{"a":1}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tg.addr != "127.0.0.1:80" || !bytes.HasPrefix(tg.request, []byte("POST /v1/tools/echo/calls HTTP/1.1\r\nHost: 127.0.0.1\r\n")) ||
		!bytes.Contains(tg.request, []byte("\r\nContent-Length: 7\r\n")) || !bytes.HasSuffix(tg.request, []byte("\r\n\r\n{\"a\":1}")) {
		t.Errorf("addr %q, request:\n%s", tg.addr, tg.request)
	}
}
