package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/egress"
	"github.com/capstream/capstream/internal/testwasm"
)

// watTool returns the WAT source of a tool named name whose run export
// executes body; it imports every function of capstream_v1.
func watTool(name, body string) string {
	return watToolManifest(fmt.Sprintf(`{"name":%q,"inputSchema":{"type":"object"}}`, name), body)
}

// watToolManifest is watTool with the manifest given, which must not hold
// a backslash.
func watToolManifest(manifest, body string) string {
	escaped := strings.ReplaceAll(manifest, `"`, `\"`)
	return fmt.Sprintf(`(module
`+hostImports+`  (memory (export "memory") 1)
  (data (i32.const 1024) "%s")
  (func (export "capstream_manifest") (result i32)
    (drop (call $set_output (i32.const 1024) (i32.const %d)))
    (i32.const 0))
  (func (export "capstream_run") (result i32)
    %s
    (i32.const 0)))`, escaped, len(manifest), body)
}

func TestABIViolations(t *testing.T) {
	f := newFixture(t, nil)
	echo := f.load("plugins/echo")
	// One page is 65536 bytes: each pair below reaches past it, or wraps
	// around 2^32.
	tests := []struct{ name, body string }{
		{"read", `(drop (call $input)) (drop (call $read (i32.const 65530) (i32.const 7)))`},
		{"set_output", `(drop (call $set_output (i32.const 65536) (i32.const 1)))`},
		{"set_error", `(drop (call $set_error (i32.const -1) (i32.const 2)))`},
		{"log", `(drop (call $log (i32.const 1) (i32.const 65000) (i32.const 1000)))`},
		{"log wraps", `(drop (call $log (i32.const 1) (i32.const -16) (i32.const 32)))`},
		{"progress", `(drop (call $progress (f64.const 1) (f64.const 2) (i32.const 0) (i32.const 70000)))`},
		{"output", `(drop (call $output (i32.const 65535) (i32.const 2)))`},
		{"http", `(drop (call $http (i32.const -100) (i32.const 200)))`},
		{"kv_get", `(drop (call $kv_get (i32.const 65536) (i32.const 1)))`},
		{"kv_set key", `(drop (call $kv_set (i32.const 65536) (i32.const 1) (i32.const 0) (i32.const 1)))`},
		{"kv_set value", `(drop (call $kv_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const -1)))`},
		{"kv_delete", `(drop (call $kv_delete (i32.const 0) (i32.const 65537)))`},
		{"kv_list", `(drop (call $kv_list (i32.const -1) (i32.const -1)))`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool := f.loadWAT(fmt.Sprintf("oob%d", i), watTool(fmt.Sprintf("oob%d", i), tt.body))
			res, rec := f.call("alice", tool, grantAll(), `{"x":1}`)
			if failureCode(res) != host.CodeABIViolation {
				t.Fatalf("failure %v, want abi_violation", res.Failure)
			}
			if n := len(rec.types()); n != 2 {
				t.Fatalf("events %v: a violating host call must not emit an event", rec.types())
			}
			if res, _ := f.call("alice", echo, grantAll(), `{"text":"next"}`); res.Failure != nil {
				t.Fatalf("next call failed: %v", res.Failure)
			}
		})
	}
}

// TestRefusalsAreData: a denied or invalid host call returns an error code
// to the guest, which goes on; its event says why.
func TestRefusalsAreData(t *testing.T) {
	f := newFixture(t, nil)
	noKV := grantAll()
	noKV.KV = nil
	readOnly := grantAll()
	readOnly.KV.Write = false
	// Each body makes one host call and reports the negated return code as
	// a one-digit tool error, so the test sees what the guest got.
	report := func(call string) string {
		return fmt.Sprintf(`(local $rc i32)
    (i32.store8 (i32.const 0) (i32.const 107)) ;; "k"
    (local.set $rc %s)
    (i32.store8 (i32.const 2000) (i32.add (i32.const 48) (i32.sub (i32.const 0) (local.get $rc))))
    (drop (call $set_error (i32.const 2000) (i32.const 1)))
    (return (i32.const 1))`, call)
	}
	tests := []struct {
		name  string
		body  string
		g     capability.Grants
		grant string
		code  string // the ABI error code as a digit: 1 denied, 3 invalid
		event string
	}{
		{"kv without grant", report(`(call $kv_get (i32.const 0) (i32.const 1))`), noKV, "kv", "1", host.EventKV},
		{"kv write read-only", report(`(call $kv_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))`), readOnly, "kv", "1", host.EventKV},
		{"http without egress", report(`(call $http (i32.const 0) (i32.const 1))`), grantAll(), "", "3", host.EventHTTP},
		{"bad log level", report(`(call $log (i32.const 9) (i32.const 0) (i32.const 1))`), grantAll(), "", "3", host.EventLog},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("refuse%d", i)
			tool := f.loadWAT(name, watTool(name, tt.body))
			res, rec := f.call("alice", tool, tt.g, `{}`)
			if failureCode(res) != host.CodeToolError || res.Failure.Message != tt.code {
				t.Fatalf("failure %v, want tool_error with code digit %s", res.Failure, tt.code)
			}
			evs := rec.ofType(tt.event)
			if len(evs) != 1 {
				t.Fatalf("events %v: want one %s", rec.types(), tt.event)
			}
			want := host.Errored
			if tt.grant != "" {
				want = host.Denied
			}
			if got := rec.events[1].Decision; got != want {
				t.Fatalf("decision %q, want %q", got, want)
			}
			if tt.grant != "" {
				d, _ := evs[0]["denied"].(map[string]any)
				if d == nil || d["grant"] != tt.grant || d["reason"] == "" {
					t.Fatalf("event %v: want denied by %s with a reason", evs[0], tt.grant)
				}
			} else if evs[0]["error"] == nil {
				t.Fatalf("event %v: want an error field", evs[0])
			}
		})
	}
}

func TestMirrorWAT(t *testing.T) {
	f := newFixture(t, nil)
	tool, err := f.e.Load(t.Context(), "mirror.wat", watFile(t, "plugins/mirror/mirror.wat"))
	if err != nil {
		t.Fatal(err)
	}
	res, rec := f.call("alice", tool, grantAll(), `{"a":[1,2,{"b":"c"}]}`)
	var in, out any
	json.Unmarshal([]byte(`{"a":[1,2,{"b":"c"}]}`), &in)
	if res.Failure != nil || json.Unmarshal(res.Output, &out) != nil || fmt.Sprint(in) != fmt.Sprint(out) {
		t.Fatalf("mirror: output %s, failure %v", res.Output, res.Failure)
	}
	if logs := rec.ofType(host.EventLog); len(logs) != 1 || logs[0]["message"] != "mirrored" {
		t.Fatalf("mirror logs %v", logs)
	}
}

func watFile(t *testing.T, file string) []byte { return testwasm.WATFile(t, file) }

// TestStartSectionHostCall: a module whose start function makes a host call
// runs it during instantiation; the call state is there already.
func TestStartSectionHostCall(t *testing.T) {
	f := newFixture(t, nil)
	src := strings.Replace(watTool("starter", ""), `(func (export "capstream_run")`,
		`(func $start (drop (call $log (i32.const 1) (i32.const 1024) (i32.const 4))))
  (start $start)
  (func (export "capstream_run")`, 1)
	tool := f.loadWAT("starter", src)
	res, rec := f.call("alice", tool, grantAll(), `{}`)
	if res.Failure != nil || len(rec.ofType(host.EventLog)) != 1 {
		t.Fatalf("failure %v, events %v", res.Failure, rec.types())
	}
}

// hostImports declares every function of capstream_v1, for WAT guests.
const hostImports = `  (import "capstream_v1" "input" (func $input (result i32)))
  (import "capstream_v1" "read" (func $read (param i32 i32) (result i32)))
  (import "capstream_v1" "set_output" (func $set_output (param i32 i32) (result i32)))
  (import "capstream_v1" "set_error" (func $set_error (param i32 i32) (result i32)))
  (import "capstream_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "capstream_v1" "progress" (func $progress (param f64 f64 i32 i32) (result i32)))
  (import "capstream_v1" "output" (func $output (param i32 i32) (result i32)))
  (import "capstream_v1" "http" (func $http (param i32 i32) (result i32)))
  (import "capstream_v1" "kv_get" (func $kv_get (param i32 i32) (result i32)))
  (import "capstream_v1" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "capstream_v1" "kv_delete" (func $kv_delete (param i32 i32) (result i32)))
  (import "capstream_v1" "kv_list" (func $kv_list (param i32 i32) (result i32)))
  (import "capstream_v1" "capability" (func $capability (result i32)))
`

// httpWireBody is the body the upstream of TestHTTPWireWAT sends, and
// httpWireJSON what a guest must read back (sdk/ABI.md: exactly the keys
// status, headers, body and url); sdk/sdktest's TestHTTPWireMatchesHost
// checks that sdktest stages the same bytes.
const (
	httpWireBody = `hi "there" <b> & é`
	httpWireJSON = `{"status":201,"headers":{"Content-Length":"19","Content-Type":"text/plain; charset=utf-8","X-Custom":"v"},"body":"hi \"there\" \u003cb\u003e \u0026 é","url":"http://api.test:%s/wire"}`
)

// TestHTTPWireWAT: a guest that is not written in Go gets the response of
// the http host function in the JSON sdk/ABI.md documents, byte for byte.
func TestHTTPWireWAT(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil // no Date header: the bytes are the same every time
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(httpWireBody)))
		w.Header().Set("X-Custom", "v")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, httpWireBody)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f := newFixture(t, &egress.Config{Resolver: func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}})
	req := fmt.Sprintf(`{"url":"http://api.test:%s/wire"}`, port)
	// The guest passes the request at 2048 to http, reads what it stages
	// to 8192 and makes those bytes its output.
	body := fmt.Sprintf(`(local $n i32)
    (local.set $n (call $http (i32.const 2048) (i32.const %d)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then
        (drop (call $set_error (i32.const 8192) (call $read (i32.const 8192) (i32.const 1024))))
        (return (i32.const 1))))
    (drop (call $read (i32.const 8192) (local.get $n)))
    (drop (call $set_output (i32.const 8192) (local.get $n)))`, len(req))
	manifest := fmt.Sprintf(`{"name":"httpwire","inputSchema":{"type":"object"},"needs":{"http":[{"url":"http://api.test:%s/","methods":["GET"]}]}}`, port)
	src := strings.Replace(watToolManifest(manifest, body), `(func (export "capstream_manifest")`,
		fmt.Sprintf(`(data (i32.const 2048) %q)
  (func (export "capstream_manifest")`, req), 1)
	tool := f.loadWAT("httpwire", src)
	g := grantAll(capability.HTTPRule{URL: "http://api.test:" + port + "/", Methods: []string{"GET"}, AllowPrivate: true})
	res, _ := f.call("alice", tool, g, `{}`)
	if res.Failure != nil {
		t.Fatalf("failure %v", res.Failure)
	}
	if want := fmt.Sprintf(httpWireJSON, port); string(res.Output) != want {
		t.Fatalf("the guest read\n%s\nwant\n%s", res.Output, want)
	}
}
