package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bridged runs `capstream mcp` in-process on pipes, against srv, and
// returns a Go SDK client session on its stdio, and everything it wrote
// to stdout and stderr.
func bridged(t *testing.T, srv *serverProcess, tokenFile string, opts *mcp.ClientOptions) (*mcp.ClientSession, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stdout, stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := runMCP(ctx, []string{"--url", srv.url, "--token-file", tokenFile}, inR, io.MultiWriter(outW, &stdout), &stderr)
		outW.Close()
		done <- err
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "bridge-test", Version: "1"}, opts)
	// The session era, as desktop clients speak it.
	cs, err := client.Connect(ctx, &mcp.IOTransport{Reader: outR, Writer: inW}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		cancel()
		t.Fatalf("connect: %v; stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		cs.Close()
		inW.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("capstream mcp: %v", err)
		}
	})
	return cs, &stdout, &stderr
}

func TestMCPBridge(t *testing.T) {
	srv := startServer(t, serverConfig{dataDir: t.TempDir(), plugins: toolDir(t, "echo", "whoami", "slow", "fetch")})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(srv.alice+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var progress []float64
	cs, stdout, stderr := bridged(t, srv, tokenFile, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, r.Params.Progress)
			mu.Unlock()
		},
	})
	names := func() []string {
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatalf("tools/list: %v; stderr:\n%s", err, stderr.String())
		}
		var n []string
		for _, tool := range res.Tools {
			n = append(n, tool.Name)
		}
		slices.Sort(n)
		return n
	}
	if got := names(); !slices.Equal(got, []string{"echo", "fetch", "slow", "whoami"}) {
		t.Fatalf("alice lists %v", got)
	}

	if err := cs.SetLoggingLevel(context.Background(), &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"steps": 3, "delayMs": 50},
		Meta: mcp.Meta{"progressToken": 5}})
	if err != nil || res.IsError {
		t.Fatalf("%+v %v", res, err)
	}
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(progress)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	if !slices.Equal(progress, []float64{1, 2, 3}) {
		t.Fatalf("progress through the bridge: %v", progress)
	}
	mu.Unlock()
	// On the wire, every notification of the call came before its result:
	// three progress notifications and one log message per event (seven).
	var progressLines, logLines int
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.Contains(line, `"structuredContent":{"steps":3}`) {
			break
		}
		if strings.Contains(line, `"notifications/progress"`) && strings.Contains(line, `"progressToken":5`) {
			progressLines++
		}
		if strings.Contains(line, `"notifications/message"`) {
			logLines++
		}
	}
	if progressLines != 3 || logLines != 8 {
		t.Fatalf("before the result, %d progress notifications and %d log messages; want 3 and 8:\n%s", progressLines, logLines, stdout.String())
	}
	var meta struct{ ID string }
	b, _ := json.Marshal(res.Meta["dev.capstream/call"])
	json.Unmarshal(b, &meta)
	resp := getJSON(t, srv.url+"/v1/calls/"+meta.ID, srv.alice)
	if !strings.Contains(resp, `"status":"completed"`) {
		t.Fatalf("the call on the server: %s", resp)
	}

	// The token is read for each request: bob's file makes bob.
	if err := os.WriteFile(tokenFile, []byte(srv.bob), 0o600); err != nil {
		t.Fatal(err)
	}
	var rest struct{ Tools []struct{ Name string } }
	json.Unmarshal([]byte(getJSON(t, srv.url+"/v1/tools", srv.bob)), &rest)
	var bobs []string
	for _, tool := range rest.Tools {
		bobs = append(bobs, tool.Name)
	}
	slices.Sort(bobs)
	if got := names(); !slices.Equal(got, bobs) || slices.Contains(got, "fetch") {
		t.Fatalf("with bob's token: %v, REST lists %v", got, bobs)
	}
	// A token the server refuses is an error that says what to do.
	if err := os.WriteFile(tokenFile, []byte("not-a-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = cs.ListTools(context.Background(), nil)
	var rpc *jsonrpc.Error
	if !errors.As(err, &rpc) || !strings.Contains(rpc.Message, "refused the token in "+tokenFile+" (401)") {
		t.Fatalf("a refused token: %v", err)
	}
	os.WriteFile(tokenFile, []byte(srv.alice), 0o600)
	if got := names(); len(got) != 4 {
		t.Fatalf("after a fresh token: %v", got)
	}

	// Cancelling the request cancels the call on the server.
	ids := make(chan string, 1)
	mu.Lock()
	progress = nil
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			mu.Lock()
			n := len(progress)
			mu.Unlock()
			if n > 0 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"steps": 50, "delayMs": 100},
			Meta: mcp.Meta{"progressToken": "b2"}})
		if err == nil {
			t.Error("a cancelled call returned a result")
		}
		ids <- ""
	}()
	<-ids
	deadline := time.Now().Add(2 * time.Second)
	for {
		list := getJSON(t, srv.url+"/metrics", "")
		if strings.Contains(list, `capstream_calls_total{outcome="cancelled",tool="slow"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cancelled slow call on the server:\n%s", grepLines(list, "capstream_calls_total"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Nothing but JSON-RPC on stdout.
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	lines := 0
	for sc.Scan() {
		var m struct {
			JSONRPC string `json:"jsonrpc"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.JSONRPC != "2.0" {
			t.Fatalf("stdout line %q is not JSON-RPC", sc.Text())
		}
		lines++
	}
	if lines < 8 {
		t.Fatalf("%d lines on stdout", lines)
	}
}

func TestMCPBridgeRefuses(t *testing.T) {
	t.Setenv("CAPSTREAM_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no token: give --token-file FILE or set CAPSTREAM_TOKEN"},
		{[]string{"--token-file", filepath.Join(t.TempDir(), "missing")}, "reading the token"},
		{[]string{"--url", "127.0.0.1:8080", "--token-file", "x"}, "give the server's http:// or https:// URL"},
		{[]string{"extra"}, "mcp takes no arguments"},
	} {
		var stdout, stderr bytes.Buffer
		err := runMCP(context.Background(), c.args, strings.NewReader(""), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) || stdout.Len() != 0 {
			t.Errorf("%q: %v (stdout %q)", c.args, err, stdout.String())
		}
	}
}

func getJSON(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
