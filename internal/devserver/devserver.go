// Package devserver starts `capstream serve --dev`, built from this tree
// with the bundled tools, as a child process for tests that drive it from
// the outside (a browser, Node.js clients), and reads its URL and the
// sample users' tokens from its banner.
package devserver

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/testwasm"
)

// Server is a running `capstream serve --dev`.
type Server struct {
	URL        string // http://127.0.0.1:PORT
	Alice, Bob string // the banner's tokens: alice (role analyst), bob (role guest)
	DataDir    string // its data directory, with dev-secret
	Bin        string // the capstream binary it runs
}

// The runtime and the bundled tools are built once for all the tests.
var built struct {
	sync.Mutex
	bin, plugins string
}

func buildRuntime(t testing.TB) (bin, plugins string) {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.bin != "" {
		return built.bin, built.plugins
	}
	dir := testwasm.BuildDir(t)
	bin = filepath.Join(dir, "capstream")
	build := exec.Command("go", "build", "-o", bin, "./cmd/runtime")
	build.Dir = testwasm.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the runtime: %v\n%s", err, out)
	}
	plugins = filepath.Join(dir, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
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
	built.bin, built.plugins = bin, plugins
	return bin, plugins
}

var (
	baseRE  = regexp.MustCompile(`capstream is running in dev mode at (http://\S+)`)
	aliceRE = regexp.MustCompile(`^\s*export ALICE=(\S+)\s+# role analyst`)
	bobRE   = regexp.MustCompile(`^\s*export BOB=(\S+)\s+# role guest`)
)

// Start starts `capstream serve --dev` with the bundled tools on a free
// loopback port, and reads its URL and the sample users' tokens from its
// banner. The server is stopped (SIGINT) when the test ends, and its log
// shown if the test failed. The runtime is built once per test binary, and
// compiled tools are cached (testwasm.CacheDir), so only the first start
// compiles them. The calling package's TestMain should run testwasm.Main.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, plugins := buildRuntime(t)
	dir := t.TempDir()
	s := &Server{Bin: bin, DataDir: filepath.Join(dir, "data")}
	logFile := filepath.Join(dir, "server.log")
	stderr, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	srv := exec.Command(bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--plugins", plugins,
		"--data-dir", s.DataDir, "--cache-dir", testwasm.CacheDir(), "--drain-timeout", "1s")
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

	ready := make(chan *Server, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		banner := *s
		for sc.Scan() {
			line := sc.Text()
			if m := baseRE.FindStringSubmatch(line); m != nil {
				banner.URL = m[1]
			} else if m := aliceRE.FindStringSubmatch(line); m != nil {
				banner.Alice = m[1]
			} else if m := bobRE.FindStringSubmatch(line); m != nil {
				banner.Bob = m[1]
			}
			if banner.URL != "" && banner.Alice != "" && banner.Bob != "" {
				ready <- &banner
				break
			}
		}
		io.Copy(io.Discard, stdout)
		exited <- srv.Wait()
	}()
	select {
	case s := <-ready:
		return s
	case err := <-exited:
		exited <- err
		log, _ := os.ReadFile(logFile)
		t.Fatalf("capstream serve --dev exited before printing its URL and tokens: %v\n%s", err, log)
	case <-time.After(2 * time.Minute):
		t.Fatal("no URL and tokens from capstream serve --dev within 2 minutes")
	}
	return nil
}
