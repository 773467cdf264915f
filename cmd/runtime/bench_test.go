package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/internal/testwasm"
)

// BenchmarkRestartToReady is a restart of `capstream serve` (run in this
// process, as main runs it) with a warm compilation cache and the bundled
// tools: the time from run until /readyz answers 200 (ns/op). Stopping the
// server is outside the timing. The data and cache directories are the same
// for every start, as they are across restarts; the first start, which fills
// the cache (shared by the test binary, so only once per process) and checks
// that a call works, is not timed. Production flags: an HS256 secret file
// and a policy file, no --dev.
func BenchmarkRestartToReady(b *testing.B) {
	dir := b.TempDir()
	secret := bytes.Repeat([]byte("s"), 40)
	secretFile := filepath.Join(dir, "secret")
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(policyFile, policy.Dev, 0o600); err != nil {
		b.Fatal(err)
	}
	args := []string{"serve", "--addr", "127.0.0.1:0",
		"--plugins", pluginDir(b), "--data-dir", filepath.Join(dir, "data"), "--cache-dir", testwasm.CacheDir(),
		"--jwt-secret-file", secretFile, "--policy", policyFile, "--drain-timeout", "1s"}

	// The first start compiles and pre-initializes every tool into the
	// cache; a call then checks that the server really serves them.
	s := startServe(b, args, "first")
	checkEcho(b, s.url, secret)
	s.stop(b)

	for b.Loop() {
		s := startServe(b, args, "restart")
		b.StopTimer()
		s.stop(b)
		b.StartTimer()
	}
}

// runningServe is `capstream serve` running in this process.
type runningServe struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

// startServe runs serve with args and returns once /readyz answers 200 with
// every bundled tool loaded. It learns the address from the "serving" log
// line, written once the listener is open. The server's goroutines carry the
// profiler label start=<start> ("first" or "restart"), so that a CPU profile
// of the timed restarts alone is `go tool pprof -tagfocus start=restart`.
func startServe(b *testing.B, args []string, start string) *runningServe {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &serveLog{serving: make(chan string, 1)}
	s := &runningServe{cancel: cancel, done: make(chan error, 1)}
	pprof.Do(ctx, pprof.Labels("start", start), func(ctx context.Context) {
		go func() { s.done <- run(ctx, args, io.Discard, logs) }()
	})
	select {
	case s.url = <-logs.serving:
	case err := <-s.done:
		cancel()
		b.Fatalf("serve ended before serving: %v\n%s", err, logs.String())
	case <-time.After(time.Minute):
		cancel()
		b.Fatalf("serve is not serving after a minute:\n%s", logs.String())
	}
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			s.stop(b)
			b.Fatal(err)
		}
		var ready struct{ Tools int }
		json.NewDecoder(resp.Body).Decode(&ready)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if ready.Tools != 6 {
				s.stop(b)
				b.Fatalf("ready with %d tools, want the 6 bundled ones:\n%s", ready.Tools, logs.String())
			}
			return s
		}
		time.Sleep(time.Millisecond)
	}
}

// stop stops the server as SIGTERM would, and waits for it to return.
func (s *runningServe) stop(b *testing.B) {
	b.Helper()
	s.cancel()
	if err := <-s.done; err != nil {
		b.Fatalf("serve: %v", err)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

// serveLog is serve's stderr: it keeps the log, and sends the URL of the
// "serving" line on serving.
type serveLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	serving chan string
}

var servingURL = regexp.MustCompile(`"msg":"serving".*"url":"(http://[^"]+)"`)

func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := servingURL.FindSubmatch(p); m != nil {
		select {
		case l.serving <- string(m[1]):
		default:
		}
	}
	return l.buf.Write(p)
}

func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// checkEcho calls echo as alice, the dev policy's analyst, and checks that
// it completes with its input as output.
func checkEcho(b *testing.B, url string, secret []byte) {
	b.Helper()
	tok, err := auth.Mint(secret, auth.MintClaims{Subject: "alice", Roles: []string{"analyst"}})
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url+"/v1/tools/echo/calls", strings.NewReader(`{"text":"restart"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var term struct {
		Type string
		Data struct{ Output struct{ Text string } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&term); err != nil || term.Type != "call.completed" || term.Data.Output.Text != "restart" {
		b.Fatalf("echo after start: %s %+v %v", resp.Status, term, err)
	}
}
