package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/stream"
)

// scrape returns the metrics page of m, whichever router serves it.
func scrape(t testing.TB, m *httpapi.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// sample returns the value of the metric name (with its labels) in m.
func sample(t testing.TB, m *httpapi.Metrics, name string) float64 {
	t.Helper()
	v, ok := metric(scrape(t, m), name)
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return v
}

// withMetrics gives the server metrics the test can read.
func withMetrics(m **httpapi.Metrics) envOption {
	return func(c *httpapi.Config) {
		*m = httpapi.NewMetrics(nil)
		c.Metrics = *m
	}
}

// finish follows a detached call's events to its terminal event, and
// returns them.
func (e *env) finish(tok, callID string) sseStream {
	e.t.Helper()
	r := e.do("GET", "/v1/calls/"+callID+"/events", tok, "")
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		e.t.Fatalf("events of %s: %s", callID, r.Status)
	}
	s := parseSSE(e.t, r.Body)
	checkCallStream(e.t, s, 0)
	return s
}

// TestRetentionBudgets: a principal flooding detached calls with large
// inputs cannot push the bytes of the finished calls the server keeps past
// its global budget; the flooder loses its own oldest calls, which then
// answer like expired ones (404 call_not_found), and another principal's
// recent call stays resumable. The per-principal budget is set as large as
// the global one, so that only the global budget's choice of whom to evict
// protects the other principal.
func TestRetentionBudgets(t *testing.T) {
	skipOnJetStream(t, "the budgets bound one process's memory; a cluster's store is bounded by its max age, tested in internal/cluster")
	const budget = 512 << 10
	const calls, parallel = 24, 4
	var m *httpapi.Metrics
	e := newEnv(t, withMetrics(&m), func(c *httpapi.Config) {
		c.RetainBytes, c.RetainBytesPerPrincipal = budget, budget
	})
	bobCall := decode[struct{ CallID string }](t, e.do("POST", "/v1/tools/echo/calls?detach=1", bob(t), `{"text":"bob's"}`)).CallID
	e.finish(bob(t), bobCall)

	input := `{"text":"` + strings.Repeat("a", 64<<10) + `"}`
	var ids []string
	for len(ids) < calls {
		wave := make([]string, parallel)
		var wg sync.WaitGroup
		for i := range wave {
			wg.Go(func() {
				r := e.do("POST", "/v1/tools/echo/calls?detach=1", alice(t), input)
				if r.StatusCode != http.StatusAccepted {
					t.Errorf("flood: %s", r.Status)
				}
				wave[i] = decode[struct{ CallID string }](t, r).CallID
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for _, id := range wave {
			e.finish(alice(t), id) // the call has ended when its stream does
		}
		ids = append(ids, wave...)
		if got := sample(t, m, "capstream_calls_retained_bytes"); got > budget {
			t.Fatalf("after %d calls the server keeps %.0f bytes of finished calls; the budget is %d", len(ids), got, budget)
		}
	}

	evicted := sample(t, m, "capstream_calls_evicted_total")
	retained := sample(t, m, "capstream_calls_retained")
	if evicted < calls/2 || retained+evicted != calls+1 {
		t.Errorf("%v calls kept and %v evicted of %d", retained, evicted, calls+1)
	}
	// bob's call is whole, and so is alice's latest.
	if s := e.finish(bob(t), bobCall); s.Events[len(s.Events)-1].Type != "call.completed" {
		t.Errorf("bob's call: %v", types(s))
	}
	e.finish(alice(t), ids[len(ids)-1])
	// alice's first call is gone, and answers as an expired one does.
	for _, path := range []string{"/v1/calls/" + ids[0], "/v1/calls/" + ids[0] + "/events"} {
		r := e.do("GET", path, alice(t), "")
		if got := decode[errorBody](t, r); r.StatusCode != http.StatusNotFound || got.Error.Code != "call_not_found" {
			t.Errorf("GET %s of an evicted call: %s %+v", path, r.Status, got)
		}
	}
	t.Logf("figure: %d calls of %d KiB from one principal against a budget of %d KiB: %.0f calls kept in all (the other principal's one among them), %.0f evicted",
		calls, len(input)>>10, budget>>10, retained, evicted)
}

// TestStreamsPerPrincipalCap: a principal may hold MaxStreamsPerPrincipal
// event streams open, subscriptions and streaming POSTs alike; beyond it
// both are refused with 429 too_many_streams and Retry-After, before a
// streaming POST starts its call. Other principals and JSON-mode calls are
// not affected, and a stream closed gives its place back.
func TestStreamsPerPrincipalCap(t *testing.T) {
	var m *httpapi.Metrics
	e := newEnv(t, withMetrics(&m), func(c *httpapi.Config) { c.MaxStreamsPerPrincipal = 2 })
	d := decode[struct{ CallID, Events string }](t, e.do("POST", "/v1/tools/slow/calls?detach=1", alice(t), `{"steps":200,"delayMs":100}`))
	defer func() { e.do("DELETE", "/v1/calls/"+d.CallID, alice(t), "").Body.Close() }()
	var open []*http.Response
	for range 2 {
		r := e.do("GET", d.Events, alice(t), "")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("stream within the cap: %s", r.Status)
		}
		open = append(open, r)
	}
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()

	refused := func(what string, r *http.Response) {
		t.Helper()
		got := decode[errorBody](t, r)
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" || got.Error.Code != "too_many_streams" ||
			!strings.Contains(got.Error.Message, "2 event streams open") {
			t.Fatalf("%s beyond the cap: %s Retry-After %q %+v", what, r.Status, r.Header.Get("Retry-After"), got)
		}
	}
	refused("a subscription", e.do("GET", d.Events, alice(t), ""))
	refused("a streaming POST", e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"x"}`, "Accept", "text/event-stream"))
	if got := sample(t, m, "capstream_calls_in_flight"); got != 1 {
		t.Errorf("%v calls running; the refused POST must not start one", got)
	}

	// A JSON-mode call holds no stream; another principal has streams of
	// its own.
	r := e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"x"}`)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("JSON mode at the stream cap: %s", r.Status)
	}
	checkCallStream(t, func() sseStream { _, s := e.stream(bob(t), "echo", `{"text":"x"}`); return s }(), 0)

	if open, rejected := sample(t, m, "capstream_streams_open"), sample(t, m, "capstream_streams_rejected_total"); open != 2 || rejected != 2 {
		t.Errorf("capstream_streams_open %v, capstream_streams_rejected_total %v; want 2 and 2", open, rejected)
	}

	// Closing a stream gives its place back once the server sees it gone.
	open[0].Body.Close()
	open = open[1:]
	for deadline := time.Now().Add(10 * time.Second); sample(t, m, "capstream_streams_open") != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a closed stream still holds its place")
		}
	}
	r = e.do("GET", d.Events, alice(t), "")
	open = append(open, r)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("a stream after one closed: %s", r.Status)
	}
}

// TestPlaceFreeAtTerminalEvent: a call's place under the caps is given
// back before its terminal event can be seen. A client that starts its
// next call at the very moment the terminal event is in the log — the call's
// goroutine has not returned yet — is admitted, with both caps at 1.
func TestPlaceFreeAtTerminalEvent(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.MaxCalls, c.MaxCallsPerPrincipal = 1, 1 })
	tok := alice(t)
	next := make(chan string, 1)
	var once sync.Once
	httpapi.SetAppended(e.api, func(ev stream.Event) {
		if !stream.IsTerminal(ev.Type) {
			return
		}
		once.Do(func() {
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/tools/echo/calls?detach=1", strings.NewReader(`{"text":"next"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				next <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			next <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		})
	})
	_, s := e.stream(tok, "echo", `{"text":"first"}`)
	checkCallStream(t, s, 0)
	if got := <-next; !strings.HasPrefix(got, "202 ") {
		t.Fatalf("the next call, started as the first one's terminal event was appended: %s", got)
	}
}

// TestBackToBackCallsAtTheCap: as many clients of one principal as its cap,
// each starting its next call as soon as it reads the previous one's
// terminal event, are never told 429. Each call's goroutine is held for a
// moment after its terminal event, as a busy machine may hold it, so that
// a place given back only when the goroutine ends would be seen taken.
func TestBackToBackCallsAtTheCap(t *testing.T) {
	const clients, each = 16, 25
	e := newEnv(t, func(c *httpapi.Config) { c.MaxCallsPerPrincipal = clients })
	httpapi.SetAppended(e.api, func(ev stream.Event) {
		if stream.IsTerminal(ev.Type) {
			time.Sleep(5 * time.Millisecond)
		}
	})
	tok := alice(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	refused := 0
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				req, _ := http.NewRequest("POST", e.srv.URL+"/v1/tools/echo/calls", strings.NewReader(`{"text":"again"}`))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "text/event-stream")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				switch resp.StatusCode {
				case http.StatusOK:
					// Start the next call as soon as the terminal event
					// is read, as a client that closes its EventSource
					// on it does; the rest of the stream is drained
					// meanwhile.
					sc := bufio.NewScanner(resp.Body)
					for sc.Scan() {
						if line := sc.Text(); strings.HasPrefix(line, "event: call.") && line != "event: call.started" {
							break
						}
					}
					wg.Go(func() {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					})
					continue
				case http.StatusTooManyRequests:
					mu.Lock()
					refused++
					mu.Unlock()
				default:
					t.Errorf("%s", resp.Status)
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if refused > 0 {
		t.Fatalf("%d of %d back-to-back calls were refused with 429 at a cap of %d", refused, clients*each, clients)
	}
}
