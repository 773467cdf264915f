package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/stream"
)

// The benchmarks of docs/design.md §9 that need the HTTP layer. Each runs over a
// real TCP server on loopback (newEnv), and checks once, before it measures,
// that the path it measures really works.
//
// Memory figures are deltas of runtime.MemStats HeapInuse+StackInuse over a
// baseline taken in the same process just before, each after a full
// collection (see sampleMem for why these two stats), and, as a cross-check,
// deltas of the resident set.

// BenchmarkHTTPEcho is POST /v1/tools/echo/calls with Accept:
// text/event-stream, read to the end of the stream (the terminal event),
// by N concurrent clients with keep-alive connections. Each client is its
// own principal, as distinct users would be: the per-principal cap (16 by
// default) is not what this measures. It reports calls/s, and per-call
// latency p50 and p99; every call must complete with the right output, or
// the benchmark fails. Allocations are those of the client and the server
// together, which share the process.
func BenchmarkHTTPEcho(b *testing.B) {
	e := newEnv(b, withHeartbeat(stream.DefaultHeartbeat))
	checkEcho(b, e)
	for _, clients := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchEcho(b, e, clients) })
	}
}

const echoInput, echoOutput = `{"text":"bench"}`, `"output":{"text":"bench"}`

// checkEcho runs one streamed echo call in full: the stream is well formed
// and the call completed with the right output, so that benchEcho may
// check less.
func checkEcho(b *testing.B, e *env) {
	_, s := e.stream(alice(b), "echo", echoInput)
	checkCallStream(b, s, 0)
	if got := strings.Join(types(s), ","); got != "call.started,host.log,call.completed" {
		b.Fatalf("echo stream: %s", got)
	}
	if last := s.Events[len(s.Events)-1]; !strings.Contains(last.Data, echoOutput) {
		b.Fatalf("echo terminal event: %s", last.Data)
	}
}

// benchEcho measures streamed echo calls by clients concurrent callers,
// each a principal of its own.
func benchEcho(b *testing.B, e *env, clients int) {
	hc := keepAliveClient(clients)
	defer hc.CloseIdleConnections()
	tokens := benchTokens(b, clients)
	endpoint := e.srv.URL + "/v1/tools/echo/calls"
	measureCalls(b, clients, func(i int, body *bytes.Buffer) error {
		return echoCall(hc, endpoint, tokens[i], echoInput, echoOutput, body)
	})
}

// benchTokens mints one token per client, each for a principal of its own
// with role analyst, outside the timing.
func benchTokens(b *testing.B, clients int) []string {
	tokens := make([]string, clients)
	for i := range tokens {
		tokens[i] = token(b, fmt.Sprintf("bench-client-%d", i), time.Hour, "analyst")
	}
	return tokens
}

// measureCalls runs b.N calls over clients concurrent callers, call(i,
// buf) being one call of caller i, and reports calls/s, p50-ms and p99-ms.
// Any failed call fails the benchmark.
func measureCalls(b *testing.B, clients int, call func(i int, buf *bytes.Buffer) error) {
	var (
		next, failed atomic.Int64
		firstErr     error
		once         sync.Once
		wg           sync.WaitGroup
		latencies    = make([][]time.Duration, clients)
	)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			var buf bytes.Buffer
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := call(i, &buf); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				latencies[i] = append(latencies[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d calls did not complete; the first: %v", n, b.N, firstErr)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(quantile(all, 0.50).Seconds()*1e3, "p50-ms")
	b.ReportMetric(quantile(all, 0.99).Seconds()*1e3, "p99-ms")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/call")
	}
}

// processCPU is the CPU time (user and system) the process has used so
// far, or 0 if unknown. Per call, it is the cost of a call to client and
// server together, less sensitive than calls/s to what else the machine
// runs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// echoCall makes one streamed echo call and reads the stream to its end,
// which must be call.completed with the expected output.
func echoCall(hc *http.Client, endpoint, tok, input, output string, body *bytes.Buffer) error {
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(input))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body.Reset()
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("reading the stream: %w", err)
	}
	b := body.Bytes()
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s: %s", resp.Status, b)
	case !bytes.Contains(b, []byte("\nevent: call.completed\ndata: ")) || !bytes.Contains(b, []byte(output)):
		return fmt.Errorf("the stream did not end with call.completed and %s:\n%s", output, b)
	}
	return nil
}

// BenchmarkLiveCalls holds N calls of the Go-built slow tool in flight at
// once (detached, so no connection is held for them) and reports the memory
// each adds: its instance's linear memory, its goroutine, its event log and
// the server's bookkeeping ("bytes/call", HeapInuse+StackInuse), how many
// such calls fit in a GiB ("calls/GiB"), and, as a cross-check, the resident
// set's growth ("rss-bytes/call", Linux only): pages of a linear memory the
// guest never touched are not resident, and a linear memory allocated off
// the Go heap (mmap) would show there only. A call counts as live once it
// has reported its first step, so its instance is up and sleeping in the
// guest.
func BenchmarkLiveCalls(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("live=%d", n), func(b *testing.B) {
			e := newEnv(b, withHeartbeat(stream.DefaultHeartbeat), func(c *httpapi.Config) {
				c.MaxCalls, c.MaxCallsPerPrincipal = n, n
			})
			e.longTimeout()
			tok := alice(b)
			hc := keepAliveClient(8)
			defer hc.CloseIdleConnections()

			// Once: the tool held live here completes with the right output.
			_, s := e.stream(tok, "slow", `{"steps":2,"delayMs":1}`)
			checkCallStream(b, s, 0)
			if last := s.Events[len(s.Events)-1]; last.Type != "call.completed" || !strings.Contains(last.Data, `"output":{"steps":2}`) {
				b.Fatalf("slow: %s %s", last.Type, last.Data)
			}

			var perCall, rssPerCall float64
			for b.Loop() {
				before := sampleMem()
				ids := startDetached(b, e, hc, tok, "slow", `{"steps":600,"delayMs":1000}`, n)
				waitLive(b, e, hc, tok, ids)
				after := sampleMem()
				// Every call must still be running: one that ended would
				// have given its memory back before the sample.
				for _, id := range ids {
					if st := callStatusOf(b, e, hc, tok, id); st.Status != "running" {
						b.Fatalf("call %s is %s, want running", id, st.Status)
					}
				}
				perCall = perItem(before.inUse, after.inUse, n)
				rssPerCall = perItem(before.rss, after.rss, n)
				cancelAll(b, e, hc, tok, ids)
			}
			b.ReportMetric(perCall, "bytes/call")
			b.ReportMetric(float64(1<<30)/perCall, "calls/GiB")
			if rssBytes() != 0 { // Linux
				b.ReportMetric(rssPerCall, "rss-bytes/call")
			}
		})
	}
}

// BenchmarkIdleSubscribers holds 10,000 subscribers of live calls' events
// (GET /v1/calls/{id}/events over loopback TCP, one HTTP/1.1 connection
// each) idle, and reports what the server spends on them:
// "bytes/subscriber" (HeapInuse+StackInuse), "MiB/10k", "rss-bytes/subscriber"
// (Linux only) and "goroutines/subscriber". The calls are live and quiet
// (10 s between steps), so the subscribers wait, as idle viewers do; the
// heartbeat is the default 15 s.
//
// The subscribers' side of the connections is held by a process of its own
// (this test binary run again as TestIdleSubscriberClient): so the figures
// are the server's alone, and each process needs one file descriptor per
// subscriber, not two (the hard RLIMIT_NOFILE is often too low for two, and
// raising it needs privilege). The kernel's socket memory is in none of the
// figures.
func BenchmarkIdleSubscribers(b *testing.B) {
	const (
		subscribers = 10000
		calls       = 10 // live calls, each watched by subscribers/calls
	)
	raiseFileLimit(b, subscribers+1000)
	reg := prometheus.NewRegistry()
	e := newEnv(b, withHeartbeat(stream.DefaultHeartbeat), func(c *httpapi.Config) {
		c.Metrics = httpapi.NewMetrics(reg)
	})
	e.longTimeout()
	tok := alice(b)
	hc := keepAliveClient(8)
	defer hc.CloseIdleConnections()

	ids := startDetached(b, e, hc, tok, "slow", `{"steps":60,"delayMs":10000}`, calls)
	defer cancelAll(b, e, hc, tok, ids)
	checkSubscription(b, e, hc, tok)

	var perSub, rssPerSub, goroutines float64
	for b.Loop() {
		waitGauge(b, reg, "capstream_streams_open", 0)
		g0 := runtime.NumGoroutine()
		before := sampleMem()
		stop := startSubscribers(b, e.srv.Listener.Addr().String(), tok, ids, subscribers)
		waitGauge(b, reg, "capstream_streams_open", subscribers)
		after := sampleMem()
		goroutines = float64(runtime.NumGoroutine()-g0) / subscribers
		perSub = perItem(before.inUse, after.inUse, subscribers)
		rssPerSub = perItem(before.rss, after.rss, subscribers)
		stop()
	}
	waitGauge(b, reg, "capstream_streams_open", 0)
	b.ReportMetric(perSub, "bytes/subscriber")
	b.ReportMetric(perSub*subscribers/(1<<20), "MiB/10k")
	if rssBytes() != 0 { // Linux
		b.ReportMetric(rssPerSub, "rss-bytes/subscriber")
	}
	b.ReportMetric(goroutines, "goroutines/subscriber")
}

// Environment of TestIdleSubscriberClient, set by startSubscribers.
const (
	envSubscribeAddr  = "CAPSTREAM_BENCH_SUBSCRIBE_ADDR"
	envSubscribeToken = "CAPSTREAM_BENCH_SUBSCRIBE_TOKEN"
	envSubscribeCalls = "CAPSTREAM_BENCH_SUBSCRIBE_CALLS"
	envSubscribeN     = "CAPSTREAM_BENCH_SUBSCRIBE_N"
	subscribersReady  = "capstream-bench: subscribers ready"
)

// startSubscribers runs this test binary again as TestIdleSubscriberClient,
// which opens n subscriptions to the calls, spread evenly, and holds them.
// It returns once every one has opened; stop closes them all and waits for
// the process to end.
func startSubscribers(b *testing.B, addr, tok string, ids []string, n int) (stop func()) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestIdleSubscriberClient$", "-test.v")
	cmd.Env = append(os.Environ(), envSubscribeAddr+"="+addr, envSubscribeToken+"="+tok,
		envSubscribeCalls+"="+strings.Join(ids, ","), envSubscribeN+"="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != subscribersReady {
		out.WriteString(sc.Text() + "\n")
	}
	if sc.Text() != subscribersReady {
		stdin.Close()
		cmd.Wait()
		b.Fatalf("the subscribers' process ended before it was ready:\n%s", out.String())
	}
	return func() {
		stdin.Close() // the process closes its connections and exits
		io.Copy(io.Discard, stdout)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("the subscribers' process: %v", err)
		}
	}
}

// TestIdleSubscriberClient is the subscribers' side of
// BenchmarkIdleSubscribers, in a process of its own; run directly, it
// skips. It opens the subscriptions, says so on stdout, holds them until
// its stdin is closed, then closes them.
func TestIdleSubscriberClient(t *testing.T) {
	addr := os.Getenv(envSubscribeAddr)
	if addr == "" {
		t.Skip("the subscribers' process of BenchmarkIdleSubscribers")
	}
	tok, ids := os.Getenv(envSubscribeToken), strings.Split(os.Getenv(envSubscribeCalls), ",")
	n, err := strconv.Atoi(os.Getenv(envSubscribeN))
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, n)
	defer closeConns(conns)
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		failed atomic.Pointer[error]
	)
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && failed.Load() == nil; i = int(next.Add(1)) - 1 {
				c, err := dialSubscriber(addr, tok, ids[i%len(ids)])
				if err != nil {
					failed.Store(&err)
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("subscribing: %v", *err)
	}
	fmt.Println(subscribersReady)
	io.Copy(io.Discard, os.Stdin)
}

// checkSubscription subscribes to a live call of its own, as a client
// would, and has it cancelled: the subscriber sees a well-formed stream of
// the whole call, live, ending with call.cancelled (deleted).
func checkSubscription(b *testing.B, e *env, hc *http.Client, tok string) {
	b.Helper()
	ids := startDetached(b, e, hc, tok, "slow", `{"steps":60,"delayMs":10000}`, 1)
	resp := e.do("GET", "/v1/calls/"+ids[0]+"/events", tok, "")
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var head bytes.Buffer
	for !strings.Contains(head.String(), "event: call.started\n") {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			b.Fatalf("subscription: %v after %q", err, head.String())
		}
	}
	cancelAll(b, e, hc, tok, ids)
	s := parseSSE(b, io.MultiReader(&head, br))
	checkCallStream(b, s, 0)
	if last := s.Events[len(s.Events)-1]; last.Type != "call.cancelled" || !strings.Contains(last.Data, `"reason":"deleted"`) {
		b.Fatalf("subscription ended with %s %s", last.Type, last.Data)
	}
}

// dialSubscriber opens GET /v1/calls/{id}/events on a bare connection and
// reads until the stream has opened and replayed call.started: the server
// side is then waiting for the next event.
func dialSubscriber(addr, tok, id string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET /v1/calls/%s/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", id, addr, tok)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if i := bytes.Index(got, []byte("event: call.started\n")); i >= 0 && bytes.Contains(got[i:], []byte("\n\n")) {
			break
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribing to %s: %w after %q", id, err, got)
		}
	}
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 200 ")) {
		c.Close()
		return nil, fmt.Errorf("subscribing to %s: %q", id, got)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

func closeConns(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// waitGauge waits until the gauge name in reg has the value want.
func waitGauge(b *testing.B, reg *prometheus.Registry, name string, want float64) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		got := math.NaN()
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) == 1 {
				got = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s is %v, want %v", name, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memSample is the memory of the process at one moment.
type memSample struct {
	inUse uint64 // HeapInuse + StackInuse
	rss   uint64 // resident set, from /proc/self/statm; 0 if unknown
}

// sampleMem collects garbage, returns what it can to the OS and samples
// memory. HeapInuse counts the spans holding live objects, linear memories
// included (the engine allocates them on the Go heap), with their
// fragmentation; StackInuse counts goroutine stacks. Sys is no use for a
// delta: the runtime keeps what it got from the OS, so Sys never goes down
// between iterations; HeapAlloc would miss the fragmentation, which is a
// real cost. The resident set is sampled too, after debug.FreeOSMemory, so
// that its growth is the pages really touched.
func sampleMem() memSample {
	runtime.GC() // frees what the finalizers of the last cycle let go
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSample{inUse: m.HeapInuse + m.StackInuse, rss: rssBytes()}
}

// perItem is the growth from before to after, divided among n items.
func perItem(before, after uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n)
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * uint64(os.Getpagesize())
}

// raiseFileLimit makes sure the process may open n file descriptors,
// raising RLIMIT_NOFILE (the hard limit too, which needs privilege) or
// skipping the benchmark.
func raiseFileLimit(b *testing.B, n uint64) {
	b.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	want := lim
	want.Cur = n
	want.Max = max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		b.Skipf("needs %d file descriptors, RLIMIT_NOFILE is %d (hard %d) and cannot be raised: %v", n, lim.Cur, lim.Max, err)
	}
	b.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
}

func withHeartbeat(d time.Duration) envOption {
	return func(c *httpapi.Config) { c.Stream.Heartbeat = d }
}

// longTimeout reloads the test policy with a call timeout of five minutes,
// so that calls held live by a benchmark are not ended by their deadline.
func (e *env) longTimeout() {
	e.t.Helper()
	p := strings.Replace(testPolicy, "timeout: 20s", "timeout: 5m", 1)
	if p == testPolicy {
		e.t.Fatal("testPolicy changed shape; update longTimeout")
	}
	if err := os.WriteFile(e.file, []byte(p), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.Reload(); err != nil {
		e.t.Fatal(err)
	}
}

// keepAliveClient is an HTTP client that keeps a connection per concurrent
// caller alive between requests.
func keepAliveClient(callers int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: callers, MaxIdleConnsPerHost: callers, IdleConnTimeout: time.Minute,
	}}
}

// startDetached starts n detached calls of tool, eight at a time, and
// returns their ids.
func startDetached(b *testing.B, e *env, hc *http.Client, tok, tool, input string, n int) []string {
	b.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, 8) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				var d struct{ CallID string }
				errs[i] = doJSON(hc, http.MethodPost, e.srv.URL+"/v1/tools/"+tool+"/calls?detach=1", tok, input, http.StatusAccepted, &d)
				ids[i] = d.CallID
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("starting %d calls of %s: %v", n, tool, err)
	}
	return ids
}

// waitLive waits until every call has reported progress: its instance is
// up and the guest is running.
func waitLive(b *testing.B, e *env, hc *http.Client, tok string, ids []string) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for _, id := range ids {
		for {
			st := callStatusOf(b, e, hc, tok, id)
			if st.Status != "running" {
				b.Fatalf("call %s is %s before the benchmark measured it", id, st.Status)
			}
			if st.Events >= 2 { // call.started, host.progress
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("call %s is not live after 2 minutes", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

type benchStatus struct {
	Status string
	Events int
	Result *struct {
		Type string
		Data json.RawMessage
	}
}

func callStatusOf(b *testing.B, e *env, hc *http.Client, tok, id string) benchStatus {
	b.Helper()
	var st benchStatus
	if err := doJSON(hc, http.MethodGet, e.srv.URL+"/v1/calls/"+url.PathEscape(id), tok, "", http.StatusOK, &st); err != nil {
		b.Fatal(err)
	}
	return st
}

// cancelAll deletes the calls; each must end with call.cancelled (deleted).
func cancelAll(b *testing.B, e *env, hc *http.Client, tok string, ids []string) {
	b.Helper()
	for _, id := range ids {
		var st benchStatus
		if err := doJSON(hc, http.MethodDelete, e.srv.URL+"/v1/calls/"+url.PathEscape(id), tok, "", http.StatusOK, &st); err != nil {
			b.Fatal(err)
		}
		if st.Status != "cancelled" || st.Result == nil || !bytes.Contains(st.Result.Data, []byte(`"reason":"deleted"`)) {
			b.Fatalf("call %s after DELETE: %s %+v", id, st.Status, st.Result)
		}
	}
}

// doJSON sends a request and decodes a JSON response of status want into v.
func doJSON(hc *http.Client, method, u, tok, body string, want int, v any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(bufio.NewReader(resp.Body))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// quantile returns the q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
