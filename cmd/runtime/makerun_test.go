package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/testwasm"
)

// inCI reports whether the tests run in CI, where a test must not skip
// for want of a tool: CI installs them all.
func inCI() bool { return os.Getenv("CI") == "true" }

// TestMirrorWasmIsAssembledFromWAT: the committed plugins/mirror/mirror.wasm,
// which lets make build every tool with Go alone, is what wat2wasm makes
// of plugins/mirror/mirror.wat.
func TestMirrorWasmIsAssembledFromWAT(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		if inCI() {
			t.Fatal("wat2wasm not found: CI must have Debian's wabt (make deps installs it)")
		}
		t.Skip("wat2wasm not found: install Debian's wabt (make deps) to check mirror.wasm against its source")
	}
	committed, err := os.ReadFile(filepath.Join(testwasm.Root(t), "plugins/mirror/mirror.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, testwasm.WATFile(t, "plugins/mirror/mirror.wat")) {
		t.Fatal("plugins/mirror/mirror.wasm is not plugins/mirror/mirror.wat assembled: run make mirror-wasm and commit the result")
	}
}

// TestMakeRunWithGoAlone: in a copy of the working tree (what git tracks,
// and what it would track, as it is now), with a PATH that holds go, make
// and the few commands the Makefile's recipes run, and no wat2wasm,
// `make run` builds the runtime and every bundled tool and serves them;
// echo answers alice, with the token make run printed. It builds
// everything from scratch, so it takes a minute or two.
func TestMakeRunWithGoAlone(t *testing.T) {
	if testing.Short() && !inCI() {
		t.Skip("-short: builds the runtime and the tools from scratch")
	}
	pathDir := t.TempDir()
	for _, tool := range []string{"go", "make", "mkdir", "cp"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			if inCI() {
				t.Fatalf("%s not found", tool)
			}
			t.Skipf("%s not found", tool)
		}
		if err := os.Symlink(p, filepath.Join(pathDir, tool)); err != nil {
			t.Fatal(err)
		}
	}

	tree := copyWorkingTree(t, testwasm.Root(t))
	data := t.TempDir()
	cmd := exec.Command("make", "run", "ADDR=127.0.0.1:0", "DATA_DIR="+data)
	cmd.Dir = tree
	cmd.Env = append(withoutEnv(os.Environ(), "PATH", "GOFLAGS", "CC", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"),
		"PATH="+pathDir, "GOTOOLCHAIN=local")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // make and the server it starts, one group
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	type banner struct{ url, alice string }
	got := make(chan banner, 1)
	go func() {
		urlRE := regexp.MustCompile(`dev mode at (http://\S+)`)
		aliceRE := regexp.MustCompile(`export ALICE=(\S+)`)
		var b banner
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				b.url = m[1]
			}
			if m := aliceRE.FindStringSubmatch(sc.Text()); m != nil {
				b.alice = m[1]
			}
			if b.url != "" && b.alice != "" {
				got <- b
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var b banner
	select {
	case b = <-got:
	case err := <-exited:
		exited <- err
		t.Fatalf("make run exited (%v) before printing the URL and alice's token:\n%s", err, stderr.String())
	case <-time.After(8 * time.Minute):
		t.Fatalf("make run printed no URL and token within 8 minutes:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "wat2wasm") {
		t.Errorf("make run ran wat2wasm:\n%s", stderr.String())
	}

	req, _ := http.NewRequest(http.MethodPost, b.url+"/v1/tools/echo/calls", strings.NewReader(`{"text":"hello"}`))
	req.Header.Set("Authorization", "Bearer "+b.alice)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var term struct {
		Type string
		Data struct{ Output struct{ Text string } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&term); err != nil || term.Type != "call.completed" || term.Data.Output.Text != "hello" {
		t.Fatalf("echo as alice: %s %+v %v", resp.Status, term, err)
	}
	for _, tool := range []string{"echo", "whoami", "notes", "fetch", "slow", "mirror"} {
		if _, err := os.Stat(filepath.Join(tree, "plugins/wasm", tool+".wasm")); err != nil {
			t.Errorf("make run did not build %s: %v", tool, err)
		}
	}
}

// copyWorkingTree copies the files of the repository at root that git
// tracks or would track (not the ignored ones), as they are in the working
// tree, to a new directory, and returns it. A clone would miss changes not
// yet committed.
func copyWorkingTree(t *testing.T, root string) string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// withoutEnv returns env without the variables named.
func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}
