package stream

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden pins a whole stream, headers and bytes, as a client receives
// it: a call that was half over when the client connected. Times are
// normalized.
func TestGolden(t *testing.T) {
	l := NewLog("call_7f3a", LogConfig{})
	events := []struct{ typ, data string }{
		{"call.started", `{"tool":"slow","digest":"sha256:ab12","subject":"alice","capability":{"id":"call_7f3a","grants":["kv"]},"limits":{"timeout":"10s"}}`},
		{"host.log", `{"level":"info","message":"starting\nwith a newline, a \r and a \u2028"}`},
		{"host.progress", `{"progress":1,"total":2}`},
		{"host.output", "{\"chunk\": \"<b>bold</b> & raw \u2028 separator\"}"},
		{"host.kv", `{"op":"set","key":"notes","denied":{"grant":"kv.write","reason":"read-only"}}`},
		{"host.progress", "{\n  \"progress\": 2,\n  \"total\": 2\n}"},
		{"call.completed", `{"output":{"steps":2},"durationMs":12,"usage":{"hostCalls":5,"events":7,"outputBytes":41}}`},
	}
	appendEvents := func(from, to int) {
		for _, e := range events[from:to] {
			if _, err := l.Append(e.typ, time.Now(), json.RawMessage(e.data)); err != nil {
				t.Error(err)
			}
		}
	}
	appendEvents(0, 3)
	srv, errs := callServer(t, l, WriterConfig{Heartbeat: time.Hour})
	resp := get(t, srv, "")
	// The headers are in, so the stream is open: the rest of the call is live.
	go appendEvents(3, len(events))
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}

	var got bytes.Buffer
	fmt.Fprintf(&got, "%s %s\n", resp.Proto, resp.Status)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range resp.Header {
			if k != "Date" && !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(&got, "%s: %s\n", k, resp.Header.Get(k))
	}
	fmt.Fprintf(&got, "Transfer-Encoding: %v\n\n", resp.TransferEncoding)
	got.Write(regexp.MustCompile(`"time":"[^"]*"`).ReplaceAll(body, []byte(`"time":"<time>"`)))

	path := filepath.Join("testdata", "serve.golden")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./stream -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("stream differs from %s (run go test ./stream -update if intended)\n got:\n%s\nwant:\n%s", path, got.Bytes(), want)
	}
}
