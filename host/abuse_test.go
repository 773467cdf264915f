package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/egress"
)

// abuseRow is one misbehaving tool and exactly how its call must end.
type abuseRow struct {
	name   string
	tool   func() *host.Tool
	input  string
	g      capability.Grants
	cancel time.Duration // > 0: cancel the call with CancelDeleted after this long
	// cancelOn, if set, cancels the call with CancelDeleted when it yields.
	cancelOn <-chan struct{}
	runs     int    // > 1: run it this many times; it must end the same way each time
	end      string // the terminal event; "" means call.failed
	code     string // call.failed: error.code; call.cancelled: reason
	msg      string // in the failure message
	// within > 0: the call must end within this long. It only tells a
	// prompt end from a late one (the guests spin or sleep for an hour, the
	// egress cap is 5s), with seconds of slack for a busy machine.
	within time.Duration
	check  func(t *testing.T, res host.Result, rec *recorder)
}

// TestAbuseMatrix runs misbehaving tools on one engine. Each row must end
// with exactly its failure code (and a key fragment of the message), every
// event must be valid JSON in valid UTF-8, and right after each row a
// well-behaved tool must run on the same engine as if nothing happened.
func TestAbuseMatrix(t *testing.T) {
	up := newAbuseUpstream(t)
	f := newFixture(t, up.egress)
	// The Go abuses share one module (compiling is slow under -race); it is
	// also the well-behaved tool of the next call, with kind ok, so that a
	// fresh instance of the very module that just misbehaved must work, as
	// must another tool, mirror.
	abuse := func() *host.Tool { return f.load("host/testdata/guests/abuse") }
	mirror := f.loadOnce("plugins/mirror/mirror.wat", func() []byte { return watFile(t, "plugins/mirror/mirror.wat") })
	wat := func(name string, pages int, data map[int]string, body string) func() *host.Tool {
		return func() *host.Tool { return f.loadWAT("wat-"+name, abuseWAT("wat-"+name, pages, data, body)) }
	}
	peek := wat("peek", 1, nil, abusePeekBody)

	base := grantAll()
	base.Limits = capability.Limits{Timeout: 30 * time.Second, Memory: 32 << 20, Output: 64 << 10, Events: 100, HostCalls: 50}
	with := func(change func(*capability.Limits)) capability.Grants {
		g := base
		change(&g.Limits)
		return g
	}
	short := with(func(l *capability.Limits) { l.Timeout = 500 * time.Millisecond })
	blocked := with(func(l *capability.Limits) { l.Timeout = time.Second }) // well below the egress cap of 5s
	manyCalls := with(func(l *capability.Limits) { l.HostCalls, l.Events = 100000, 100000 })
	fewEvents := with(func(l *capability.Limits) { l.HostCalls, l.Events = 100000, 10 })
	bigOutput := with(func(l *capability.Limits) { l.Output = 4 << 20 })
	web := base
	web.HTTP = up.rules

	rows := []abuseRow{
		// Budgets.
		{name: "infinite loop (Go)", tool: abuse, input: `{"kind":"spin"}`, g: short,
			code: host.CodeTimeout, msg: "did not finish within 500ms", within: 5 * time.Second},
		{name: "infinite loop (WAT)", tool: wat("loop", 1, nil, `(loop $l (br $l))`), g: short,
			code: host.CodeTimeout, msg: "did not finish within 500ms", within: 5 * time.Second},
		{name: "memory bomb (Go)", tool: abuse, input: `{"kind":"membomb"}`, g: base,
			code: host.CodeMemoryLimit, msg: "past the limit of 33554432 bytes"},
		{name: "memory bomb (WAT, traps when refused)", g: base,
			tool: wat("grow", 1, nil, `(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable`),
			code: host.CodeMemoryLimit, msg: "past the limit of 33554432 bytes"},
		{name: "initial memory over the limit", tool: wat("bigmem", 1024, nil, ``), g: base,
			code: host.CodeMemoryLimit, msg: "starts with 67108864 bytes of memory; the limit is 33554432"},
		{name: "deep recursion (Go)", tool: abuse, input: `{"kind":"recurse"}`, g: base, runs: 3,
			code: host.CodeTrap, msg: "fatal error: stack overflow"},
		{name: "deep recursion, Go's default stack cap", tool: abuse, input: `{"kind":"recurse-uncapped"}`, g: base, runs: 2,
			code: host.CodeMemoryLimit, msg: "past the limit of 33554432 bytes"},
		{name: "deep recursion (WAT)", tool: wat("recurse", 1, nil, `(drop (call $deeper (i32.const 0)))`), g: base, runs: 2,
			code: host.CodeTrap, msg: "stack overflow"},
		{name: "output flood", tool: abuse, input: `{"kind":"output"}`, g: manyCalls,
			code: host.CodeOutputLimit, msg: "more than 65536 bytes of output"},
		{name: "event flood", tool: abuse, input: `{"kind":"progress"}`, g: fewEvents,
			code: host.CodeOutputLimit, msg: "more than 10 events",
			check: wantUsage(host.Usage{HostCalls: 11, Events: 11})},
		{name: "host-call flood", tool: abuse, input: `{"kind":"hostcalls"}`, g: base,
			code: host.CodeHostCallLimit, msg: "more than 50 host calls",
			check: wantUsage(host.Usage{HostCalls: 51, Events: 50})},
		{name: "result over the output budget", g: base,
			tool: wat("bigresult", 2, map[int]string{0: `"`, 99999: `"`},
				`(memory.fill (i32.const 1) (i32.const 120) (i32.const 99998)) (drop (call $set_output (i32.const 0) (i32.const 100000)))`),
			code: host.CodeOutputLimit, msg: "more than 65536 bytes of output"},

		// One huge line: sdk/ABI.md caps a log message at 64 KiB and refuses a
		// longer one with too_large (-6), emitting the event without the
		// message; the call goes on. Nothing is truncated.
		{name: "1 MiB log line", g: base, tool: wat("hugelog", 32, nil, abuseReport(`(call $log (i32.const 1) (i32.const 0) (i32.const 1048576))`)),
			code: host.CodeToolError, msg: "rc=-6",
			check: allOf(wantUsage(host.Usage{HostCalls: 1, Events: 1}), wantHostEvent(host.EventLog, map[string]any{
				"level": "info", "message": "", "error": map[string]any{"code": "too_large", "message": "a log message of 1048576 bytes is over 65536"},
			}))},
		{name: "log line at the 64 KiB cap", g: bigOutput, tool: wat("caplog", 32, nil, `(drop (call $log (i32.const 2) (i32.const 0) (i32.const 65536)))`),
			end: host.EventCompleted, check: allOf(wantUsage(host.Usage{HostCalls: 1, Events: 1, OutputBytes: 65536}), func(t *testing.T, _ host.Result, rec *recorder) {
				ev := rec.ofType(host.EventLog)[0]
				if ev["level"] != "warn" || len(ev["message"].(string)) != 65536 {
					t.Fatalf("host.log level %v with %d bytes, want warn with all 65536", ev["level"], len(ev["message"].(string)))
				}
			})},
		{name: "log line over the output left", g: with(func(l *capability.Limits) { l.Output = 32 << 10 }),
			tool: wat("budgetlog", 32, nil, `(drop (call $log (i32.const 1) (i32.const 0) (i32.const 61440)))`),
			code: host.CodeOutputLimit, msg: "more than 32768 bytes of output",
			check: func(t *testing.T, _ host.Result, rec *recorder) {
				if n := len(rec.ofType(host.EventLog)); n != 0 {
					t.Fatalf("%d host.log events: a line past the budget must not be emitted", n)
				}
			}},
		{name: "1 MiB progress message", g: base, tool: wat("hugeprogress", 32, nil, abuseReport(`(call $progress (f64.const 1) (f64.const 0) (i32.const 0) (i32.const 1048576))`)),
			code: host.CodeToolError, msg: "rc=-3",
			check: wantHostEvent(host.EventProgress, map[string]any{
				"progress": float64(0), "error": map[string]any{"code": "invalid", "message": "a progress message of 1048576 bytes is over 65536"},
			})},
		{name: "1 MiB output chunk", g: base, tool: wat("hugechunk", 32, nil, `(drop (call $output (i32.const 0) (i32.const 1048576)))`),
			code: host.CodeOutputLimit, msg: "more than 65536 bytes of output"},
		{name: "1 MiB tool error", g: base,
			tool: wat("hugeerror", 32, nil, `(memory.fill (i32.const 0) (i32.const 101) (i32.const 1048576)) (drop (call $set_error (i32.const 0) (i32.const 1048576))) (return (i32.const 1))`),
			code: host.CodeToolError, msg: strings.Repeat("e", 4096),
			check: func(t *testing.T, res host.Result, _ *recorder) {
				if len(res.Failure.Message) != 4096 {
					t.Fatalf("tool error of %d bytes, want it cut to 4096", len(res.Failure.Message))
				}
			}},
		{name: "3 MiB http request", g: web, tool: wat("hugehttp", 48, nil, abuseReport(`(call $http (i32.const 0) (i32.const 3145728))`)),
			code: host.CodeToolError, msg: "rc=-6",
			check: wantHostEvent(host.EventHTTP, map[string]any{
				"method": "", "url": "", "durationMs": float64(0), "bytes": float64(0),
				"error": map[string]any{"code": "too_large", "message": "a request of 3145728 bytes is over 2097152"},
			})},

		// What a guest names (keys, URLs, methods) goes into events without
		// counting as output, so events must bound it: a huge argument
		// must not make a huge event.
		{name: "16 MiB KV key", g: base, tool: wat("hugekey", 257, nil, `(memory.fill (i32.const 0) (i32.const 107) (i32.const 16777216))`+
			abuseReport(`(call $kv_get (i32.const 0) (i32.const 16777216))`)),
			code: host.CodeToolError, msg: "rc=-3", check: allOf(abuseSmallEvents, wantHostEvent(host.EventKV, map[string]any{
				"op": "get", "key": strings.Repeat("k", 1024) + "…", "hit": false,
				"error": map[string]any{"code": "invalid", "message": "kv: invalid key: 16777216 bytes, limit 1024"},
			}))},
		{name: "16 MiB KV list prefix", g: base, tool: wat("hugeprefix", 257, nil, `(memory.fill (i32.const 0) (i32.const 112) (i32.const 16777216))
			(drop (call $kv_list (i32.const 0) (i32.const 16777216)))`),
			end: host.EventCompleted, check: allOf(abuseSmallEvents, wantHostEvent(host.EventKV, map[string]any{
				"op": "list", "key": strings.Repeat("p", 1024) + "…", "count": float64(0),
			}))},
		{name: "2 MiB URL", g: web, tool: abuseHugeJSON(wat, "hugeurl", `{"url":"http://fuzz.test/`, 'a', 2<<20, `"}`),
			code: host.CodeToolError, msg: "rc=-1", check: allOf(abuseSmallEvents, wantHTTPDenied(), func(t *testing.T, _ host.Result, rec *recorder) {
				if u := rec.ofType(host.EventHTTP)[0]["url"].(string); u != "http://fuzz.test/"+strings.Repeat("a", 4096-17)+"…" {
					t.Fatalf("host.http url %.100s… of %d bytes, want the first 4096 and a marker", u, len(u))
				}
			})},
		{name: "1 MiB method", g: web, tool: abuseHugeJSON(wat, "hugemethod", `{"method":"`, 'A', 1<<20, `","url":"http://api.test/"}`),
			code: host.CodeToolError, msg: "rc=-1", check: allOf(abuseSmallEvents, wantHTTPDenied(), func(t *testing.T, _ host.Result, rec *recorder) {
				if m := rec.ofType(host.EventHTTP)[0]["method"]; m != strings.Repeat("A", 64)+"…" {
					t.Fatalf("host.http method %.100s…, want the first 64 bytes and a marker", m)
				}
			})},

		// Invalid UTF-8: what reaches an event is valid UTF-8, each bad byte
		// replaced by U+FFFD (sdk/ABI.md, Conventions).
		{name: "invalid UTF-8 in a log line", g: base, tool: wat("badlog", 1, map[int]string{0: "a\xffb\xc3"}, `(drop (call $log (i32.const 1) (i32.const 0) (i32.const 4)))`),
			end: host.EventCompleted, check: wantHostEvent(host.EventLog, map[string]any{"level": "info", "message": "a\uFFFDb\uFFFD"})},
		{name: "invalid UTF-8 in an output chunk", g: base, tool: wat("badchunk", 1, map[int]string{0: "\xe2\x82x\xff"}, `(drop (call $output (i32.const 0) (i32.const 4)))`),
			end: host.EventCompleted, check: wantHostEvent(host.EventOutput, map[string]any{"chunk": "\uFFFD\uFFFDx\uFFFD"})},
		{name: "invalid UTF-8 in a progress message", g: base, tool: wat("badprogress", 1, map[int]string{0: "\xc0\xaf!"}, `(drop (call $progress (f64.const 1) (f64.const 0) (i32.const 0) (i32.const 3)))`),
			end: host.EventCompleted, check: wantHostEvent(host.EventProgress, map[string]any{"progress": float64(1), "message": "\uFFFD\uFFFD!"})},
		{name: "invalid UTF-8 in the result", g: base, tool: wat("badresult", 1, map[int]string{0: `{"s":"a` + "\xff\xfe" + `b"}`}, `(drop (call $set_output (i32.const 0) (i32.const 12)))`),
			end: host.EventCompleted, check: func(t *testing.T, res host.Result, _ *recorder) {
				if want := `{"s":"a` + "\uFFFD\uFFFD" + `b"}`; string(res.Output) != want {
					t.Fatalf("output %q, want %q", res.Output, want)
				}
				if res.Usage.OutputBytes != 16 {
					t.Fatalf("output bytes %d, want 16: the result as emitted", res.Usage.OutputBytes)
				}
			}},
		{name: "invalid UTF-8 in the tool error", g: base, tool: wat("baderror", 1, map[int]string{0: "no\xff"}, `(drop (call $set_error (i32.const 0) (i32.const 3))) (return (i32.const 2))`),
			code: host.CodeToolError, msg: "no\uFFFD",
			check: func(t *testing.T, res host.Result, _ *recorder) {
				if res.Failure.Message != "no\uFFFD" {
					t.Fatalf("message %q", res.Failure.Message)
				}
			}},
		{name: "invalid UTF-8 in a KV key", g: base, tool: wat("badkey", 1, map[int]string{0: "k\xff"}, abuseReport(`(call $kv_set (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 1))`)),
			code: host.CodeToolError, msg: "rc=-3",
			check: wantHostEvent(host.EventKV, map[string]any{"op": "set", "key": "k\uFFFD", "error": map[string]any{"code": "invalid", "message": "key is not valid UTF-8"}})},
	}

	// Pointers. TestABIViolations has one bad pair per host function; these
	// add the rest, so that every function that takes a pair is tried both
	// past the end of memory and with ptr+len wrapping around 2^32. The
	// memory is one page, 65536 bytes.
	for _, p := range []struct{ name, call, msg string }{
		{"read wraps", `(drop (call $input)) (drop (call $read (i32.const -2) (i32.const 32)))`, "read: pointer 4294967294 and length 7"},
		{"set_output wraps", `(drop (call $set_output (i32.const -1) (i32.const 2)))`, "set_output: pointer 4294967295 and length 2"},
		{"set_error past the end", `(drop (call $set_error (i32.const 65000) (i32.const 537)))`, "set_error: pointer 65000 and length 537"},
		{"progress wraps", `(drop (call $progress (f64.const 1) (f64.const 0) (i32.const -8) (i32.const 16)))`, "progress: pointer 4294967288 and length 16"},
		{"output wraps", `(drop (call $output (i32.const 1) (i32.const -1)))`, "output: pointer 1 and length 4294967295"},
		{"http past the end", `(drop (call $http (i32.const 60000) (i32.const 6000)))`, "http: pointer 60000 and length 6000"},
		{"kv_get wraps", `(drop (call $kv_get (i32.const -4) (i32.const 8)))`, "kv_get: pointer 4294967292 and length 8"},
		{"kv_set key wraps", `(drop (call $kv_set (i32.const -1) (i32.const 1) (i32.const 0) (i32.const 1)))`, "kv_set: pointer 4294967295 and length 1"},
		{"kv_set value wraps", `(drop (call $kv_set (i32.const 0) (i32.const 1) (i32.const 16) (i32.const -8)))`, "kv_set: pointer 16 and length 4294967288"},
		{"kv_delete wraps", `(drop (call $kv_delete (i32.const -65536) (i32.const 65537)))`, "kv_delete: pointer 4294901760 and length 65537"},
		{"kv_list past the end", `(drop (call $kv_list (i32.const 65536) (i32.const 1)))`, "kv_list: pointer 65536 and length 1"},
		{"empty pair one past the end", `(drop (call $output (i32.const 65537) (i32.const 0)))`, "output: pointer 65537 and length 0"},
		{"bad pair and bad log level", `(drop (call $log (i32.const 99) (i32.const -1) (i32.const 2)))`, "log: pointer 4294967295 and length 2"},
	} {
		rows = append(rows, abuseRow{name: p.name, tool: wat("ptr-"+strings.ReplaceAll(p.name, " ", "-"), 1, nil, p.call), input: `{"x":1}`, g: base,
			code: host.CodeABIViolation, msg: p.msg + " lie outside the memory of 65536 bytes", check: wantHostEvents()})
	}
	noKV := base
	noKV.KV = nil
	rows = append(rows,
		abuseRow{name: "bad value pair without a KV grant", g: noKV, tool: wat("ptr-nokv", 1, nil, `(drop (call $kv_set (i32.const 0) (i32.const 1) (i32.const 65535) (i32.const 2)))`),
			code: host.CodeABIViolation, msg: "kv_set: pointer 65535 and length 2 lie outside", check: wantHostEvents()},
		abuseRow{name: "empty pair at the end (valid)", g: base, tool: wat("ptr-end", 1, nil, `(drop (call $output (i32.const 65536) (i32.const 0)))`),
			end: host.EventCompleted, check: wantHostEvents(host.EventOutput)},
	)

	// Ending in the middle of a host call, or right after one.
	sleepWrite := wat("sleepwrite", 1, map[int]string{0: "late"}, abuseSleepBody+
		`(drop (call $kv_set (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4)))`)
	rows = append(rows,
		abuseRow{name: "timed out while blocked in http", tool: abuse, input: up.input("api.test", "/hang"), g: withHTTP(blocked, up.rules),
			code: host.CodeTimeout, msg: "did not finish within 1s", within: 4 * time.Second,
			check: wantHTTPError("upstream", "egress: timeout")},
		abuseRow{name: "cancelled while blocked in http", tool: abuse, input: up.input("api.test", "/hang?signal=1"), g: web,
			cancelOn: up.hanging, end: host.EventCancelled, code: string(host.CancelDeleted), within: 4 * time.Second,
			check: wantHTTPError("upstream", "egress: canceled")},
		abuseRow{name: "timed out while sleeping (WASI poll_oneoff)", tool: abuse, input: `{"kind":"sleep"}`, g: blocked,
			code: host.CodeTimeout, msg: "did not finish within 1s", within: 10 * time.Second, check: wantHostEvents()},
		abuseRow{name: "cancelled while sleeping (WASI poll_oneoff)", tool: abuse, input: `{"kind":"sleep"}`, g: base,
			cancel: 200 * time.Millisecond, end: host.EventCancelled, code: string(host.CancelDeleted), within: 10 * time.Second, check: wantHostEvents()},
		// Woken by the cancellation, the guest goes on to write: the write
		// must not happen, the call being over.
		abuseRow{name: "cancelled while sleeping, then writing", tool: abuse, input: `{"kind":"sleepwrite"}`, g: base,
			cancel: 200 * time.Millisecond, end: host.EventCancelled, code: string(host.CancelDeleted), within: 10 * time.Second,
			check: allOf(wantHostEvents(), abuseNoLateWrite(f, "abuse/alice"))},
		// The same in WAT, where no wasm function starts between the sleep
		// and the write, so wazero, which checks for a closed instance
		// when one does, has no chance to stop the write.
		abuseRow{name: "cancelled while sleeping, then writing (WAT)", g: base, tool: sleepWrite,
			cancel: 200 * time.Millisecond, end: host.EventCancelled, code: string(host.CancelDeleted), within: 10 * time.Second,
			check: allOf(wantHostEvents(), abuseNoLateWrite(f, "wat-sleepwrite/alice"))},
		abuseRow{name: "timed out while sleeping, then writing (WAT)", g: blocked, tool: sleepWrite,
			code: host.CodeTimeout, msg: "did not finish within 1s", within: 10 * time.Second,
			check: allOf(wantHostEvents(), abuseNoLateWrite(f, "wat-sleepwrite/alice"))},
		abuseRow{name: "trap with the input staged, unread", tool: wat("trapstaged", 1, nil, `(drop (call $input)) unreachable`),
			input: `{"secret":"alice's input"}`, g: base, code: host.CodeTrap, msg: "unreachable",
			check: abuseNothingStaged(f, peek)},
		abuseRow{name: "trap with a KV value staged, unread", g: base,
			tool: wat("trapkv", 1, map[int]string{0: "k", 16: "alice's value"},
				`(drop (call $kv_set (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 13))) (drop (call $kv_get (i32.const 0) (i32.const 1))) unreachable`),
			code: host.CodeTrap, msg: "unreachable", check: allOf(wantHostEvents(host.EventKV, host.EventKV), abuseNothingStaged(f, peek))},
		abuseRow{name: "proc_exit(7) after a host call", g: base, tool: wat("exit7", 1, nil, `(drop (call $capability)) (call $proc_exit (i32.const 7))`),
			code: host.CodeTrap, msg: "the guest exited with code 7", check: wantHostEvents(host.EventCapability)},
	)

	// Outbound HTTP through the engine, the SDK and internal/egress (capped
	// at 2s and 4 KiB in newAbuseUpstream). The guest reports what the host
	// told it as a tool_error, as plugins/fetch does.
	fetch := abuse
	rows = append(rows,
		abuseRow{name: "fetch: allowed (control)", tool: fetch, input: up.input("api.test", "/ok"), g: web, end: host.EventCompleted},
		abuseRow{name: "fetch: slow-loris headers", tool: fetch, input: up.input("api.test", "/slow-headers"), g: web,
			code: host.CodeToolError, msg: "upstream: egress: timeout: http://api.test:" + up.port + "/slow-headers", within: 15 * time.Second,
			check: wantHTTPError("upstream", "egress: timeout")},
		abuseRow{name: "fetch: slow-loris body", tool: fetch, input: up.input("api.test", "/slow-body"), g: web,
			code: host.CodeToolError, msg: "upstream: egress: timeout: http://api.test:" + up.port + "/slow-body", within: 15 * time.Second,
			check: wantHTTPError("upstream", "egress: timeout")},
		abuseRow{name: "fetch: redirect to loopback", tool: fetch, input: up.input("api.test", "/redirect?to=http://127.0.0.1:"+up.port+"/admin"), g: web,
			code: host.CodeToolError, msg: "denied: 127.0.0.1 is a private address, which the rule does not allow", check: allOf(wantHTTPDenied(), up.adminUntouched)},
		abuseRow{name: "fetch: redirect to the metadata address", tool: fetch, input: up.input("api.test", "/redirect?to=http://169.254.169.254/latest/meta-data/"), g: web,
			code: host.CodeToolError, msg: "denied: 169.254.169.254 is a private address, which the rule does not allow", check: wantHTTPDenied()},
		abuseRow{name: "fetch: redirect to a name that resolves to loopback", tool: fetch, input: up.input("api.test", "/redirect?to=http://rebind.test:"+up.port+"/admin"), g: web,
			code: host.CodeToolError, msg: "denied: rebind.test resolves to 127.0.0.1, a private address", check: allOf(wantHTTPDenied(), up.adminUntouched)},
		abuseRow{name: "fetch: redirect outside the allowlist", tool: fetch, input: up.input("api.test", "/redirect?to=http://evil.test:"+up.port+"/admin"), g: web,
			code: host.CodeToolError, msg: "denied: url is not in the allowlist", check: allOf(wantHTTPDenied(), up.adminUntouched)},
		abuseRow{name: "fetch: name resolves to loopback (DNS rebinding)", tool: fetch, input: up.input("rebind.test", "/admin"), g: web,
			code: host.CodeToolError, msg: "denied: rebind.test resolves to 127.0.0.1, a private address", check: allOf(wantHTTPDenied(), up.adminUntouched)},
		abuseRow{name: "fetch: name resolves to a public and a loopback address", tool: fetch, input: up.input("mixed.test", "/admin"), g: web,
			code: host.CodeToolError, msg: "denied: mixed.test resolves to 127.0.0.1, a private address", check: allOf(wantHTTPDenied(), up.adminUntouched)},
		abuseRow{name: "fetch: response over the cap (Content-Length)", tool: fetch, input: up.input("api.test", "/big"), g: web,
			code: host.CodeToolError, msg: "upstream: egress: too_large: http://api.test:" + up.port + "/big: egress: response body too large",
			check: wantHTTPError("upstream", "egress: too_large")},
		abuseRow{name: "fetch: response over the cap (chunked)", tool: fetch, input: up.input("api.test", "/big-chunked"), g: web,
			code: host.CodeToolError, msg: "upstream: egress: too_large: http://api.test:" + up.port + "/big-chunked: egress: response body too large",
			check: wantHTTPError("upstream", "egress: too_large")},
	)

	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			tool := row.tool()
			input := row.input
			if input == "" {
				input = `{}`
			}
			for range max(row.runs, 1) {
				start := time.Now()
				res, rec := abuseCall(t, f, tool, row.g, input, row.cancel, row.cancelOn)
				took := time.Since(start)
				abuseCheckEnd(t, row, res, rec)
				if row.within > 0 && took > row.within {
					t.Fatalf("the call took %v, want at most %v", took, row.within)
				}
				if row.check != nil {
					row.check(t, res, rec)
				}
				// The host keeps serving: the very next calls work.
				if res, _ := abuseCall(t, f, abuse(), grantAll(), `{"kind":"ok","text":"next"}`, 0, nil); res.Failure != nil || string(res.Output) != `{"text":"next"}` {
					t.Fatalf("next call of abuse: %v, output %s", res.Failure, res.Output)
				}
				if res, _ := abuseCall(t, f, mirror, grantAll(), `{"next":true}`, 0, nil); res.Failure != nil || string(res.Output) != `{"next":true}` {
					t.Fatalf("next call of mirror: %v, output %s", res.Failure, res.Output)
				}
			}
		})
	}
}

// abuseCall runs one call, cancelled with CancelDeleted after cancel if
// that is positive or when cancelOn yields if it is set, and checks the
// shape of its events.
func abuseCall(t *testing.T, f *fixture, tool *host.Tool, g capability.Grants, input string, cancel time.Duration, cancelOn <-chan struct{}) (host.Result, *recorder) {
	t.Helper()
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	if cancel > 0 {
		timer := time.AfterFunc(cancel, func() { stop(host.CancelDeleted) })
		defer timer.Stop()
	}
	if cancelOn != nil {
		go func() {
			select {
			case <-cancelOn:
				stop(host.CancelDeleted)
			case <-ctx.Done():
			}
		}()
	}
	rec := &recorder{}
	res := f.e.Call(ctx, host.Invocation{Tool: tool, Capability: f.capability("alice", tool, g), Input: json.RawMessage(input), Sink: rec})
	checkShape(t, rec, res)
	return res, rec
}

// abuseCheckEnd checks the terminal event of a row's call, as emitted, and
// that every event is valid JSON in valid UTF-8.
func abuseCheckEnd(t *testing.T, row abuseRow, res host.Result, rec *recorder) {
	t.Helper()
	for _, ev := range rec.events {
		if !utf8.Valid(ev.Data) || !json.Valid(ev.Data) {
			t.Fatalf("%s data is not valid JSON in UTF-8: %q", ev.Type, ev.Data)
		}
	}
	end := row.end
	if end == "" {
		end = host.EventFailed
	}
	last := rec.events[len(rec.events)-1]
	t.Logf("%s %.300s", last.Type, last.Data)
	var data struct {
		Error  *host.Failure `json:"error"`
		Reason string        `json:"reason"`
	}
	if err := json.Unmarshal(last.Data, &data); err != nil {
		t.Fatal(err)
	}
	switch {
	case last.Type != end:
		t.Fatalf("ended with %s %s, want %s %s (%q)", last.Type, last.Data, end, row.code, row.msg)
	case end == host.EventFailed && (data.Error == nil || data.Error.Code != row.code || !strings.Contains(data.Error.Message, row.msg)):
		t.Fatalf("call.failed %s, want code %s and a message with %q", last.Data, row.code, row.msg)
	case end == host.EventCancelled && data.Reason != row.code:
		t.Fatalf("call.cancelled %s, want reason %s", last.Data, row.code)
	}
}

// abuseWAT is a tool in WAT named name, with pages of memory holding data
// (offset -> bytes), whose run export executes body and returns 0. Its
// manifest needs KV writes and GET anywhere. It imports every function of
// capstream_v1 and WASI's proc_exit and poll_oneoff, and has a function
// $deeper that recurses without end.
func abuseWAT(name string, pages int, data map[int]string, body string) string {
	manifest := fmt.Sprintf(`{"name":%q,"inputSchema":{"type":"object"},"needs":{"kv":{"write":true},"http":[{"url":"*","methods":["GET"]}]}}`, name)
	var segments strings.Builder
	for off, b := range data {
		fmt.Fprintf(&segments, "\n  (data (i32.const %d) \"%s\")", off, watEscape(b))
	}
	// The manifest sits near the end of the first page, out of the way of
	// the data; abuseReport writes at 59000.
	return fmt.Sprintf(`(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
`+hostImports+`  (memory (export "memory") %d)
  (data (i32.const 60000) "%s")%s
  (func $deeper (param $n i32) (result i32)
    (i32.add (call $deeper (i32.add (local.get $n) (i32.const 1))) (local.get $n)))
  (func (export "capstream_manifest") (result i32)
    (drop (call $set_output (i32.const 60000) (i32.const %d)))
    (i32.const 0))
  (func (export "capstream_run") (result i32)
    (local $rc i32)
    %s
    (i32.const 0)))`, pages, watEscape(manifest), segments.String(), len(manifest), body)
}

// watEscape writes b as the inside of a WAT string.
func watEscape(b string) string {
	var s strings.Builder
	for i := 0; i < len(b); i++ {
		if c := b[i]; c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, `\%02x`, c)
		}
	}
	return s.String()
}

// abuseReport is a run body that makes one host call and ends with the
// tool error "rc=<the code it returned>", for codes from -9 to 0. It uses
// the local $rc that abuseWAT declares.
func abuseReport(call string) string {
	return fmt.Sprintf(`(local.set $rc %s)
    (i32.store (i32.const 59000) (i32.const 0x2d3d6372)) ;; "rc=-"
    (i32.store8 (i32.const 59004) (i32.sub (i32.const 48) (local.get $rc)))
    (drop (call $set_error (i32.const 59000) (i32.const 5)))
    (return (i32.const 1))`, call)
}

// abuseSleepBody sleeps an hour in WASI's poll_oneoff, with one relative
// subscription to the monotonic clock at 100 (the event goes to 200).
const abuseSleepBody = `(i32.store8 (i32.const 108) (i32.const 0)) ;; tag: clock
    (i32.store (i32.const 116) (i32.const 1))                     ;; id: monotonic
    (i64.store (i32.const 124) (i64.const 3600000000000))         ;; timeout: 1h
    (drop (call $poll_oneoff (i32.const 100) (i32.const 200) (i32.const 1) (i32.const 300)))
    `

// abusePeekBody reads what is staged before staging anything: it must be
// nothing. It completes with 0, or fails with what it read.
const abusePeekBody = `(local $n i32)
    (local.set $n (call $read (i32.const 0) (i32.const 4096)))
    (if (i32.ne (local.get $n) (i32.const 0)) (then
      (drop (call $set_error (i32.const 0) (local.get $n)))
      (return (i32.const 1))))
    (i32.store8 (i32.const 0) (i32.const 48))
    (drop (call $set_output (i32.const 0) (i32.const 1)))`

// abuseNothingStaged checks that a new call, of another principal, finds
// nothing staged by the call before.
func abuseNothingStaged(f *fixture, peek func() *host.Tool) func(*testing.T, host.Result, *recorder) {
	return func(t *testing.T, _ host.Result, _ *recorder) {
		t.Helper()
		tool := peek()
		rec := &recorder{}
		res := f.e.Call(context.Background(), host.Invocation{Tool: tool, Capability: f.capability("bob", tool, grantAll()), Input: json.RawMessage(`{}`), Sink: rec})
		if res.Failure != nil || string(res.Output) != "0" {
			t.Fatalf("a fresh call read staged bytes: %v %s", res.Failure, res.Output)
		}
	}
}

// abuseNoLateWrite checks that the key "late" is not in namespace ns: a
// guest woken by the end of its call must not get a write done.
func abuseNoLateWrite(f *fixture, ns string) func(*testing.T, host.Result, *recorder) {
	return func(t *testing.T, _ host.Result, _ *recorder) {
		t.Helper()
		if v, err := f.kv.Get(t.Context(), ns, "late"); err == nil {
			t.Fatalf("the guest wrote %q after its call ended", v)
		}
	}
}

// abuseHugeJSON is a tool that calls http with a request of size bytes:
// head, then fill, then tail.
func abuseHugeJSON(wat func(string, int, map[int]string, string) func() *host.Tool, name, head string, fill byte, size int, tail string) func() *host.Tool {
	body := fmt.Sprintf(`(memory.fill (i32.const %d) (i32.const %d) (i32.const %d))`, len(head), fill, size-len(head)-len(tail)) +
		abuseReport(fmt.Sprintf(`(call $http (i32.const 0) (i32.const %d))`, size))
	return wat(name, size>>16+1, map[int]string{0: head, size - len(tail): tail}, body)
}

// abuseSmallEvents checks that no event of the call is over 8 KiB.
func abuseSmallEvents(t *testing.T, _ host.Result, rec *recorder) {
	t.Helper()
	for _, ev := range rec.events {
		if len(ev.Data) > 8<<10 {
			t.Fatalf("%s of %d bytes: %.200s…", ev.Type, len(ev.Data), ev.Data)
		}
	}
}

func allOf(checks ...func(*testing.T, host.Result, *recorder)) func(*testing.T, host.Result, *recorder) {
	return func(t *testing.T, res host.Result, rec *recorder) {
		t.Helper()
		for _, c := range checks {
			c(t, res, rec)
		}
	}
}

func wantUsage(u host.Usage) func(*testing.T, host.Result, *recorder) {
	return func(t *testing.T, res host.Result, _ *recorder) {
		t.Helper()
		if res.Usage != u {
			t.Fatalf("usage %+v, want %+v", res.Usage, u)
		}
	}
}

// wantHostEvents checks the types of the events between call.started and
// the terminal event.
func wantHostEvents(types ...string) func(*testing.T, host.Result, *recorder) {
	return func(t *testing.T, _ host.Result, rec *recorder) {
		t.Helper()
		got := rec.types()
		if got = got[1 : len(got)-1]; strings.Join(got, ",") != strings.Join(types, ",") {
			t.Fatalf("host events %v, want %v", got, types)
		}
	}
}

// wantHostEvent checks that the call emitted one event of type typ, with
// exactly the data want.
func wantHostEvent(typ string, want map[string]any) func(*testing.T, host.Result, *recorder) {
	return func(t *testing.T, _ host.Result, rec *recorder) {
		t.Helper()
		evs := rec.ofType(typ)
		if len(evs) != 1 {
			t.Fatalf("events %v, want one %s", rec.types(), typ)
		}
		got, _ := json.Marshal(evs[0])
		exp, _ := json.Marshal(want)
		if !bytes.Equal(got, exp) {
			t.Fatalf("%s %s, want %s", typ, got, exp)
		}
	}
}

func wantHTTPDenied() func(*testing.T, host.Result, *recorder) {
	return func(t *testing.T, _ host.Result, rec *recorder) {
		t.Helper()
		evs := rec.ofType(host.EventHTTP)
		if len(evs) != 1 || evs[0]["denied"] == nil || evs[0]["denied"].(map[string]any)["grant"] != "http" {
			t.Fatalf("host.http %v, want one, denied by http", evs)
		}
	}
}

func wantHTTPError(code, msg string) func(*testing.T, host.Result, *recorder) {
	return func(t *testing.T, _ host.Result, rec *recorder) {
		t.Helper()
		evs := rec.ofType(host.EventHTTP)
		if len(evs) != 1 {
			t.Fatalf("events %v, want one host.http", rec.types())
		}
		e, _ := evs[0]["error"].(map[string]any)
		if e == nil || e["code"] != code || !strings.Contains(e["message"].(string), msg) {
			t.Fatalf("host.http %v, want error %s with %q", evs[0], code, msg)
		}
	}
}

func withHTTP(g capability.Grants, rules []capability.HTTPRule) capability.Grants {
	g.HTTP = rules
	return g
}

// abuseUpstream is an HTTP server on loopback that misbehaves on purpose,
// and the egress configuration and rules that reach it.
type abuseUpstream struct {
	port   string
	egress *egress.Config
	rules  []capability.HTTPRule
	stop   chan struct{}
	admin  atomic.Int32 // requests that reached /admin: a redirect or rebinding must never get there
	// hanging yields when /hang?signal=1 has a request, so that a test can
	// cancel a call once it is blocked in the http host function.
	hanging chan struct{}
}

func newAbuseUpstream(t *testing.T) *abuseUpstream {
	u := &abuseUpstream{stop: make(chan struct{}), hanging: make(chan struct{}, 16)}
	// trickle writes one byte every 50ms until the client gives up.
	trickle := func(r *http.Request, write func() error) {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-u.stop:
				return
			case <-tick.C:
				if write() != nil {
					return
				}
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "fine") })
	mux.HandleFunc("/admin", func(w http.ResponseWriter, r *http.Request) {
		u.admin.Add(1)
		fmt.Fprint(w, "the keys to the kingdom")
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("signal") != "" {
			u.hanging <- struct{}{}
		}
		select {
		case <-r.Context().Done():
		case <-u.stop:
		}
	})
	mux.HandleFunc("/slow-headers", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nX-Slow: ")
		buf.Flush()
		trickle(r, func() error { _, err := conn.Write([]byte("a")); return err })
	})
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		rc := http.NewResponseController(w)
		trickle(r, func() error {
			if _, err := w.Write([]byte("x")); err != nil {
				return err
			}
			return rc.Flush()
		})
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "8192")
		w.Write(bytes.Repeat([]byte("b"), 8192))
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 8 {
			w.Write(bytes.Repeat([]byte("c"), 1024))
			http.NewResponseController(w).Flush()
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(u.stop)
		srv.Close()
	})
	_, u.port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	names := map[string][]string{
		"api.test":    {"127.0.0.1"},
		"rebind.test": {"127.0.0.1"},
		"mixed.test":  {"8.8.8.8", "127.0.0.1"},
	}
	u.egress = &egress.Config{
		Timeout:      5 * time.Second,
		MaxBodyBytes: 4096,
		Resolver: func(_ context.Context, host string) ([]netip.Addr, error) {
			var out []netip.Addr
			for _, ip := range names[host] {
				out = append(out, netip.MustParseAddr(ip))
			}
			if out == nil {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			return out, nil
		},
	}
	get := []string{"GET"}
	u.rules = []capability.HTTPRule{
		// The upstream itself, on loopback: allowed by this rule only.
		{URL: "http://api.test:" + u.port + "/", Methods: get, AllowPrivate: true},
		// These match, but their addresses are private and the rules do
		// not allow that.
		{URL: "http://127.0.0.1:" + u.port + "/", Methods: get},
		{URL: "http://169.254.169.254/", Methods: get},
		{URL: "http://rebind.test:" + u.port + "/", Methods: get},
		{URL: "http://mixed.test:" + u.port + "/", Methods: get},
	}
	return u
}

// input is the abuse guest's input to fetch path on host, at the
// upstream's port.
func (u *abuseUpstream) input(host, path string) string {
	b, _ := json.Marshal(map[string]string{"kind": "fetch", "url": "http://" + host + ":" + u.port + path})
	return string(b)
}

func (u *abuseUpstream) adminUntouched(t *testing.T, _ host.Result, _ *recorder) {
	t.Helper()
	if n := u.admin.Load(); n != 0 {
		t.Fatalf("/admin was reached %d times", n)
	}
}
