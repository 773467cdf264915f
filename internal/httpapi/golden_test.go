package httpapi_test

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// normalizers replace what differs from run to run in a stream.
var normalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`c_[a-z0-9]{26}`), "c_CALLID"},
	{regexp.MustCompile(`"time":"[^"]+"`), `"time":"TIME"`},
	{regexp.MustCompile(`"expiresAt":"[^"]+"`), `"expiresAt":"TIME"`},
	{regexp.MustCompile(`sha256:[0-9a-f]{64}`), "sha256:DIGEST"},
	{regexp.MustCompile(`"token":"[^"]+"`), `"token":"TOKEN"`},
	{regexp.MustCompile(`"durationMs":\d+`), `"durationMs":0`},
}

// TestGoldenEchoStream pins a whole SSE stream of echo, byte for byte
// after normalization. Regenerate with go test ./internal/httpapi -run Golden -update.
func TestGoldenEchoStream(t *testing.T) {
	e := newEnv(t)
	resp := e.do("POST", "/v1/tools/echo/calls", alice(t), `{"text":"hello, stream"}`, "Accept", "text/event-stream")
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range normalizers {
		body = n.re.ReplaceAll(body, []byte(n.repl))
	}
	file := filepath.Join("testdata", "echo.golden")
	if *update {
		if err := os.WriteFile(file, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("stream differs from %s (rerun with -update if the change is intended):\n--- got\n%s\n--- want\n%s", file, body, want)
	}
}
