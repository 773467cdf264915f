package chat_test

import (
	"bufio"
	"cmp"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/testwasm"
)

// TestBrowser runs browser.test.mjs: the demo page in real Chromium, driven
// by playwright-core, against `capstream serve --dev` built from this tree.
// It needs node, Debian's chromium (or $CHROMIUM) and `npm ci --prefix
// examples/chat`; without them it skips, except under CI=true, where it
// fails. Screenshots go to $ARTIFACTS_DIR, or testdata/artifacts.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	chromium := cmp.Or(os.Getenv("CHROMIUM"), "/usr/bin/chromium")
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (Node.js 20 or later)")
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	if _, err := os.Stat("node_modules/playwright-core/package.json"); err != nil {
		missing = append(missing, "playwright-core (npm ci --prefix examples/chat)")
	}
	if len(missing) > 0 {
		msg := "the browser test needs " + strings.Join(missing, ", ")
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg + "; under CI it must run, not skip")
		}
		t.Skip(msg)
	}
	artifacts, err := filepath.Abs(cmp.Or(os.Getenv("ARTIFACTS_DIR"), filepath.Join("testdata", "artifacts")))
	if err != nil {
		t.Fatal(err)
	}

	url := startDevServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "browser.test.mjs", url)
	cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node browser.test.mjs %s: %v\n%s", url, err, out)
	}
	t.Logf("%s", out)
	t.Logf("screenshots in %s", artifacts)
}

// startDevServer builds the runtime and the bundled tools, starts
// `capstream serve --dev` on a free port and returns the demo page's URL.
// The server is stopped when the test ends.
func startDevServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "capstream")
	build := exec.Command("go", "build", "-o", bin, "./cmd/runtime")
	build.Dir = testwasm.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the runtime: %v\n%s", err, out)
	}
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"echo", "whoami", "notes", "fetch", "slow"} {
		if err := os.WriteFile(filepath.Join(plugins, name+".wasm"), testwasm.Go(t, "plugins/"+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(plugins, "mirror.wasm"), testwasm.WATFile(t, "plugins/mirror/mirror.wat"), 0o644); err != nil {
		t.Fatal(err)
	}

	logFile := filepath.Join(dir, "server.log")
	stderr, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	srv := exec.Command(bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--plugins", plugins,
		"--data-dir", filepath.Join(dir, "data"), "--drain-timeout", "1s")
	srv.Stderr = stderr
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			srv.Process.Kill()
			<-exited
			t.Error("capstream serve did not stop on SIGINT within 15s")
		}
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("server log:\n%s", log)
		}
	})

	found := make(chan string, 1)
	go func() {
		demo := regexp.MustCompile(`Demo page: (http://\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := demo.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stdout)
		exited <- srv.Wait()
	}()
	select {
	case url := <-found:
		return url
	case err := <-exited:
		exited <- err
		log, _ := os.ReadFile(logFile)
		t.Fatalf("capstream serve --dev exited before printing the demo page's URL: %v\n%s", err, log)
	case <-time.After(2 * time.Minute):
		t.Fatal(`no "Demo page:" line from capstream serve --dev within 2 minutes`)
	}
	return ""
}
