package main

// This file checks the template itself against the capstream checkout it
// sits in, following README.md step by step. Delete it from your copy.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTemplate copies the template, renames the tool to greet, builds it
// with make, serves it with `capstream serve --dev`, adds it to the dev
// policy with a SIGHUP, and calls it with `capstream call`.
func TestTemplate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the runtime and a tool")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "runtime")); err != nil {
		t.Skip("not inside the capstream checkout")
	}
	tmp := t.TempDir()
	capstream := filepath.Join(tmp, "capstream")
	run(t, root, "go", "build", "-o", capstream, "./cmd/runtime")

	// Copy and rename, as README.md says: module path, TOOL, Name.
	dir := filepath.Join(tmp, "greet")
	os.Mkdir(dir, 0o755)
	edit := func(file, pattern, repl string) {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(pattern)
		if !re.Match(b) {
			t.Fatalf("%s: no %q to rename: update README.md and this test", file, pattern)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(file)), re.ReplaceAll(b, []byte(repl)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("go.mod", `module example.com/hello-tool`, "module example.com/greet")
	edit("Makefile", `(?m)^TOOL := hello$`, "TOOL := greet")
	edit("main.go", `Name:(\s+)"hello"`, `Name:$1"greet"`)
	// Outside the checkout, ../.. is not capstream: point the replace at it.
	run(t, dir, "go", "mod", "edit", "-replace", "github.com/capstream/capstream="+root)

	run(t, dir, "make")
	if out := run(t, dir, capstream, "inspect", "greet.wasm"); !strings.HasPrefix(out, "greet — Hello") {
		t.Fatalf("inspect:\n%s", out)
	}

	plugins := filepath.Join(tmp, "plugins")
	os.Mkdir(plugins, 0o755)
	os.Rename(filepath.Join(dir, "greet.wasm"), filepath.Join(plugins, "greet.wasm"))
	data := filepath.Join(tmp, "data")
	srv := startServer(t, capstream, plugins, data)

	call := func() (string, error) {
		cmd := exec.Command(capstream, "call", "greet", "--url", srv.url, "--input", `{"name":"Ada"}`, "--json")
		cmd.Env = append(os.Environ(), "CAPSTREAM_TOKEN="+srv.alice)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := call(); err == nil || !strings.Contains(out, "tool_not_permitted") {
		t.Fatalf("before the policy names greet: %v\n%s", err, out)
	}

	// Add the tool to the analyst role of the dev policy, then reload.
	policy := filepath.Join(data, "dev-policy.yaml")
	b, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	const line = "tools: [echo, whoami, notes, fetch, slow]"
	if !bytes.Contains(b, []byte(line)) {
		t.Fatalf("the dev policy has no line %q: update README.md and this test", line)
	}
	b = bytes.Replace(b, []byte(line), []byte("tools: [echo, whoami, notes, fetch, slow, greet]"), 1)
	if err := os.WriteFile(policy, b, 0o600); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.waitLog(t, "policy reloaded")

	out, err := call()
	if err != nil {
		t.Fatalf("capstream call greet: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		Type string
		Data struct {
			Output struct{ Greeting string }
		}
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last line: %v\n%s", err, out)
	}
	if last.Type != "call.completed" || last.Data.Output.Greeting != "Hello, Ada!" {
		t.Fatalf("call ended with %+v\n%s", last, out)
	}
	if !strings.Contains(out, `"message":"greeting Ada"`) {
		t.Errorf("no host.log event:\n%s", out)
	}
}

// run runs a command in dir and returns its output, failing the test if it
// fails.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// server is `capstream serve --dev` running as a child process.
type server struct {
	cmd        *exec.Cmd
	url, alice string
	logs       chan string
}

func startServer(t *testing.T, capstream, plugins, data string) *server {
	t.Helper()
	s := &server{logs: make(chan string, 100)}
	s.cmd = exec.Command(capstream, "serve", "--dev", "--addr", "127.0.0.1:0", "--plugins", plugins, "--data-dir", data)
	stdout, _ := s.cmd.StdoutPipe()
	stderr, _ := s.cmd.StderrPipe()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case s.logs <- sc.Text():
			default:
			}
		}
	}()
	urlRE := regexp.MustCompile(`dev mode at (http://\S+)`)
	tokRE := regexp.MustCompile(`export ALICE=(\S+)`)
	// A server that never prints its banner fails the test instead of hanging it.
	timer := time.AfterFunc(time.Minute, func() { stdout.Close() })
	defer timer.Stop()
	sc := bufio.NewScanner(stdout)
	for (s.url == "" || s.alice == "") && sc.Scan() {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			s.url = m[1]
		}
		if m := tokRE.FindStringSubmatch(sc.Text()); m != nil {
			s.alice = m[1]
		}
	}
	if s.url == "" || s.alice == "" {
		t.Fatal("capstream serve --dev printed no URL and token")
	}
	go io.Copy(io.Discard, stdout)
	return s
}

// waitLog waits for a log line containing text.
func (s *server) waitLog(t *testing.T, text string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-s.logs:
			if strings.Contains(l, text) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line %q", text)
		}
	}
}
