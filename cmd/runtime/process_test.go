package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/testwasm"
	"github.com/capstream/capstream/stream"
)

// This file runs the real capstream binary as a process of its own, for the
// tests that need one: kill -9, SIGTERM and the exit code, the RSS of the
// server alone.

var built struct {
	once sync.Once
	path string
	err  error
}

// serverBinary builds ./cmd/runtime once per test binary, without -race (the
// server under test runs at full speed whatever the test binary is built
// with), and returns its path, in testwasm's build directory, which
// TestMain removes when the tests end.
func serverBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.path = filepath.Join(testwasm.BuildDir(t), "capstream-server")
		cmd := exec.Command("go", "build", "-o", built.path, "./cmd/runtime")
		cmd.Dir = testwasm.Root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/runtime: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// toolDir writes the bundled Go tools named into a new directory, for
// --plugins: loading only what a test calls keeps starts short.
func toolDir(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name+".wasm"), testwasm.Go(t, "plugins/"+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serverConfig says how to start a server process.
type serverConfig struct {
	dataDir string   // --data-dir; required, so that a restart finds the same store
	plugins string   // --plugins; required
	args    []string // more flags, after the ones startServer sets
}

// serverProcess is `capstream serve --dev` running as a child process, on
// a free loopback port, with the tests' shared compilation cache.
type serverProcess struct {
	url, alice, bob string
	dataDir         string
	cmd             *exec.Cmd
	log             string        // the server's stderr
	exited          chan struct{} // closed once the process has been waited for
	state           *os.ProcessState
}

// startServer starts a server and returns once its dev banner (the URL and
// the sample users' tokens) has been read. The process is killed when the
// test ends if it is still running; the end of its log is shown if the test
// failed.
func startServer(t testing.TB, cfg serverConfig) *serverProcess {
	t.Helper()
	bin := serverBinary(t)
	p := &serverProcess{dataDir: cfg.dataDir, log: filepath.Join(t.TempDir(), "server.log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--plugins", cfg.plugins,
		"--data-dir", cfg.dataDir, "--cache-dir", testwasm.CacheDir()}, cfg.args...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = pw, logFile
	err = p.cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("server (pid %d, %s) log, without the audit records of completed calls and of those cancelled at shutdown, last lines:\n%s", p.cmd.Process.Pid, p.state, p.logSummary(40))
		}
	})

	banner := make(chan error, 1)
	go func() {
		urlRE := regexp.MustCompile(`dev mode at (http://\S+)`)
		tokRE := regexp.MustCompile(`export (ALICE|BOB)=(\S+)`)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				p.url = m[1]
			}
			if m := tokRE.FindStringSubmatch(sc.Text()); m != nil {
				if m[1] == "ALICE" {
					p.alice = m[2]
				} else {
					p.bob = m[2]
				}
			}
			if p.url != "" && p.alice != "" && p.bob != "" {
				break
			}
		}
		if p.url == "" || p.alice == "" || p.bob == "" {
			banner <- fmt.Errorf("no banner: url %q, alice %q, bob %q", p.url, p.alice, p.bob)
		} else {
			banner <- nil
		}
		io.Copy(io.Discard, pr)
		pr.Close()
	}()
	select {
	case err := <-banner:
		if err != nil {
			<-p.exited
			t.Fatalf("%v; server %s", err, p.state)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("no banner from the server within 2 minutes")
	}
	return p
}

// pid returns the server's process id.
func (p *serverProcess) pid() int { return p.cmd.Process.Pid }

// signal sends sig to the server.
func (p *serverProcess) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v to the server: %v", sig, err)
	}
}

// wait waits at most d for the server to exit and returns its state.
func (p *serverProcess) wait(t testing.TB, d time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-p.exited:
		return p.state
	case <-time.After(d):
		t.Fatalf("the server did not exit within %v", d)
		return nil
	}
}

// logSummary returns the last n lines of the server's log, leaving out
// the audit records of calls that completed or were cancelled at shutdown.
func (p *serverProcess) logSummary(n int) string {
	b, _ := os.ReadFile(p.log)
	var lines []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.Contains(line, `"outcome": "completed"`) && !strings.Contains(line, `"reason": "shutdown"`) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// token mints a token for subject with roles, with the dev secret the
// server keeps in its data directory.
func (p *serverProcess) token(t testing.TB, subject string, roles ...string) string {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(p.dataDir, "dev-secret"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(secret, auth.MintClaims{Subject: subject, Roles: roles, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// procStatus returns a field of /proc/PID/status in bytes ("VmHWM", "VmRSS").
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// postCall starts a call of tool with an SSE response.
func postCall(client *http.Client, base, token, tool, input string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/tools/"+tool+"/calls", strings.NewReader(input))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	return client.Do(req)
}

// sseEvent is one event of a call's stream as a client received it.
type sseEvent struct {
	stream.Event
	At time.Time // when the client had read it
}

// callStream is what a client read of one call's SSE stream.
type callStream struct {
	Events []sseEvent
	Err    error // why the stream is not a valid, complete one; nil if it is
}

// Terminal returns the stream's terminal event, if it got one.
func (s callStream) Terminal() (sseEvent, bool) {
	if n := len(s.Events); n > 0 && stream.IsTerminal(s.Events[n-1].Type) {
		return s.Events[n-1], true
	}
	return sseEvent{}, false
}

// readCallStream reads an SSE response of a call to its end, strictly as
// docs/design.md §5 has it: "retry:" and comments anywhere between events; each
// event exactly "id: <seq>", "event: <type>", one "data:" line holding the
// envelope, and a blank line; the id and type of the frame equal the
// envelope's; one call id; seq 1, 2, 3, ... with no gap; exactly one
// terminal event, the last one, after which the server closes the stream.
// Any departure, or an end before the terminal event, is Err; Events holds
// what was read up to it.
func readCallStream(body io.Reader) callStream {
	var s callStream
	br := bufio.NewReaderSize(body, 64<<10)
	var frame []string // the field lines of the event being read
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			switch {
			case err == io.EOF && line == "" && len(frame) == 0:
				if _, ok := s.Terminal(); !ok {
					s.Err = fmt.Errorf("the stream ended after %d events, without a terminal event", len(s.Events))
				}
			case err == io.EOF:
				s.Err = fmt.Errorf("the stream ended inside an event (%q)", append(frame, line))
			default:
				s.Err = fmt.Errorf("reading the stream after %d events: %w", len(s.Events), err)
			}
			return s
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasSuffix(line, "\r"):
			s.Err = fmt.Errorf("CR in line %q", line)
			return s
		case line == "" && len(frame) == 0: // a blank line after a comment or retry
			continue
		case line == "":
			e, err := parseFrame(frame, s.Events)
			if err != nil {
				s.Err = err
				return s
			}
			s.Events = append(s.Events, sseEvent{Event: e, At: time.Now()})
			frame = nil
		case strings.HasPrefix(line, ":") || (strings.HasPrefix(line, "retry: ") && len(frame) == 0):
			// a comment (": ok", ": ping") or the retry interval
		default:
			if _, ok := s.Terminal(); ok {
				s.Err = fmt.Errorf("%q after the terminal event", line)
				return s
			}
			frame = append(frame, line)
		}
	}
}

// parseFrame checks one event's lines against the events before it.
func parseFrame(frame []string, before []sseEvent) (stream.Event, error) {
	if len(frame) != 3 || !strings.HasPrefix(frame[0], "id: ") || !strings.HasPrefix(frame[1], "event: ") || !strings.HasPrefix(frame[2], "data: ") {
		return stream.Event{}, fmt.Errorf("event %d is not id/event/data: %q", len(before)+1, frame)
	}
	var e stream.Event
	if err := json.Unmarshal([]byte(strings.TrimPrefix(frame[2], "data: ")), &e); err != nil {
		return e, fmt.Errorf("event %d: decoding the envelope: %w", len(before)+1, err)
	}
	want := uint64(len(before) + 1)
	switch {
	case frame[0] != "id: "+strconv.FormatUint(e.Seq, 10):
		return e, fmt.Errorf("event %d: %q, but the envelope's seq is %d", want, frame[0], e.Seq)
	case e.Seq != want:
		return e, fmt.Errorf("event %d has seq %d: a gap or a repeat", want, e.Seq)
	case frame[1] != "event: "+e.Type:
		return e, fmt.Errorf("event %d: %q, but the envelope's type is %q", want, frame[1], e.Type)
	case e.Call == "" || (len(before) > 0 && e.Call != before[0].Call):
		return e, fmt.Errorf("event %d belongs to call %q", want, e.Call)
	case want == 1 && e.Type != "call.started":
		return e, fmt.Errorf("the first event is %s, not call.started", e.Type)
	case len(bytes.TrimSpace(e.Data)) == 0:
		return e, fmt.Errorf("event %d has no data", want)
	}
	return e, nil
}
