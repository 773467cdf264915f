// Package testwasm builds real WebAssembly guests for tests: Go packages
// for GOOS=wasip1 (with -buildmode=c-shared, as the SDK requires) and WAT
// sources with Debian's wat2wasm (package wabt). Builds are cached for the
// life of the test process, and Go's build cache makes them cheap across
// runs.
package testwasm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
	dir   string
)

// Root returns the module's root directory.
func Root(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			tb.Fatalf("no go.mod above %s", wd)
		}
	}
}

// BuildDir returns a directory for things a test binary builds, removed by
// Main (through Cleanup) when the tests end.
func BuildDir(tb testing.TB) string {
	mu.Lock()
	defer mu.Unlock()
	return outDir(tb)
}

func outDir(tb testing.TB) string {
	if dir == "" {
		d, err := os.MkdirTemp("", "capstream-testwasm-")
		if err != nil {
			tb.Fatal(err)
		}
		dir = d
	}
	return dir
}

// Go builds the Go package in dir (relative to the module root, e.g.
// "plugins/echo") for wasip1 and returns the module.
func Go(tb testing.TB, pkgDir string) []byte {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[pkgDir]; ok {
		return b
	}
	out := filepath.Join(outDir(tb), strings.ReplaceAll(pkgDir, "/", "_")+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./"+pkgDir)
	cmd.Dir = Root(tb)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building %s for wasip1: %v\n%s", pkgDir, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	built[pkgDir] = b
	return b
}

// WATFile compiles a WAT file (relative to the module root).
func WATFile(tb testing.TB, file string) []byte {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join(Root(tb), file))
	if err != nil {
		tb.Fatal(err)
	}
	return WAT(tb, string(src))
}

// WAT compiles WebAssembly text with wat2wasm.
func WAT(tb testing.TB, src string) []byte {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built["wat:"+src]; ok {
		return b
	}
	path, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Fatal("wat2wasm not found: install Debian's wabt package (make deps does)")
	}
	d := outDir(tb)
	f, err := os.CreateTemp(d, "*.wat")
	if err != nil {
		tb.Fatal(err)
	}
	f.WriteString(src)
	f.Close()
	out := f.Name() + ".wasm"
	var stderr bytes.Buffer
	cmd := exec.Command(path, f.Name(), "-o", out)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("wat2wasm: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	built["wat:"+src] = b
	return b
}

// SDK builds the example tools of another language's SDK (sdk/rust,
// sdk/c, sdk/assemblyscript) with its Makefile's examples target, which
// writes NAME.wasm files into the directory it is given, and returns them
// by name. The toolchains come from Debian and npm (make deps installs
// them); a missing one fails the test, with the make output.
func SDK(tb testing.TB, sdkDir string) map[string][]byte {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if tools, ok := builtSDKs[sdkDir]; ok {
		return tools
	}
	out := filepath.Join(outDir(tb), strings.ReplaceAll(sdkDir, "/", "_"))
	cmd := exec.Command("make", "--no-print-directory", "-C", filepath.Join(Root(tb), sdkDir), "examples", "OUT="+out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building %s's examples (make deps installs the toolchains): %v\n%s", sdkDir, err, msg)
	}
	files, err := filepath.Glob(filepath.Join(out, "*.wasm"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("%s: make examples wrote no .wasm file into %s (%v)", sdkDir, out, err)
	}
	tools := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		tools[strings.TrimSuffix(filepath.Base(f), ".wasm")] = b
	}
	builtSDKs[sdkDir] = tools
	return tools
}

var builtSDKs = map[string]map[string][]byte{}

// Cleanup removes the build directory; call it from TestMain.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
	}
}

var cacheDir string

// CacheDir returns the compilation and snapshot cache that every engine in
// the test binary shares (set up by Main), so that each module is compiled
// and pre-initialized once: compiling is slow, above all under -race. The
// directory outlives the test binary and is shared by every package's tests
// (CAPSTREAM_TEST_CACHE, or capstream-test in the user's cache directory):
// both caches are keyed by content and written atomically, so packages
// running at once share them safely. Tests of the caches themselves use
// directories of their own.
func CacheDir() string { return cacheDir }

// sharedCacheDir returns the directory CacheDir names, made if needed.
func sharedCacheDir() (string, error) {
	dir := os.Getenv("CAPSTREAM_TEST_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "capstream-test")
	}
	return dir, os.MkdirAll(dir, 0o700)
}

// Main runs a package's tests (call it from TestMain) with the shared
// CacheDir, removes what it built afterwards and, with checkLeaks, fails the
// run if goroutines outlive the tests.
func Main(m *testing.M, checkLeaks bool) {
	dir, err := sharedCacheDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testwasm:", err)
		os.Exit(1)
	}
	cacheDir = dir
	code := m.Run()
	Cleanup()
	if code == 0 && checkLeaks {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
