//go:build long

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capstream/capstream/stream"
)

// Long tests: `make test-long` runs them (go test -tags long -run
// '^TestLong'), without -race, against the real binary.

const (
	loadCalls      = 1000 // streaming calls live at once: the requirement, not to be lowered
	loadPrincipals = 8
	// loadRamp spreads the starts of the calls: 50 a second, every call
	// still running when the last one starts. All 1000 POSTed in the same
	// instant instead, on a 2-core machine under other load, the server
	// fell up to 20 s behind while it created a thousand instances, and
	// its own 10-second I/O deadlines then cut clients that had done
	// nothing wrong: a few streams in some runs (the stream's write
	// deadline expired before its first flush: "starting a stream … i/o
	// timeout" in the log, the call cancelled as client_gone), or a few
	// connections reset unanswered (the header read deadline). That is a
	// finding for the engine (bound the instances being created at once),
	// not what this test measures.
	loadRamp = 20 * time.Second
)

// loadPolicy lets the role load run slow, with a timeout no call of these
// tests reaches.
const loadPolicy = `roles_claim: roles
defaults:
  limits: {timeout: 5m, memory: 64MiB, output: 1MiB, events: 1000, host_calls: 500}
roles:
  load:
    tools: [slow]
`

// loadServer is a server whose caps admit exactly loadCalls calls at once,
// loadCalls/loadPrincipals per principal, with a token per principal.
type loadServer struct {
	*serverProcess
	tokens []string
}

func startLoadServer(t *testing.T, drain time.Duration) *loadServer {
	t.Helper()
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(loadPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverConfig{dataDir: t.TempDir(), plugins: toolDir(t, "slow"), args: []string{
		"--policy", policy, "--drain-timeout", drain.String(),
		"--max-calls", strconv.Itoa(loadCalls), "--max-calls-per-principal", strconv.Itoa(loadCalls / loadPrincipals),
		"--max-streams-per-principal", strconv.Itoa(loadCalls / loadPrincipals), // every call is streamed
	}})
	ls := &loadServer{serverProcess: srv}
	for i := range loadPrincipals {
		ls.tokens = append(ls.tokens, srv.token(t, fmt.Sprintf("load-%d", i), "load"))
	}
	return ls
}

// loadCall is one call of a load, as its client saw it.
type loadCall struct {
	input   slowInput
	subject string    // who makes it
	start   time.Time // before the POST
	status  int       // of the POST; 0 if it failed
	err     error     // of the POST
	stream  callStream
}

type slowInput struct {
	Steps   int `json:"steps"`
	DelayMs int `json:"delayMs"`
}

// load is calls of slow streaming at once, one client goroutine each.
type load struct {
	calls    []loadCall
	admitted sync.WaitGroup // done as each POST has its answer
	done     sync.WaitGroup // done as each stream has been read to its end
}

// startLoad starts one call per input, evenly over ramp, spread over the
// principals in turn: call i is made by load-(i mod loadPrincipals).
func (ls *loadServer) startLoad(client *http.Client, inputs []slowInput, ramp time.Duration) *load {
	l := &load{calls: make([]loadCall, len(inputs))}
	l.admitted.Add(len(inputs))
	l.done.Add(len(inputs))
	for i, in := range inputs {
		go func() {
			defer l.done.Done()
			time.Sleep(ramp * time.Duration(i) / time.Duration(len(inputs)))
			c := &l.calls[i]
			c.input, c.subject = in, fmt.Sprintf("load-%d", i%len(ls.tokens))
			body, _ := json.Marshal(in)
			// When the connection was made and the request written, for
			// the error message if no answer comes.
			var connected, wrote time.Time
			trace := &httptrace.ClientTrace{
				ConnectDone:  func(string, string, error) { connected = time.Now() },
				WroteRequest: func(httptrace.WroteRequestInfo) { wrote = time.Now() },
			}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
				http.MethodPost, ls.url+"/v1/tools/slow/calls", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+ls.tokens[i%len(ls.tokens)])
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "text/event-stream")
			c.start = time.Now()
			resp, err := client.Do(req)
			if err != nil {
				c.err = fmt.Errorf("no answer after %v (connected at +%v, request written at +%v): %w",
					time.Since(c.start), connected.Sub(c.start), wrote.Sub(c.start), err)
				l.admitted.Done()
				return
			}
			defer resp.Body.Close()
			answered := time.Now()
			c.status = resp.StatusCode
			l.admitted.Done()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				c.err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
				return
			}
			c.stream = readCallStream(resp.Body)
			if c.stream.Err != nil {
				c.stream.Err = fmt.Errorf("%w (POST at %s, answered after %v, stream cut after %v)",
					c.stream.Err, c.start.Format("15:04:05.000"), answered.Sub(c.start), time.Since(c.start))
			}
			// Each stream is its caller's own call.
			if len(c.stream.Events) > 0 {
				var d struct{ Subject string }
				json.Unmarshal(c.stream.Events[0].Data, &d)
				if d.Subject != c.subject {
					c.stream.Err = fmt.Errorf("the stream of a call made by %s is call %s of %q", c.subject, c.stream.Events[0].Call, d.Subject)
				}
			}
		}()
	}
	return l
}

// check fails t for every call whose POST did not get a 200, or whose
// stream is not a valid, complete one (readCallStream), and returns the
// terminal events by type, and by reason for call.cancelled.
func (l *load) check(t *testing.T) map[string]int {
	t.Helper()
	outcomes := map[string]int{}
	bad := 0
	for i, c := range l.calls {
		term, ok := c.stream.Terminal()
		switch {
		case c.err != nil || c.status != http.StatusOK:
			bad++
			if bad <= 10 {
				t.Errorf("call %d by %s: POST: %v", i, c.subject, c.err)
			}
		case c.stream.Err != nil || !ok:
			bad++
			if bad <= 10 {
				t.Errorf("call %d by %s (%s): after %d events: %v", i, c.subject, c.callID(), len(c.stream.Events), c.stream.Err)
			}
		default:
			key := term.Type
			if term.Type == stream.TypeCancelled {
				var d struct{ Reason string }
				json.Unmarshal(term.Data, &d)
				key += " (" + d.Reason + ")"
			}
			outcomes[key]++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d calls have no valid stream with one terminal event", bad, len(l.calls))
	}
	return outcomes
}

func (c loadCall) callID() string {
	if len(c.stream.Events) > 0 {
		return c.stream.Events[0].Call
	}
	return "?"
}

// metrics scrapes /metrics: the value of each sample by its name and
// labels, as written ("go_goroutines", `capstream_calls_total{...}`).
func metrics(t *testing.T, client *http.Client, base string) map[string]float64 {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics: bad line %q", line)
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading /metrics: %v", err)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_memstats_heap_alloc_bytes",
		"process_open_fds", "capstream_calls_in_flight", "capstream_streams_open", "go_memstats_last_gc_time_seconds"} {
		if _, ok := m[name]; !ok {
			t.Fatalf("/metrics has no %s", name)
		}
	}
	return m
}

// percentile returns the p-th percentile (nearest rank) of ds, which it
// sorts.
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[max(0, int(math.Ceil(p/100*float64(len(ds))))-1)]
}

const mib = 1 << 20

// baseline is what an idle server holds, measured after a few calls have
// warmed it up and their connections have closed.
type baseline struct {
	goroutines, fds, rss, heap float64
}

func measureBaseline(m map[string]float64) baseline {
	return baseline{m["go_goroutines"], m["process_open_fds"], m["process_resident_memory_bytes"], m["go_memstats_heap_alloc_bytes"]}
}

// Back at baseline means, once no call runs and no stream is open:
//   - goroutines and open file descriptors within baselineSlack of the
//     baseline: a leak of one per call would be a thousand; the slack
//     covers the scraping connection and timers that come and go;
//   - the live heap (go_memstats_heap_alloc_bytes, read after a garbage
//     collection that began after the load) within heapSlack of the
//     baseline: the finished calls stay replayable for their retention (10
//     minutes), about 120 events each, some MiB for a thousand calls;
//   - the RSS within rssSlack of the baseline: above the live heap, the Go
//     runtime keeps a little freed memory for reuse (the peak under the
//     load is gigabytes).
//
// It takes minutes, by design of the Go runtime: an idle server allocates
// nothing, so no garbage collection runs until the runtime forces one, every
// two minutes; the engine's pools of linear memories (a sync.Pool per tool)
// survive one collection as victims, so the load's memories become garbage
// at the second forced collection, some four minutes after the load; the
// scavenger then returns the pages to the OS gradually, a minute or two for
// gigabytes. Hence backAtBaselineWithin.
const (
	baselineSlack        = 10
	heapSlack            = 64 * mib
	rssSlack             = 192 * mib
	backAtBaselineWithin = 8 * time.Minute
)

// TestLongLoad1000Streams runs 1000 streaming calls of slow at once over 8
// principals (started over loadRamp), the caps raised to admit exactly
// that many: each stream must
// be valid and complete (ids 1, 2, … without a gap, one terminal event,
// last, call.completed with the tool's output), and every call must be live
// at the same moment (the last call.started precedes the first terminal
// event). It reports the latency to the first event and to the terminal one
// and the server's peak RSS, then waits for the server's goroutines, open
// files and memory to return to their baseline (see baselineSlack).
//
// Then, with 1000 streams open again, half of them short enough to end
// within the drain timeout and half too long, it sends SIGTERM: every
// stream must get its terminal event (call.completed for those that
// finish, call.cancelled with reason shutdown for the rest), every call
// whose POST got a 200 must have one, the process must exit 0, and a client
// arriving during the drain must be told to come back (503 shutting_down,
// Retry-After) rather than get a connection refused.
func TestLongLoad1000Streams(t *testing.T) {
	const drain = 40 * time.Second
	ls := startLoadServer(t, drain)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadCalls, MaxIdleConns: loadCalls}}
	scraper := &http.Client{Transport: &http.Transport{}}

	// Warm up: one call per principal, then let their connections go.
	warm := ls.startLoad(client, slices.Repeat([]slowInput{{Steps: 2, DelayMs: 10}}, loadPrincipals), 0)
	warm.done.Wait()
	warm.check(t)
	client.CloseIdleConnections()
	if t.Failed() {
		return
	}
	time.Sleep(2 * time.Second)
	base := measureBaseline(metrics(t, scraper, ls.url))

	t.Run("1000 streams", func(t *testing.T) {
		const steps, delay = 80, 500 // 40 s a call, longer than loadRamp
		peakInFlight := 0.0
		stopPolling := make(chan struct{})
		polled := make(chan struct{})
		go func() { // the in-flight gauge, as an operator would see it
			defer close(polled)
			for {
				select {
				case <-stopPolling:
					return
				case <-time.After(250 * time.Millisecond):
				}
				if resp, err := scraper.Get(ls.url + "/metrics"); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					for _, line := range strings.Split(string(b), "\n") {
						if v, ok := strings.CutPrefix(line, "capstream_calls_in_flight "); ok {
							f, _ := strconv.ParseFloat(v, 64)
							peakInFlight = max(peakInFlight, f)
						}
					}
				}
			}
		}()
		loadavg, _ := os.ReadFile("/proc/loadavg")
		t.Logf("load average of the machine before: %s", bytes.TrimSpace(loadavg))
		began := time.Now()
		l := ls.startLoad(client, slices.Repeat([]slowInput{{Steps: steps, DelayMs: delay}}, loadCalls), loadRamp)
		l.done.Wait()
		elapsed := time.Since(began)
		close(stopPolling)
		<-polled
		peakRSS, err := procStatus(ls.pid(), "VmHWM")
		if err != nil {
			t.Fatal(err)
		}

		outcomes := l.check(t)
		if outcomes[stream.TypeCompleted] != loadCalls {
			t.Errorf("outcomes %v, want %d call.completed", outcomes, loadCalls)
		}
		after := metrics(t, scraper, ls.url)
		for _, which := range []string{"global", "principal"} {
			if n := after[`capstream_calls_rejected_total{cap="`+which+`"}`]; n != 0 {
				t.Errorf("the server refused %v calls with 429 (cap %s)", n, which)
			}
		}
		if t.Failed() {
			return
		}
		var toFirst, toTerminal []time.Duration
		var lastStarted, firstTerminal time.Time
		for i, c := range l.calls {
			term, _ := c.stream.Terminal()
			var d struct{ Output slowInput }
			json.Unmarshal(term.Data, &d)
			if d.Output.Steps != steps || len(c.stream.Events) != 2*steps+2 {
				t.Errorf("call %d (%s): %d events, output %s; want %d events, steps %d", i, c.callID(), len(c.stream.Events), term.Data, 2*steps+2, steps)
			}
			toFirst = append(toFirst, c.stream.Events[0].At.Sub(c.start))
			toTerminal = append(toTerminal, term.At.Sub(c.start))
			if started := c.stream.Events[0].Time; started.After(lastStarted) {
				lastStarted = started
			}
			if firstTerminal.IsZero() || term.Time.Before(firstTerminal) {
				firstTerminal = term.Time
			}
		}
		// Server-side times: the log's clock orders them.
		if !lastStarted.Before(firstTerminal) {
			t.Errorf("not all %d calls were live at once: the last started at %v, after the first ended at %v", loadCalls, lastStarted, firstTerminal)
		}
		t.Logf("figure: %d concurrent streaming slow calls (%d steps × %d ms, %d principals, started over %v), all live at once (the last started %v before the first ended; peak capstream_calls_in_flight %v), done in %v",
			loadCalls, steps, delay, loadPrincipals, loadRamp, firstTerminal.Sub(lastStarted).Round(time.Millisecond), peakInFlight, elapsed.Round(time.Millisecond))
		t.Logf("figure: time to first event p50 %v p99 %v; time to terminal event p50 %v p99 %v (a call takes %v in the tool)",
			percentile(toFirst, 50).Round(time.Millisecond), percentile(toFirst, 99).Round(time.Millisecond),
			percentile(toTerminal, 50).Round(time.Millisecond), percentile(toTerminal, 99).Round(time.Millisecond),
			time.Duration(steps*delay)*time.Millisecond)
		t.Logf("figure: server peak RSS (VmHWM) %.0f MiB, %.1f MiB per live call above the baseline RSS of %.0f MiB",
			float64(peakRSS)/mib, (float64(peakRSS)-base.rss)/mib/loadCalls, base.rss/mib)

		// Back to baseline.
		client.CloseIdleConnections()
		loadEnd := time.Now()
		var m map[string]float64
		var idleAt, heapAt, rssAt time.Duration // when each came back; 0: not yet
		var trace []string                      // shown if it never does
		for {
			m = metrics(t, scraper, ls.url)
			since := time.Since(loadEnd)
			if idleAt == 0 && m["capstream_calls_in_flight"] == 0 && m["capstream_streams_open"] == 0 &&
				m["go_goroutines"] <= base.goroutines+baselineSlack && m["process_open_fds"] <= base.fds+baselineSlack {
				idleAt = since
			}
			gcAfter := m["go_memstats_last_gc_time_seconds"] > float64(loadEnd.UnixNano())/1e9
			if heapAt == 0 && gcAfter && m["go_memstats_heap_alloc_bytes"] <= base.heap+heapSlack {
				heapAt = since
			}
			if rssAt == 0 && m["process_resident_memory_bytes"] <= base.rss+rssSlack {
				rssAt = since
			}
			if idleAt != 0 && heapAt != 0 && rssAt != 0 {
				break
			}
			trace = append(trace, fmt.Sprintf("+%v: in flight %v, streams %v, goroutines %v, fds %v, heap %.0f MiB (last GC %s), RSS %.0f MiB (heap idle %.0f, released %.0f)",
				since.Round(time.Second), m["capstream_calls_in_flight"], m["capstream_streams_open"], m["go_goroutines"], m["process_open_fds"],
				m["go_memstats_heap_alloc_bytes"]/mib, time.Unix(int64(m["go_memstats_last_gc_time_seconds"]), 0).Format(time.TimeOnly),
				m["process_resident_memory_bytes"]/mib, m["go_memstats_heap_idle_bytes"]/mib, m["go_memstats_heap_released_bytes"]/mib))
			if since > backAtBaselineWithin {
				t.Errorf("not back at baseline %v after the load (baseline: goroutines %v, fds %v, heap %.0f MiB, RSS %.0f MiB); every 5 s:\n%s",
					backAtBaselineWithin, base.goroutines, base.fds, base.heap/mib, base.rss/mib, strings.Join(trace, "\n"))
				return
			}
			time.Sleep(5 * time.Second)
		}
		t.Logf("figure: after the load, back at baseline: goroutines %v → %v and open fds %v → %v after %v; live heap %.0f → %.0f MiB after %v; RSS %.0f → peak %.0f → %.0f MiB after %v",
			base.goroutines, m["go_goroutines"], base.fds, m["process_open_fds"], idleAt.Round(time.Second),
			base.heap/mib, m["go_memstats_heap_alloc_bytes"]/mib, heapAt.Round(time.Second),
			base.rss/mib, float64(peakRSS)/mib, m["process_resident_memory_bytes"]/mib, rssAt.Round(time.Second))
	})
	if t.Failed() {
		return
	}

	t.Run("SIGTERM with 1000 streams open", func(t *testing.T) {
		// Half end within the drain timeout, half are cancelled by it. All
		// are running when SIGTERM comes.
		short, long := slowInput{Steps: 60, DelayMs: 500}, slowInput{Steps: 240, DelayMs: 500} // 30 s, 120 s
		inputs := make([]slowInput, loadCalls)
		for i := range inputs {
			inputs[i] = short
			if i%2 == 1 {
				inputs[i] = long
			}
		}
		l := ls.startLoad(client, inputs, loadRamp)
		l.admitted.Wait() // every POST answered: each call runs, or was refused (checked below)
		sigterm := time.Now()
		ls.signal(t, syscall.SIGTERM)

		// A new client during the drain, on a connection of its own.
		time.Sleep(time.Second)
		newClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var newcomer string
		refused := false
		resp, err := postCall(newClient, ls.url, ls.tokens[0], "slow", `{"steps":1,"delayMs":0}`)
		if err != nil {
			refused = errors.Is(err, syscall.ECONNREFUSED)
			newcomer = "error: " + err.Error()
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			newcomer = fmt.Sprintf("%s, Retry-After %q, %s", resp.Status, resp.Header.Get("Retry-After"), strings.TrimSpace(string(b)))
		}
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(newcomer, `"shutting_down"`) {
			t.Errorf("a new call during the drain got %s; want 503 shutting_down with Retry-After", newcomer)
		}
		if resp, err := newClient.Get(ls.url + "/readyz"); err != nil {
			t.Errorf("/readyz during the drain: %v; want 503", err)
		} else {
			resp.Body.Close()
			newcomer += fmt.Sprintf("; GET /readyz: %s", resp.Status)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("/readyz during the drain: %s; want 503", resp.Status)
			}
		}

		st := ls.wait(t, drain+30*time.Second)
		exited := time.Since(sigterm)
		l.done.Wait()
		if st.ExitCode() != 0 {
			t.Errorf("after SIGTERM the server ended with %v, want exit status 0", st)
		}
		outcomes := l.check(t)
		ok200, withTerminal := 0, 0
		for _, c := range l.calls {
			if c.status == http.StatusOK {
				ok200++
				if _, ok := c.stream.Terminal(); ok {
					withTerminal++
				}
			}
		}
		// A long call cannot finish within the drain: it is cancelled. A
		// short one ends on its own within it, unless the machine is so
		// slow that it too is cancelled.
		shortDone := 0
		for i, c := range l.calls {
			term, ok := c.stream.Terminal()
			if !ok {
				continue // reported by check
			}
			cancelled := term.Type == stream.TypeCancelled && strings.Contains(string(term.Data), `"reason":"shutdown"`)
			switch {
			case c.input == long && !cancelled:
				t.Errorf("call %d (%s, %+v) ended with %s %s; want call.cancelled (shutdown)", i, c.callID(), c.input, term.Type, term.Data)
			case c.input == short && term.Type == stream.TypeCompleted:
				shortDone++
			case c.input == short && !cancelled:
				t.Errorf("call %d (%s, %+v) ended with %s %s; want call.completed or call.cancelled (shutdown)", i, c.callID(), c.input, term.Type, term.Data)
			}
		}
		if shortDone == 0 {
			t.Errorf("no short call completed during the drain of %v", drain)
		}
		t.Logf("figure: SIGTERM with %d streams open (drain timeout %v): outcomes %v (%d of %d short calls completed in the drain, every long one cancelled); %d POSTs answered 200, %d of them with their terminal event; %v after %v; a new call during the drain: %s (connection refused: %v)",
			loadCalls, drain, outcomes, shortDone, loadCalls/2, ok200, withTerminal, st, exited.Round(time.Millisecond), newcomer, refused)
	})
}
