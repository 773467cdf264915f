package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/internal/testwasm"
)

// pluginDir builds the bundled tools into a directory.
func pluginDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"echo", "whoami", "notes", "fetch", "slow"} {
		if err := os.WriteFile(filepath.Join(dir, name+".wasm"), testwasm.Go(t, "plugins/"+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mirror, err := os.ReadFile(filepath.Join(testwasm.Root(t), "plugins/mirror/mirror.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mirror.wasm"), mirror, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serving is `capstream serve` running in this process with the flags a
// test chose, its output kept.
type serving struct {
	url        string // the API, from the "serving" log line
	metricsURL string // from the "serving metrics" log line; "" if none
	alice      string // dev mode: alice's token, from the banner
	stdout     *lockedBuffer
	stderr     *lockedBuffer
	stop       context.CancelFunc
	done       chan error
}

// startServing runs `capstream serve` with args and returns once it
// serves; the test fails if it returns an error first. It is stopped when
// the test ends.
func startServing(t *testing.T, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	urlRE := regexp.MustCompile(`"url": ?"(http://[^"]+)"`)
	aliceRE := regexp.MustCompile(`export ALICE=(\S+)`)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			m := urlRE.FindStringSubmatch(line)
			switch {
			case m == nil:
			case strings.Contains(line, "serving metrics"):
				s.metricsURL = m[1]
			case strings.Contains(line, "serving"):
				s.url = m[1]
			}
		}
		if m := aliceRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.alice = m[1]
		}
		if s.url != "" && (!strings.Contains(s.stderr.String(), "DEV MODE") || s.alice != "") {
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("serve %q returned before serving: %v\n%s", args, err, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve %q: no \"serving\" log line within 2 minutes\n%s", args, s.stderr.String())
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// prodFlags returns the flags of a server outside dev mode: an HS256
// secret, the dev policy as a file, and the echo tool.
func prodFlags(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	secret, pol := filepath.Join(dir, "secret"), filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("k"), 40), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pol, policy.Dev, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--addr", "127.0.0.1:0", "--jwt-secret-file", secret, "--policy", pol,
		"--plugins", toolDir(t, "echo"), "--data-dir", filepath.Join(dir, "data"), "--cache-dir", testwasm.CacheDir()}
}

// devServer is `capstream serve --dev` running in this process.
type devServer struct {
	url, alice, bob, dataDir string
	stop                     context.CancelFunc
	done                     chan error
}

func startDev(t *testing.T, extra ...string) *devServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &devServer{dataDir: t.TempDir(), stop: cancel, done: make(chan error, 1)}
	args := append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--plugins", pluginDir(t), "--data-dir", d.dataDir, "--cache-dir", testwasm.CacheDir()}, extra...)
	var stderr lockedBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the server's log:\n%s", stderr.String())
		}
	})
	go func() {
		d.done <- run(ctx, args, pw, &stderr)
		pw.Close()
	}()
	urlRE := regexp.MustCompile(`dev mode at (http://\S+)`)
	tokRE := regexp.MustCompile(`export (ALICE|BOB)=(\S+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() && (d.url == "" || d.alice == "" || d.bob == "") {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			d.url = m[1]
		}
		if m := tokRE.FindStringSubmatch(sc.Text()); m != nil {
			if m[1] == "ALICE" {
				d.alice = m[2]
			} else {
				d.bob = m[2]
			}
		}
	}
	go io.Copy(io.Discard, pr)
	if d.url == "" || d.alice == "" || d.bob == "" {
		cancel()
		t.Fatalf("no banner: url %q, alice %q, bob %q (%v)", d.url, d.alice, d.bob, <-d.done)
	}
	t.Cleanup(func() {
		cancel()
		<-d.done
	})
	return d
}

func (d *devServer) post(t *testing.T, tok, tool, body string, accept string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", d.url+"/v1/tools/"+tool+"/calls", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestServeDev(t *testing.T) {
	d := startDev(t, "--drain-timeout", "200ms")
	resp, err := http.Get(d.url + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp.Status, err)
	}
	resp.Body.Close()

	resp = d.post(t, d.alice, "echo", `{"text":"hi"}`, "")
	var term struct {
		Type string
		Data struct{ Output struct{ Text string } }
	}
	json.NewDecoder(resp.Body).Decode(&term)
	resp.Body.Close()
	if term.Type != "call.completed" || term.Data.Output.Text != "hi" {
		t.Fatalf("echo as alice: %+v", term)
	}
	if resp = d.post(t, d.bob, "fetch", `{"url":"https://example.com/"}`, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("fetch as bob: %s", resp.Status)
	}
	resp.Body.Close()

	t.Run("SIGHUP reloads the policy, and keeps it when the new file is broken", func(t *testing.T) {
		file := filepath.Join(d.dataDir, "dev-policy.yaml")
		orig, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		noEcho := strings.Replace(string(orig), "tools: [echo, whoami, notes, fetch, slow]", "tools: [whoami]", 1)
		if noEcho == string(orig) {
			t.Fatal("the dev policy changed shape; update this test")
		}
		os.WriteFile(file, []byte(noEcho), 0o600)
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		waitStatus(t, func() int {
			r := d.post(t, d.alice, "echo", `{"text":"x"}`, "")
			r.Body.Close()
			return r.StatusCode
		}, http.StatusForbidden)

		os.WriteFile(file, []byte("roles:\n  analyst:\n    tool: [echo]\n"), 0o600) // unknown key
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		time.Sleep(300 * time.Millisecond)
		r := d.post(t, d.alice, "whoami", `{}`, "")
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("after a broken reload, whoami: %s (the old policy must stay)", r.Status)
		}
		r = d.post(t, d.alice, "echo", `{"text":"x"}`, "")
		r.Body.Close()
		if r.StatusCode != http.StatusForbidden {
			t.Fatalf("after a broken reload, echo: %s", r.Status)
		}

		os.WriteFile(file, orig, 0o600)
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		waitStatus(t, func() int {
			r := d.post(t, d.alice, "echo", `{"text":"x"}`, "")
			r.Body.Close()
			return r.StatusCode
		}, http.StatusOK)
	})

	t.Run("capstream call", func(t *testing.T) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"call", "slow", "--input", `{"steps":3,"delayMs":1}`, "--url", d.url, "--token", d.alice}, &out, io.Discard)
		if err != nil || !strings.Contains(out.String(), "✓ completed") || strings.Count(out.String(), "%") != 3 {
			t.Fatalf("call: %v\n%s", err, out.String())
		}
		out.Reset()
		err = run(context.Background(), []string{"call", "slow", "--input", `{"steps":2,"delayMs":1}`, "--url", d.url, "--token", d.alice, "--json"}, &out, io.Discard)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if err != nil || len(lines) != 6 || !strings.Contains(lines[5], `"type":"call.completed"`) {
			t.Fatalf("call --json: %v\n%s", err, out.String())
		}
		// A failed call exits 1, after printing why.
		out.Reset()
		err = run(context.Background(), []string{"call", "fetch", "--input", `{"url":"http://127.0.0.1:1/"}`, "--url", d.url, "--token", d.alice}, &out, io.Discard)
		if ee, ok := err.(*exitError); !ok || ee.code != 1 || !strings.Contains(out.String(), "✗ failed (tool_error)") || !strings.Contains(out.String(), "denied") {
			t.Fatalf("failed call: %v\n%s", err, out.String())
		}
		err = run(context.Background(), []string{"call", "whoami", "--url", d.url, "--token", d.bob + "x"}, &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "unauthenticated") {
			t.Fatalf("call with a bad token: %v", err)
		}
	})

	t.Run("shutdown cancels the running call on its open stream, and exits 0", func(t *testing.T) {
		// A long call, still running when the drain timeout passes.
		resp := d.post(t, d.alice, "slow", `{"steps":100,"delayMs":100}`, "text/event-stream")
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		br.ReadString('\n')
		d.stop()
		body, _ := io.ReadAll(br)
		if !strings.Contains(string(body), "event: call.cancelled") || !strings.Contains(string(body), `"reason":"shutdown"`) {
			t.Fatalf("stream after shutdown:\n%s", body)
		}
		if err := <-d.done; err != nil {
			t.Fatalf("serve returned %v, want nil (exit 0)", err)
		}
		d.done <- nil // for Cleanup
	})
}

func waitStatus(t *testing.T, get func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := get()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d, want %d", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServeRefusesWithoutKeyOrPolicy(t *testing.T) {
	dir := t.TempDir()
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--plugins", dir}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no token key") {
		t.Fatalf("serve without a key: %v", err)
	}
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, bytes.Repeat([]byte("k"), 40), 0o600)
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--plugins", dir, "--jwt-secret-file", secret}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no policy") {
		t.Fatalf("serve without a policy: %v", err)
	}
}
