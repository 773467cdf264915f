package host_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/egress"
	"github.com/capstream/capstream/internal/testwasm"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzHostBoundary from fuzzSeeds")

// fuzzGuest is a tool that runs a program of raw host calls: its input is
// {"p":"<hex>"}, and the bytes the hex spells are records of 25 bytes, an
// op byte (its low 4 bits choose) and six little-endian u32 a…f:
//
//	0 input()                 1 read(a, b)       2 set_output(a, b)
//	3 set_error(a, b)         4 log(a, b, c)     5 progress(P, T, e, f)
//	6 output(a, b)            7 http(a, b)       8 kv_get(a, b)
//	9 kv_set(a, b, c, d)     10 kv_delete(a, b) 11 kv_list(a, b)
//	12 capability()
//	13 data: the next min(b, what is left) bytes of the program go to
//	   memory at a (if they fit), and are skipped as records
//	14 memory.grow(a & 0xff)  15 return a
//
// where P and T are the f64s whose bits are a|b<<32 and c|d<<32. Every
// value goes to the host as it is; results are ignored. The program is
// decoded in place at 65536, in the second of two pages, where pointers
// may reach it. At its end the guest returns 0. It never traps, loops or
// needs more memory: how a call ends is the host's doing alone.
const fuzzGuest = `(module
` + hostImports + `  (memory (export "memory") 2)
  (data (i32.const 0) "MANIFEST")
  (func (export "capstream_manifest") (result i32)
    (drop (call $set_output (i32.const 0) (i32.const MANIFESTLEN)))
    (i32.const 0))
  (func $nibble (param $c i32) (result i32)
    (select (i32.sub (local.get $c) (i32.const 48)) (i32.and (i32.sub (local.get $c) (i32.const 87)) (i32.const 15))
      (i32.le_u (local.get $c) (i32.const 57))))
  (func $f64 (param $lo i32) (param $hi i32) (result f64)
    (f64.reinterpret_i64 (i64.or (i64.extend_i32_u (local.get $lo))
      (i64.shl (i64.extend_i32_u (local.get $hi)) (i64.const 32)))))
  (func (export "capstream_run") (result i32)
    (local $n i32) (local $i i32) (local $end i32) (local $pc i32) (local $op i32) (local $len i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32) (local $f i32)
    ;; The input, at most one page, at 65536.
    (local.set $n (call $input))
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (local.set $n (i32.const 65536))))
    (drop (call $read (i32.const 65536) (local.get $n)))
    ;; Decode the hex after {"p":" in place, up to the closing quote.
    (local.set $i (i32.const 65542))
    (local.set $end (i32.const 65536))
    (block $decoded
      (loop $hex
        (br_if $decoded (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (i32.add (i32.const 65536) (local.get $n))))
        (br_if $decoded (i32.eq (i32.load8_u (local.get $i)) (i32.const 34)))
        (i32.store8 (local.get $end)
          (i32.or (i32.shl (call $nibble (i32.load8_u (local.get $i))) (i32.const 4))
                  (call $nibble (i32.load8_u offset=1 (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (local.set $end (i32.add (local.get $end) (i32.const 1)))
        (br $hex)))
    (local.set $pc (i32.const 65536))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $pc) (i32.const 25)) (local.get $end)))
        (local.set $op (i32.and (i32.load8_u (local.get $pc)) (i32.const 15)))
        (local.set $a (i32.load offset=1 (local.get $pc)))
        (local.set $b (i32.load offset=5 (local.get $pc)))
        (local.set $c (i32.load offset=9 (local.get $pc)))
        (local.set $d (i32.load offset=13 (local.get $pc)))
        (local.set $e (i32.load offset=17 (local.get $pc)))
        (local.set $f (i32.load offset=21 (local.get $pc)))
        (local.set $pc (i32.add (local.get $pc) (i32.const 25)))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 0))) (drop (call $input)))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 1))) (drop (call $read (local.get $a) (local.get $b))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 2))) (drop (call $set_output (local.get $a) (local.get $b))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 3))) (drop (call $set_error (local.get $a) (local.get $b))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 4))) (drop (call $log (local.get $a) (local.get $b) (local.get $c))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 5)))
          (drop (call $progress (call $f64 (local.get $a) (local.get $b)) (call $f64 (local.get $c) (local.get $d)) (local.get $e) (local.get $f))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 6))) (drop (call $output (local.get $a) (local.get $b))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 7))) (drop (call $http (local.get $a) (local.get $b))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 8))) (drop (call $kv_get (local.get $a) (local.get $b))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 9))) (drop (call $kv_set (local.get $a) (local.get $b) (local.get $c) (local.get $d))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 10))) (drop (call $kv_delete (local.get $a) (local.get $b))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 11))) (drop (call $kv_list (local.get $a) (local.get $b))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 12))) (drop (call $capability)))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 13)))
          (local.set $len (select (local.get $b) (i32.sub (local.get $end) (local.get $pc))
            (i32.le_u (local.get $b) (i32.sub (local.get $end) (local.get $pc)))))
          (if (i64.le_u (i64.add (i64.extend_i32_u (local.get $a)) (i64.extend_i32_u (local.get $len)))
                        (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
            (then (memory.copy (local.get $a) (local.get $pc) (local.get $len))))
          (local.set $pc (i32.add (local.get $pc) (local.get $len))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 14))) (drop (memory.grow (i32.and (local.get $a) (i32.const 255)))))
        (block $op
          (br_if $op (i32.ne (local.get $op) (i32.const 15))) (return (local.get $a)))
        (br $next)))
    (i32.const 0)))`

// fuzzGuestWAT returns fuzzGuest with its manifest.
func fuzzGuestWAT() string {
	manifest := `{"name":"fuzz","inputSchema":{"type":"object"},"needs":{"kv":{"write":true},"http":[{"url":"*","methods":["GET","POST"]}]}}`
	return strings.NewReplacer("MANIFESTLEN", fmt.Sprint(len(manifest)), "MANIFEST", watEscape(manifest)).Replace(fuzzGuest)
}

// fuzzMaxProgram bounds a program, so that its hex fits the guest's page.
const fuzzMaxProgram = 16 << 10

// fuzzMaxEvent bounds the data of any event of a fuzz call.
const fuzzMaxEvent = 32 << 10

// fuzzLimits are small, so that programs reach them.
var fuzzLimits = capability.Limits{Timeout: 30 * time.Second, Memory: 1 << 20, Output: 4 << 10, Events: 40, HostCalls: 30}

// fuzzEnds are the ways a fuzz call may end. The guest cannot trap, loop
// or outgrow its memory by itself, so trap, timeout, memory_limit,
// internal or a cancellation would be the host's fault.
var fuzzEnds = []string{
	host.EventCompleted,
	host.CodeToolError, host.CodeABIViolation, host.CodeOutputLimit, host.CodeHostCallLimit,
}

// FuzzHostBoundary drives random pointers, lengths, numbers and payloads
// through every host function of capstream_v1 (see fuzzGuest). Every call
// must end with exactly one terminal event, in one of fuzzEnds; every event
// must be valid JSON in valid UTF-8; usage must add up; and the engine must
// serve the next call.
func FuzzHostBoundary(f *testing.F) {
	if *updateFuzzSeeds {
		writeFuzzSeeds(f)
	}
	fx := newFixture(f, &egress.Config{
		Timeout: 2 * time.Second,
		// No name resolves, so no request leaves the machine, whatever the
		// fuzzer writes: allowed URLs fail as upstream, others are denied.
		Resolver: func(_ context.Context, host string) ([]netip.Addr, error) {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		},
	})
	tool := fx.loadWAT("fuzz", fuzzGuestWAT())
	mirror := fx.loadOnce("plugins/mirror/mirror.wat", func() []byte { return testwasm.WATFile(f, "plugins/mirror/mirror.wat") })
	g := grantAll(capability.HTTPRule{URL: "http://fuzz.test/", Methods: []string{"GET", "POST"}})
	g.KV.Quota = 4 << 10
	g.Limits = fuzzLimits
	var ids atomic.Int64
	call := func(t *testing.T, tool *host.Tool, input string) (host.Result, *recorder) {
		c, err := capability.Derive(capability.Principal{Subject: "fuzzer", Roles: []string{"fuzz"}}, g, tool.Name, tool.Digest, tool.Needs,
			fmt.Sprintf("fuzz-%d", ids.Add(1)), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		res := fx.e.Call(context.Background(), host.Invocation{Tool: tool, Capability: &c, Input: json.RawMessage(input), Sink: rec})
		checkShape(t, rec, res)
		return res, rec
	}

	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > fuzzMaxProgram {
			prog = prog[:fuzzMaxProgram]
		}
		res, rec := call(t, tool, fmt.Sprintf(`{"p":"%x"}`, prog))
		t.Logf("events %v, ending %.500s", rec.types(), res.Event.Data)
		end := res.Event.Type
		if res.Failure != nil {
			end = res.Failure.Code
		}
		if !slices.Contains(fuzzEnds, end) {
			t.Fatalf("the call ended with %s %s", res.Event.Type, res.Event.Data)
		}
		hostEvents := 0
		for _, ev := range rec.events {
			if !utf8.Valid(ev.Data) || !json.Valid(ev.Data) {
				t.Fatalf("%s data is not valid JSON in UTF-8: %q", ev.Type, ev.Data)
			}
			// What a guest sends is bounded by the output budget (4 KiB
			// here) or by the host's caps on keys, URLs and messages, at
			// most six times over once escaped as JSON.
			if len(ev.Data) > fuzzMaxEvent {
				t.Fatalf("%s of %d bytes: %.200s…", ev.Type, len(ev.Data), ev.Data)
			}
			if strings.HasPrefix(ev.Type, "host.") {
				hostEvents++
			}
		}
		// A host call that a budget ends is counted but emits nothing.
		u := res.Usage
		switch {
		case u.Events != hostEvents && u.Events != hostEvents+1:
			t.Fatalf("usage %+v with %d host events", u, hostEvents)
		case u.HostCalls > fuzzLimits.HostCalls+1 || u.Events > fuzzLimits.Events+1:
			t.Fatalf("usage %+v went past the limits %+v", u, fuzzLimits)
		case u.OutputBytes > fuzzLimits.Output && end != host.CodeOutputLimit:
			t.Fatalf("usage %+v past the output limit, yet the call ended with %s", u, end)
		}
		// The engine serves the next call.
		if res, _ := call(t, mirror, `{"next":1}`); res.Failure != nil || string(res.Output) != `{"next":1}` {
			t.Fatalf("next call: %v %s", res.Failure, res.Output)
		}
	})
}

// fuzzProgram builds a program for fuzzGuest.
type fuzzProgram []byte

// call appends a record: op and up to six arguments (the rest are zero).
func (p fuzzProgram) call(op byte, args ...uint32) fuzzProgram {
	p = append(p, op)
	for i := range 6 {
		var v uint32
		if i < len(args) {
			v = args[i]
		}
		p = binary.LittleEndian.AppendUint32(p, v)
	}
	return p
}

// data appends a data record that copies b to memory at dst.
func (p fuzzProgram) data(dst uint32, b string) fuzzProgram {
	return append(p.call(13, dst, uint32(len(b))), b...)
}

// progress appends a progress call.
func (p fuzzProgram) progress(progress, total float64, ptr, n uint32) fuzzProgram {
	pb, tb := math.Float64bits(progress), math.Float64bits(total)
	return p.call(5, uint32(pb), uint32(pb>>32), uint32(tb), uint32(tb>>32), ptr, n)
}

// fuzzSeeds are the seed corpus, by file name.
func fuzzSeeds() map[string]fuzzProgram {
	var p fuzzProgram
	const (
		input, read, setOutput, setError, log, output, http = 0, 1, 2, 3, 4, 6, 7
		kvGet, kvSet, kvDelete, kvList, capab, grow, ret    = 8, 9, 10, 11, 12, 14, 15
		end                                                 = 2 * 65536
	)
	mirror := p.call(input).call(read, 0, 4096)
	mirror = mirror.call(setOutput, 0, uint32(len(`{"p":""}`)+2*(len(mirror)+25)))
	longRequest := `{"method":"` + strings.Repeat("M", 200) + `","url":"http://fuzz.test/` + strings.Repeat("a", 10000) + `"}`
	request := func(u string) string { return fmt.Sprintf(`{"method":"GET","url":%q,"headers":{"X-A":"b"}}`, u) }
	seeds := map[string]fuzzProgram{
		"empty":   nil,
		"mirror":  mirror,
		"return":  p.data(0, "boom").call(setError, 0, 4).call(ret, 3),
		"capread": p.call(capab).call(read, 0, 100000).call(read, 130000, 5000),
		"http": p.data(0, request("http://fuzz.test/x")).call(http, 0, uint32(len(request("http://fuzz.test/x")))).
			call(read, 1000, 4096).call(setOutput, 1000, 10),
		"http-denied": p.data(0, request("http://127.0.0.1/")).call(http, 0, uint32(len(request("http://127.0.0.1/")))).
			data(0, `{"url":"http://fuzz.test/","method":"CONNECT"}`).call(http, 0, 45),
		"http-invalid": p.data(0, `{"url":`).call(http, 0, 7).call(http, 0, 0).call(read, 0, 2000),
		"kv": p.data(0, "key").data(16, "value").call(kvSet, 0, 3, 16, 5).call(kvGet, 0, 3).call(read, 100, 100).
			call(kvList, 0, 0).call(read, 200, 500).call(kvList, 0, 3).call(kvDelete, 0, 3).call(kvGet, 0, 3).call(read, 0, 1024),
		"kv-invalid": p.data(0, "k\xff\xfe").call(kvSet, 0, 3, 0, 1).call(kvSet, 0, 0, 0, 1).call(kvSet, 0, 2000, 0, 1).
			call(kvList, 0, 3).call(kvGet, 0, 1025).call(kvDelete, 0, 0),
		"kv-quota": p.call(kvSet, 0, 1, 0, 5000).call(kvSet, 1, 1, 0, 3000).call(kvSet, 2, 1, 0, 3000).call(read, 0, 1024),
		"log": p.data(0, "hello\xffworld").call(log, 0, 0, 11).call(log, 1, 0, 11).call(log, 2, 0, 5).call(log, 3, 0, 1).
			call(log, 7, 0, 5).call(log, 0xffffffff, 0, 5).call(log, 1, 0, 70000),
		"progress": p.progress(1, 10, 0, 0).progress(2, 0, 0, 4).progress(2, 10, 0, 0).progress(math.NaN(), 1, 0, 0).
			progress(math.Inf(1), math.Inf(1), 0, 0).progress(3, -1, 0, 70000).progress(4, math.NaN(), 65536, 10),
		"kv-long-key":  p.call(kvGet, 0, 100000).call(kvSet, 0, 100000, 0, 10).call(kvDelete, 0, 2000).call(kvList, 0, 130000),
		"http-long":    p.data(0, longRequest).call(http, 0, uint32(len(longRequest))),
		"output":       p.data(0, "chunk\xc3").call(output, 0, 6).call(output, 0, 0).call(output, end, 0),
		"output-limit": p.call(output, 0, 3000).call(output, 0, 3000),
		"set_output": p.data(0, `{"s":"a`+"\xff"+`b"}`).call(setOutput, 0, 11).data(0, `not json`).call(setOutput, 0, 8).
			call(setOutput, 0, 0),
		"host-call-limit": func() fuzzProgram {
			q := p
			for range 31 {
				q = q.call(capab)
			}
			return q
		}(),
		"grow":     p.call(grow, 8).call(output, 9*65536, 100).call(grow, 255).call(output, 10*65536, 1),
		"data-oob": p.data(end-2, "abcd").call(output, end-4, 4),
		"staged":   p.call(kvGet, 0, 1).call(read, 0, 4096).call(input).call(read, end-8, 4096),
	}
	// Every function that takes a pointer and a length, past the end of
	// memory and wrapping around 2^32.
	for name, args := range map[string][]uint32{
		"read":       {read, end - 2, 8},
		"set_output": {setOutput, 0xffffffff, 2},
		"set_error":  {setError, end, 1},
		"log":        {log, 1, 0xfffffff0, 0x20},
		"output":     {output, 1, 0xffffffff},
		"http":       {http, end - 10, 11},
		"kv_get":     {kvGet, 0xfffffffc, 8},
		"kv_set":     {kvSet, 0, 1, 0xffff0000, 0x10001},
		"kv_delete":  {kvDelete, end, 1},
		"kv_list":    {kvList, 0xffffffff, 0xffffffff},
	} {
		q := p
		if name == "read" {
			q = q.call(input)
		}
		seeds["oob-"+name] = q.call(byte(args[0]), args[1:]...)
	}
	seeds["oob-progress"] = p.progress(1, 0, 0xfffffff8, 16)
	return seeds
}

// writeFuzzSeeds writes fuzzSeeds in the format of go test's corpus files.
func writeFuzzSeeds(tb testing.TB) {
	dir := filepath.Join("testdata", "fuzz", "FuzzHostBoundary")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, prog := range fuzzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", []byte(prog))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
