package mcpclients_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/capstream/capstream/internal/devserver"
	"github.com/capstream/capstream/internal/testwasm"
)

// These tests drive /mcp of `capstream serve --dev`, built from this tree,
// with real MCP clients: the official TypeScript SDK v1 and client v2
// (clients.test.mjs, under node --test), the MCP Inspector's CLI, and the
// MCP conformance suite, the last two through npx under Node 22. See
// README.md.

func TestMain(m *testing.M) { testwasm.Main(m, false) }

// Pinned: the Inspector and the conformance suite need Node 22, which npx
// takes from the npm registry (the node package) when the machine has an
// older one.
const (
	node22      = "node@22"
	inspector   = "@modelcontextprotocol/inspector@2.12.0"
	conformance = "@modelcontextprotocol/conformance@0.2.0-alpha.12"
)

// need skips the test when something it needs is missing, except under
// CI=true, where it fails: CI must run these tests.
func need(t *testing.T, what string, missing []string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + " starts a server and Node.js processes; skipped with -short")
	}
	if len(missing) == 0 {
		return
	}
	msg := what + " needs " + strings.Join(missing, ", ")
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(msg + "; under CI it must run, not skip")
	}
	t.Skip(msg)
}

func lookPath(names ...string) []string {
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n+" (Node.js 20 or later)")
		}
	}
	return missing
}

// TestNodeClients runs clients.test.mjs: the TypeScript SDK v1, and the v2
// client in its legacy and its 2026-07-28 mode, against /mcp, and the SDK's
// stdio client against `capstream mcp`.
func TestNodeClients(t *testing.T) {
	missing := lookPath("node")
	for _, pkg := range []string{"@modelcontextprotocol/sdk", "@modelcontextprotocol/client"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			missing = append(missing, pkg+" (npm ci --prefix examples/mcp-clients)")
		}
	}
	need(t, "the Node.js MCP client test", missing)
	s := startDevServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "clients.test.mjs")
	cmd.Env = append(os.Environ(), "CAPSTREAM_URL="+s.URL, "ALICE="+s.Alice, "BOB="+s.Bob,
		"EXPIRED="+s.expired(t), "CAPSTREAM_BIN="+s.Bin, "NO_COLOR=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test clients.test.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestInspectorCLI runs the MCP Inspector's CLI against /mcp: alice lists
// her tools and calls slow; bob calling fetch, a tool he may not call, gets
// its exit status for a missing tool (5), and no token that for a server
// that wants one (3).
func TestInspectorCLI(t *testing.T) {
	need(t, "the MCP Inspector test", lookPath("node", "npx"))
	s := startDevServer(t)
	home := t.TempDir()
	// run runs the CLI with tok (none if empty) and args, and returns its
	// stdout, its stderr (without npm's warnings) and its exit status.
	run := func(tok string, args ...string) (stdout []byte, stderr string, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		argv := []string{"-y", "-p", node22, "-p", inspector, "--", "mcp-inspector", "--cli", s.URL + "/mcp",
			"--transport", "http", "--format", "json"}
		if tok != "" {
			argv = append(argv, "--header", "Authorization: Bearer "+tok)
		}
		cmd := exec.CommandContext(ctx, "npx", append(argv, args...)...)
		// Its catalog and client settings, which it would keep in the home
		// directory, go to the test's.
		cmd.Env = append(os.Environ(), "MCP_CATALOG_PATH="+filepath.Join(home, "mcp.json"),
			"MCP_CLIENT_CONFIG_PATH="+filepath.Join(home, "client.json"), "NO_COLOR=1")
		cmd.WaitDelay = 5 * time.Second
		var errBuf bytes.Buffer
		cmd.Stderr = &errBuf
		stdout, err := cmd.Output()
		stderr = withoutNPMWarnings(errBuf.Bytes())
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("npx mcp-inspector %v: %v\n%s", args, err, stderr)
		}
		code = cmd.ProcessState.ExitCode()
		t.Logf("mcp-inspector %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		return stdout, stderr, code
	}

	out, _, code := run(s.Alice, "--method", "tools/list")
	var list struct {
		Result struct{ Tools []struct{ Name string } }
	}
	if err := json.Unmarshal(out, &list); code != 0 || err != nil {
		t.Fatalf("tools/list: exit %d, %v", code, err)
	}
	var names []string
	for _, tool := range list.Result.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if want := s.tools(t, s.Alice); !slices.Equal(names, want) {
		t.Fatalf("the Inspector lists %v for alice, GET /v1/tools %v", names, want)
	}

	out, _, code = run(s.Alice, "--method", "tools/call", "--tool-name", "slow", "--tool-args-json", `{"steps":2,"delayMs":50}`)
	var call struct {
		Result struct {
			IsError           bool
			StructuredContent map[string]any
			Meta              map[string]struct{ ID string } `json:"_meta"`
		}
	}
	if err := json.Unmarshal(out, &call); code != 0 || err != nil || call.Result.IsError ||
		call.Result.StructuredContent["steps"] != 2.0 || call.Result.Meta["dev.capstream/call"].ID == "" {
		t.Fatalf("tools/call slow: exit %d, %v, %+v", code, err, call)
	}

	// 5: the tool is an error or not there; for bob, fetch is not there.
	_, stderr, code := run(s.Bob, "--method", "tools/call", "--tool-name", "fetch", "--tool-args-json", `{"url":"https://x.example.com/"}`)
	if code != 5 || !strings.Contains(stderr, `"tool_not_found"`) {
		t.Fatalf("bob calling fetch: exit %d, want 5 and tool_not_found", code)
	}
	// 3: the server wants a token, and --stored-auth-only starts no OAuth.
	_, stderr, code = run("", "--stored-auth-only", "--method", "tools/list")
	if code != 3 || !strings.Contains(stderr, `"auth_required"`) {
		t.Fatalf("no token: exit %d, want 3 and auth_required", code)
	}
}

// The conformance scenarios run in each era (docs/mcp.md, "How it is
// tested"). The generic ones only: the rest need the fixture tools, prompts
// and resources of the SDKs' "everything server".
var conformanceScenarios = map[string][]string{
	"2025-11-25": {"server-initialize", "server-session-lifecycle", "ping", "logging-set-level", "tools-list",
		"dns-rebinding-protection", "server-sse-multiple-streams"},
	"2026-07-28": {"server-stateless", "tools-list", "caching", "http-header-validation",
		"dns-rebinding-protection", "server-sse-multiple-streams"},
}

// TestConformance runs the MCP conformance suite's server scenarios against
// /mcp, in both eras, with the checks that cannot apply to capstream in
// conformance-baseline.yaml. The suite sends no token, so a reverse proxy
// adds alice's; it keeps the Host header, since the dns-rebinding scenario
// sends a foreign Host and Origin, which capstream must refuse (403).
func TestConformance(t *testing.T) {
	need(t, "the MCP conformance test", lookPath("node", "npx"))
	baseline, err := filepath.Abs("conformance-baseline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := startDevServer(t)
	proxy, plog := s.authProxy(t, s.Alice)
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			for _, scenario := range conformanceScenarios[version] {
				out := t.TempDir()
				ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
				cmd := exec.CommandContext(ctx, "npx", "-y", "-p", node22, "-p", conformance, "--", "conformance", "server",
					"--url", proxy+"/mcp", "--scenario", scenario, "--spec-version", version,
					"--expected-failures", baseline, "--output-dir", out)
				cmd.Env = append(os.Environ(), "NO_COLOR=1", "FORCE_COLOR=0")
				cmd.WaitDelay = 5 * time.Second
				output, err := cmd.CombinedOutput()
				cancel()
				summary := conformanceSummary(t, out)
				t.Logf("%s %s:\n%s", version, scenario, summary)
				requests := plog.take()
				if err != nil {
					t.Errorf("conformance server --scenario %s --spec-version %s: %v\n%s\nrequests through the proxy:\n%s",
						scenario, version, err, withoutNPMWarnings(output), requests)
				}
			}
		})
	}
}

// conformanceSummary is one line per check, from the checks.json the
// suite wrote into dir.
func conformanceSummary(t *testing.T, dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "checks.json"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		var checks []struct {
			ID, Status, ErrorMessage string
		}
		if err := json.Unmarshal(data, &checks); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, c := range checks {
			fmt.Fprintf(&b, "  %-8s %s", c.Status, c.ID)
			if c.Status != "SUCCESS" && c.ErrorMessage != "" {
				fmt.Fprintf(&b, ": %s", c.ErrorMessage)
			}
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		return "  (no checks.json)\n"
	}
	return b.String()
}

// withoutNPMWarnings drops npm's warnings (Node 20 running npx for a Node
// 22 package warns of the engine) from output.
func withoutNPMWarnings(out []byte) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if !strings.HasPrefix(line, "npm warn") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// devServer is a running `capstream serve --dev`.
type devServer struct{ *devserver.Server }

func startDevServer(t *testing.T) *devServer { return &devServer{devserver.Start(t)} }

// tools are the names GET /v1/tools lists for tok, sorted.
func (s *devServer) tools(t *testing.T, tok string) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/v1/tools", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Tools []struct{ Name string } }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/tools: %s %v", resp.Status, err)
	}
	var names []string
	for _, tool := range body.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// expired is a token of alice's that expired an hour ago, signed with the
// dev server's secret.
func (s *devServer) expired(t *testing.T) string {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(s.DataDir, "dev-secret"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "roles": []string{"analyst"}, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// authProxy is a reverse proxy to the server on a loopback port of its
// own, which sends tok with every request and passes the Host header on
// as the client sent it. It returns the proxy's URL, with host localhost,
// and its log: one line per request, for a scenario that fails.
func (s *devServer) authProxy(t *testing.T, tok string) (string, *proxyLog) {
	t.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.Out.Header.Set("Authorization", "Bearer "+tok)
		},
		FlushInterval: -1, // event streams as they come
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	plog := &proxyLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: plog.wrap(proxy), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), plog
}

// proxyLog keeps a line for each request through authProxy.
type proxyLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *proxyLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, fmt.Sprintf("%s %s %s Host=%q Mcp-Method=%q Mcp-Name=%q MCP-Protocol-Version=%q Mcp-Session-Id=%q: %d %s, %d bytes, %v",
			start.Format("15:04:05.000"), r.Method, r.URL.Path, r.Host, r.Header.Get("Mcp-Method"), r.Header.Get("Mcp-Name"),
			r.Header.Get("MCP-Protocol-Version"), r.Header.Get("Mcp-Session-Id"), sw.status, sw.Header().Get("Content-Type"),
			sw.bytes, time.Since(start).Round(time.Millisecond)))
	})
}

// take returns the lines so far and forgets them.
func (l *proxyLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(l.lines, "\n")
	l.lines = nil
	return s
}

type statusWriter struct {
	http.ResponseWriter
	status, bytes int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
