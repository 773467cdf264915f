package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadConfig is what measure runs.
type loadConfig struct {
	url, token, input string // url: the tool's calls endpoint
	clients           int
	warmup, duration  time.Duration
	serverPID         int         // if not zero, the server's CPU time is measured too
	tls               *tls.Config // for an https url; nil: the system's roots
}

// Failure kinds, as the report names them.
const (
	failTooMany   = "429"              // the server refused the call: too many running
	failStatus    = "non-200"          // any other status but 200
	failTransport = "transport"        // the request or the stream broke
	failNoEnd     = "missing terminal" // the stream ended without a terminal event
	failFailed    = "call.failed"
	failCancelled = "call.cancelled"
)

// failureKinds is the order the report lists them in.
var failureKinds = []string{failTooMany, failStatus, failTransport, failNoEnd, failFailed, failCancelled}

// measure runs cfg.clients clients, each calling back to back on a
// keep-alive connection of its own, for cfg.warmup and then cfg.duration.
// A call counts (and its latency, from the request to the terminal event,
// is kept) if its terminal event arrived during the measured time; a
// failure counts whenever it happened, warm-up included. No call starts
// after the measured time; those running then are read to their end.
func measure(ctx context.Context, cfg loadConfig) (*result, error) {
	target, err := newTarget(cfg.url, cfg.token, cfg.input, cfg.tls)
	if err != nil {
		return nil, err
	}
	var dials atomic.Int64
	start := time.Now()
	from := start.Add(cfg.warmup)
	until := from.Add(cfg.duration)
	per := make([]clientResult, cfg.clients)
	var wg sync.WaitGroup
	for i := range per {
		wg.Go(func() {
			c := caller{target: target, dials: &dials}
			defer c.drop()
			r := &per[i]
			for ctx.Err() == nil && time.Now().Before(until) {
				t0 := time.Now()
				o := c.call(ctx)
				t1 := time.Now()
				switch {
				case ctx.Err() != nil: // interrupted: not the server's failure
				case o.kind != "":
					r.fail(o)
				case !t1.Before(from) && !t1.After(until):
					r.latencies = append(r.latencies, t1.Sub(t0))
				}
			}
		})
	}
	// The CPU time each process spent in the measured time, where the
	// system says (Linux).
	var cpu [2]cpuSpan
	pids := [2]int{os.Getpid(), cfg.serverPID}
	wg.Go(func() {
		for _, at := range []time.Time{from, until} {
			select {
			case <-time.After(time.Until(at)):
			case <-ctx.Done():
				return
			}
			for i, pid := range pids {
				cpu[i].sample(pid)
			}
		}
	})
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &result{clients: cfg.clients, warmup: cfg.warmup, duration: cfg.duration, conns: dials.Load(),
		failed: map[string]int{}, example: map[string]string{}}
	res.loadCPU, res.serverCPU = cpu[0].used(), cpu[1].used()
	for _, r := range per {
		res.latencies = append(res.latencies, r.latencies...)
		for k, n := range r.failed {
			res.failed[k] += n
			if _, ok := res.example[k]; !ok {
				res.example[k] = r.example[k]
			}
		}
	}
	slices.Sort(res.latencies)
	return res, nil
}

// clientResult is what one client saw.
type clientResult struct {
	latencies []time.Duration
	failed    map[string]int
	example   map[string]string // the first message of each kind
}

func (r *clientResult) fail(o outcome) {
	if r.failed == nil {
		r.failed, r.example = map[string]int{}, map[string]string{}
	}
	if r.failed[o.kind]++; r.failed[o.kind] == 1 {
		r.example[o.kind] = o.detail
	}
}

// target is where the calls go, and the request each one sends.
type target struct {
	addr    string      // host:port
	tls     *tls.Config // nil for http
	request []byte      // the whole request, as sent
}

// newTarget checks the calls endpoint's URL and serializes the request
// every call sends: net/http writes it once, with its Host and
// Content-Length. tlsConfig, if not nil, is used for an https URL.
func newTarget(rawURL, token, input string, tlsConfig *tls.Config) (*target, error) {
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(input))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	u := req.URL
	t := &target{addr: u.Host}
	switch u.Scheme {
	case "http":
		if u.Port() == "" {
			t.addr = net.JoinHostPort(u.Hostname(), "80")
		}
	case "https":
		if u.Port() == "" {
			t.addr = net.JoinHostPort(u.Hostname(), "443")
		}
		t.tls = &tls.Config{}
		if tlsConfig != nil {
			t.tls = tlsConfig.Clone()
		}
		t.tls.ServerName = u.Hostname()
	default:
		return nil, fmt.Errorf("%q: the URL must be http:// or https://", rawURL)
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, err
	}
	t.request = b.Bytes()
	return t, nil
}

// caller makes calls for one client on a keep-alive connection of its own.
// It speaks HTTP/1.1 on that connection itself, the request written in one
// piece and the response read with http.ReadResponse, rather than through
// http.Transport: the transport's two goroutines per connection and the
// hand-offs between them cost more CPU than reading the stream does, CPU
// that a load tool sharing the server's machine takes from the server.
type caller struct {
	*target
	dials *atomic.Int64
	conn  net.Conn
	stop  func() bool   // ends closing conn when the context ends
	br    *bufio.Reader // on conn
	body  *bufio.Reader // on the response's body
}

// outcome is what became of a call: kind is empty for call.completed,
// else a failure kind, with detail saying more.
type outcome struct {
	kind, detail string
}

// call makes one streamed call and reads its stream to the terminal event,
// then to its end, so that the connection can carry the next call.
func (c *caller) call(ctx context.Context) outcome {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return outcome{failTransport, err.Error()}
		}
	}
	if _, err := c.conn.Write(c.request); err != nil {
		c.drop()
		return outcome{failTransport, err.Error()}
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.drop()
		return outcome{failTransport, "reading the response: " + err.Error()}
	}
	o := c.read(resp)
	// Reading the body to its end leaves the connection at the next
	// response; one the server closes, or that broke, is not reused.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.Close {
		c.drop()
	}
	return o
}

// read reads a response up to its terminal event.
func (c *caller) read(resp *http.Response) outcome {
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		kind := failStatus
		if resp.StatusCode == http.StatusTooManyRequests {
			kind = failTooMany
		}
		return outcome{kind, resp.Status + ": " + strings.TrimSpace(string(body))}
	}
	if c.body == nil {
		c.body = bufio.NewReaderSize(resp.Body, 16<<10)
	} else {
		c.body.Reset(resp.Body)
	}
	typ, data, err := readTerminal(c.body)
	if err != nil {
		return outcome{failTransport, "reading the stream: " + err.Error()}
	}
	return terminalOutcome(typ, data)
}

// dial opens the client's connection, closed when ctx ends.
func (c *caller) dial(ctx context.Context) error {
	c.dials.Add(1)
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	c.conn, c.stop = conn, context.AfterFunc(ctx, func() { conn.Close() })
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 16<<10)
	} else {
		c.br.Reset(conn)
	}
	return nil
}

// drop closes the connection, if there is one; the next call dials anew.
func (c *caller) drop() {
	if c.conn != nil {
		c.stop()
		c.conn.Close()
		c.conn = nil
	}
}

// terminalOutcome classifies a stream by its terminal event (typ is empty
// if it had none).
func terminalOutcome(typ string, data []byte) outcome {
	switch typ {
	case "call.completed":
		return outcome{}
	case "call.failed":
		var env struct {
			Data struct {
				Error struct{ Code, Message string } `json:"error"`
			} `json:"data"`
		}
		json.Unmarshal(data, &env)
		return outcome{failFailed, env.Data.Error.Code + ": " + env.Data.Error.Message}
	case "call.cancelled":
		var env struct {
			Data struct{ Reason string } `json:"data"`
		}
		json.Unmarshal(data, &env)
		return outcome{failCancelled, "reason: " + env.Data.Reason}
	default:
		return outcome{failNoEnd, "the stream ended without call.completed, call.failed or call.cancelled"}
	}
}

// readTerminal reads Server-Sent Events from r until a terminal event
// (call.completed, call.failed or call.cancelled) and returns its type and
// data. At the end of the stream without one it returns "" and no error.
// Lines end in LF or CRLF (a lone CR, which SSE also allows, is not taken
// for a line break; capstream never sends one); a field's value drops one
// leading space; the data lines of an event are joined with LF.
func readTerminal(r *bufio.Reader) (typ string, data []byte, err error) {
	var line, event []byte
	hasData := false
	for {
		line, err = readLine(r, line[:0])
		if err != nil && !errors.Is(err, io.EOF) {
			return "", nil, err
		}
		if err != nil && len(line) == 0 {
			return "", nil, nil // the end, between lines
		}
		switch {
		case len(line) == 0: // a blank line dispatches the event
			if isTerminal(event) {
				return string(event), data, nil
			}
			event, data, hasData = event[:0], data[:0], false
		case line[0] == ':': // a comment
		default:
			name, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(name) {
			case "event":
				event = append(event[:0], value...)
			case "data":
				if hasData {
					data = append(data, '\n')
				}
				data, hasData = append(data, value...), true
			}
		}
		if err != nil {
			return "", nil, nil // the end, in a line never finished
		}
	}
}

func isTerminal(event []byte) bool {
	switch string(event) {
	case "call.completed", "call.failed", "call.cancelled":
		return true
	}
	return false
}

// readLine appends the next line of r, without its line break, to buf. At
// the end of r it returns what it read and io.EOF.
func readLine(r *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		part, err := r.ReadSlice('\n')
		buf = append(buf, part...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil {
			buf = bytes.TrimSuffix(buf[:len(buf)-1], []byte("\r"))
		}
		return buf, err
	}
}

// result is a measurement, as the report shows it.
type result struct {
	tool, server     string
	clients          int
	warmup, duration time.Duration
	conns            int64           // connections opened
	latencies        []time.Duration // of the calls counted, sorted
	failed           map[string]int
	example          map[string]string
	// The CPU time the load tool and the server spent in the measured
	// time; zero if unknown.
	loadCPU, serverCPU time.Duration
}

func (r *result) failures() int {
	n := 0
	for _, c := range r.failed {
		n += c
	}
	return n
}

// rate is the counted calls per second of the measured time.
func (r *result) rate() float64 {
	return float64(len(r.latencies)) / r.duration.Seconds()
}

// quantile returns the q-quantile of the latencies (nearest rank), or zero
// if there are none.
func (r *result) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.latencies))+0.5) - 1
	return r.latencies[min(max(i, 0), len(r.latencies)-1)]
}

// write prints the report.
func (r *result) write(w io.Writer) {
	fmt.Fprintf(w, "tool       %s, %d clients, one principal, streamed (POST, Accept: text/event-stream)\n", r.tool, r.clients)
	fmt.Fprintf(w, "server     %s\n", r.server)
	fmt.Fprintf(w, "measured   %v after %v of warm-up, over %d connections\n", r.duration, r.warmup, r.conns)
	fmt.Fprintf(w, "calls      %s completed: %s calls/s\n", thousands(float64(len(r.latencies))), thousands(r.rate()))
	fmt.Fprintf(w, "latency    p50 %s  p90 %s  p99 %s  max %s\n",
		ms(r.quantile(0.50)), ms(r.quantile(0.90)), ms(r.quantile(0.99)), ms(r.quantile(1)))
	if r.serverCPU > 0 || r.loadCPU > 0 {
		fmt.Fprintf(w, "cpu        %s\n", r.cpuLine())
	}
	n := r.failures()
	if n == 0 {
		fmt.Fprintln(w, "failures   0")
		return
	}
	fmt.Fprintf(w, "failures   %s (warm-up included), by kind, with the first of each:\n", thousands(float64(n)))
	for _, k := range failureKinds {
		if c := r.failed[k]; c > 0 {
			fmt.Fprintf(w, "  %-17s %8s  %s\n", k, thousands(float64(c)), oneLine(r.example[k], 160))
		}
	}
}

// cpuLine says how busy each process was, and its CPU time per call.
func (r *result) cpuLine() string {
	var parts []string
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"server", r.serverCPU}, {"load tool", r.loadCPU}} {
		if p.d <= 0 {
			continue
		}
		s := fmt.Sprintf("%s %.2f CPUs", p.name, p.d.Seconds()/r.duration.Seconds())
		if n := len(r.latencies); n > 0 {
			s += fmt.Sprintf(" (%.0f µs a call)", float64(p.d.Microseconds())/float64(n))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// ms formats d in milliseconds with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", d.Seconds()*1e3)
}

// thousands formats v rounded to a whole number, with commas.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// oneLine shortens s to one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
