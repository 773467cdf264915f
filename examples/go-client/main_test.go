package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/capstream/capstream/internal/apitest"
	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) { testwasm.Main(m, false) }

// TestResume runs the client through a proxy that breaks off its first two
// event streams in the middle of an event: it must resume each time and
// print every event once, in order, to the terminal one.
func TestResume(t *testing.T) {
	api, token := newServer(t)
	var streams atomic.Int32
	proxy := newProxy(t, api.URL, func(r *http.Request, body io.ReadCloser) io.ReadCloser {
		if !strings.HasSuffix(r.URL.Path, "/events") {
			return body
		}
		switch streams.Add(1) {
		case 1:
			return &cutter{r: body, blocks: 3} // after event 2, in the middle of event 3
		case 2:
			return &cutter{r: body, blocks: 4} // after 3 more events
		}
		return body
	})

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", proxy.URL, "-token", token, "slow", `{"steps":5,"delayMs":100}`}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 12 { // call.started, 5 × (progress, output), call.completed
		t.Fatalf("%d events:\n%s", len(lines), stdout.String())
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprint(i+1, " ")) {
			t.Fatalf("line %d is %q: want each event once, in order\n%s", i+1, l, stdout.String())
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, `12 call.completed {"output":{"steps":5}`) {
		t.Errorf("last event %q", last)
	}
	if n := strings.Count(stderr.String(), "resuming"); n != 2 || streams.Load() != 3 {
		t.Errorf("%d resumes in %d streams, want 2 in 3:\n%s", n, streams.Load(), stderr.String())
	}
}

// TestInterrupt cancels the client after the first event: it must cancel
// the call, which the server then reports as cancelled (deleted).
func TestInterrupt(t *testing.T) {
	api, token := newServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &firstLine{cancel: cancel}
	err := run(ctx, []string{"-url", api.URL, "-token", token, "slow", `{"steps":50,"delayMs":100}`}, out, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v, want context.Canceled", err)
	}
	req, _ := http.NewRequest(http.MethodGet, api.URL+"/v1/calls/"+callID(t, out.String()), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		Status string
		Result struct{ Data struct{ Reason string } }
	}
	json.NewDecoder(resp.Body).Decode(&status)
	if status.Status != "cancelled" || status.Result.Data.Reason != "deleted" {
		t.Errorf("after the interrupt the call is %+v, want cancelled (deleted)", status)
	}
}

// callID reads the call id from the first event the client printed, which
// is call.started: "1 call.started {...}" with the id in its capability.
func callID(t *testing.T, line string) string {
	t.Helper()
	var d struct{ Capability struct{ ID string } }
	if err := json.Unmarshal([]byte(strings.SplitN(line, " ", 3)[2]), &d); err != nil || d.Capability.ID == "" {
		t.Fatalf("no call id in %q: %v", line, err)
	}
	return d.Capability.ID
}

// firstLine keeps the first line written to it and then cancels.
type firstLine struct {
	bytes.Buffer
	cancel context.CancelFunc
}

func (w *firstLine) Write(p []byte) (int, error) {
	if w.Len() == 0 {
		w.Buffer.Write(p)
		w.cancel()
	}
	return len(p), nil
}

// cutter passes a stream through until it has seen blocks blank lines (the
// opening "retry" block, then one per event), then ten more bytes, and then
// fails, as a dropped connection would.
type cutter struct {
	r      io.ReadCloser
	blocks int
	left   int
	prev   byte
}

var errCut = errors.New("connection cut by the test")

func (c *cutter) Read(p []byte) (int, error) {
	if c.blocks == 0 && c.left == 0 {
		return 0, errCut
	}
	n, err := c.r.Read(p)
	for i := 0; i < n; i++ {
		if c.blocks == 0 {
			if c.left == 0 {
				return i, nil
			}
			c.left--
			continue
		}
		if p[i] == '\n' && c.prev == '\n' {
			if c.blocks--; c.blocks == 0 {
				c.left = 10
			}
		}
		c.prev = p[i]
	}
	return n, err
}

func (c *cutter) Close() error { return c.r.Close() }

// newProxy is a reverse proxy to target whose response bodies pass through
// wrap. When a body fails, the proxy aborts the client's connection.
func newProxy(t *testing.T, target string, wrap func(*http.Request, io.ReadCloser) io.ReadCloser) *httptest.Server {
	u, _ := url.Parse(target)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorLog = log.New(io.Discard, "", 0)
	p.ModifyResponse = func(resp *http.Response) error {
		resp.Body = wrap(resp.Request, resp.Body)
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

// newServer serves the API with the slow tool, and returns a token for
// alice, who may call it.
func newServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	return apitest.ServeTool(t, "slow")
}
