package sdktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/abi"
	"github.com/capstream/capstream/sdk/internal/hostabi"
)

// Host is an in-memory capstream host. The zero value is ready to use: it
// grants what the tool's manifest needs, with no HTTP upstream. A Host may
// serve many calls, one after another or at once; its KV namespace persists
// across them. A Host must not be copied after first use.
type Host struct {
	// Claims are the capability every call gets. Nil means DefaultClaims
	// for the tool being called.
	Claims *sdk.Claims
	// KV is the namespace's content, which calls read and change: seed it
	// before a call, inspect it after. Nil is an empty namespace.
	KV map[string][]byte
	// HTTP answers the tool's outbound requests, with the method defaulted
	// to GET. Return Deny(reason) to refuse one, any other error for a
	// failed request (the tool sees sdk.ErrUpstream). Nil, or claims that
	// grant no HTTP, refuse every request.
	HTTP func(sdk.HTTPRequest) (sdk.HTTPResponse, error)

	mu sync.Mutex // guards KV, and every call's state
}

// DefaultClaims returns the claims a call of a tool with the given name
// and needs gets from a permissive policy: subject "tester" with role
// "tester", the tool's needs granted as declared (KV with a 1 MiB quota),
// and the runtime's default limits (30 s, 64 MiB of memory, 1 MiB of
// output, 1000 events, 500 host calls).
func DefaultClaims(tool string, needs sdk.Needs) sdk.Claims {
	cl := sdk.Claims{
		Issuer:    "capstream",
		Subject:   "tester",
		Audience:  sdk.Audience{tool, testDigest},
		ExpiresAt: 1767225630, // 2026-01-01T00:00:30Z
		IssuedAt:  1767225600,
		ID:        "sdktest-call",
		Roles:     []string{"tester"},
		Digest:    testDigest,
		Cap: sdk.Grants{
			HTTP: []sdk.HTTPRule{},
			Limits: sdk.Limits{
				TimeoutMs: 30_000, MemoryBytes: 64 << 20, OutputBytes: 1 << 20,
				Events: 1000, HostCalls: 500,
			},
		},
	}
	for _, n := range needs.HTTP {
		cl.Cap.HTTP = append(cl.Cap.HTTP, sdk.HTTPRule{URL: n.URL, Methods: slices.Clone(n.Methods)})
	}
	if needs.KV != nil {
		cl.Cap.KV = &sdk.KVGrant{Namespace: tool + "/tester", Read: true, Write: needs.KV.Write, Quota: 1 << 20}
	}
	return cl
}

// testDigest stands for the module digest, which a native test has none of.
const testDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

func (h *Host) claimsFor(m manifest) sdk.Claims {
	if h.Claims != nil {
		return *h.Claims
	}
	return DefaultClaims(m.Name, m.Needs)
}

// Sizes and counts sdk/ABI.md sets.
const (
	maxLogMessage  = 64 << 10
	maxToolError   = 4 << 10
	maxKey         = 1024
	maxValue       = 1 << 20
	maxListedKeys  = 1000
	maxErrorStaged = abi.MaxErrorMessage
)

// endCall is the panic with which a host function ends a call that hit a
// limit; run recovers it on the goroutine that runs the tool.
type endCall struct{ failure *Failure }

// Error describes a limit hit on another goroutine, which crashes the test.
func (e endCall) Error() string {
	return "sdktest: the call ended with " + e.failure.Error() +
		" (on a goroutine the tool started: only Run's own goroutine can end a call cleanly)"
}

// call is the host side of one call: what the instance's context holds in
// the runtime.
type call struct {
	host     *Host
	claims   sdk.Claims
	manifest bool // the manifest export runs: acting functions are denied

	input    []byte
	staged   []byte
	output   []byte
	errMsg   string
	events   []Event
	calls    int   // host calls so far
	sent     int64 // bytes sent to the caller so far: log and progress messages, output chunks
	progress float64
	progSet  bool
}

var _ hostabi.Host = (*call)(nil)

// stage puts b in the staging buffer and returns its length.
func (c *call) stage(b []byte) int32 {
	c.staged = b
	return int32(len(b))
}

// refuse stages msg and returns code.
func (c *call) refuse(code int32, msg string) int32 {
	if len(msg) > maxErrorStaged {
		msg = msg[:maxErrorStaged]
	}
	c.staged = []byte(msg)
	return code
}

// act starts a host call: it refuses it during the manifest export, and
// ends the call when the host-call or event limit would be passed. It
// reports whether the call goes on; the caller locks c.host.mu.
func (c *call) act() bool {
	if c.manifest {
		c.refuse(abi.ErrDenied, "host calls are not allowed while the manifest is read")
		return false
	}
	c.calls++
	lim := c.claims.Cap.Limits
	if lim.HostCalls > 0 && c.calls > lim.HostCalls {
		panic(endCall{&Failure{Code: "host_call_limit", Message: fmt.Sprintf("more than %d host calls", lim.HostCalls)}})
	}
	if lim.Events > 0 && len(c.events) >= lim.Events {
		panic(endCall{&Failure{Code: "output_limit", Message: fmt.Sprintf("more than %d events", lim.Events)}})
	}
	return true
}

// emit records one host.* event. Its data is normalized through JSON, as a
// client would decode it.
func (c *call) emit(typ string, data map[string]any) {
	b, err := json.Marshal(data)
	if err != nil {
		panic("sdktest: encoding event: " + err.Error())
	}
	var norm map[string]any
	if err := json.Unmarshal(b, &norm); err != nil {
		panic("sdktest: decoding event: " + err.Error())
	}
	c.events = append(c.events, Event{Type: typ, Data: norm})
}

// fail stages an error, records it in the event and returns its code.
func (c *call) fail(typ string, data map[string]any, code int32, msg string) int32 {
	if code == abi.ErrDenied {
		data["denied"] = map[string]string{"grant": grantOf(typ), "reason": msg}
	} else {
		data["error"] = map[string]string{"code": abi.ErrorName(code), "message": msg}
	}
	c.emit(typ, data)
	return c.refuse(code, msg)
}

// grantOf names the grant that refuses a host call: "http" or "kv".
func grantOf(typ string) string {
	return strings.TrimPrefix(typ, "host.")
}

// send counts n more bytes sent to the caller, and ends the call when they
// and the result (of result bytes) pass the output limit.
func (c *call) send(n, result int) {
	c.sent += int64(n)
	if lim := c.claims.Cap.Limits.OutputBytes; lim > 0 && c.sent+int64(result) > lim {
		panic(endCall{&Failure{Code: "output_limit", Message: fmt.Sprintf("output is over %d bytes", lim)}})
	}
}

// Plumbing: no event, no cost.

// Input stages the call's input.
func (c *call) Input() int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	return c.stage(c.input)
}

// Read copies the staged bytes to dst.
func (c *call) Read(dst []byte) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	return int32(copy(dst, c.staged))
}

// SetOutput sets the result, if it is JSON and within the output limit.
func (c *call) SetOutput(b []byte) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !json.Valid(b) {
		return c.refuse(abi.ErrInvalid, "the output is not JSON")
	}
	if !c.manifest {
		c.send(0, len(b))
	}
	c.output = slices.Clone(b)
	return abi.OK
}

// SetError sets the tool error message, cut at 4 KiB.
func (c *call) SetError(msg string) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if len(msg) > maxToolError {
		msg = msg[:maxToolError]
	}
	c.errMsg = strings.ToValidUTF8(msg, "\uFFFD")
	return abi.OK
}

// Host calls: one event each.

// Log records a host.log event.
func (c *call) Log(level int32, msg string) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	data := map[string]any{"level": sdk.Level(level).String(), "message": strings.ToValidUTF8(msg, "\uFFFD")}
	switch {
	case level < abi.LevelDebug || level > abi.LevelError:
		delete(data, "message")
		return c.fail("host.log", data, abi.ErrInvalid, fmt.Sprintf("unknown log level %d", level))
	case len(msg) > maxLogMessage:
		delete(data, "message")
		return c.fail("host.log", data, abi.ErrTooLarge, fmt.Sprintf("a log message is at most %d bytes", maxLogMessage))
	}
	c.send(len(msg), len(c.output))
	c.emit("host.log", data)
	return abi.OK
}

// Progress records a host.progress event; progress must increase.
func (c *call) Progress(progress, total float64, msg string) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	data := map[string]any{}
	switch {
	case math.IsNaN(progress) || math.IsInf(progress, 0) || math.IsNaN(total) || math.IsInf(total, 0):
		return c.fail("host.progress", data, abi.ErrInvalid, "progress and total must be finite numbers")
	case c.progSet && progress <= c.progress:
		return c.fail("host.progress", data, abi.ErrInvalid, fmt.Sprintf("progress %v does not increase from %v", progress, c.progress))
	case len(msg) > maxLogMessage:
		return c.fail("host.progress", data, abi.ErrInvalid, fmt.Sprintf("a progress message is at most %d bytes", maxLogMessage))
	}
	c.send(len(msg), len(c.output))
	c.progress, c.progSet = progress, true
	data["progress"] = progress
	if total > 0 {
		data["total"] = total
	}
	if msg != "" {
		data["message"] = strings.ToValidUTF8(msg, "\uFFFD")
	}
	c.emit("host.progress", data)
	return abi.OK
}

// Output records a host.output event, within the output limit.
func (c *call) Output(chunk string) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	c.send(len(chunk), len(c.output))
	c.emit("host.output", map[string]any{"chunk": strings.ToValidUTF8(chunk, "\uFFFD")})
	return abi.OK
}

// HTTP passes the request to the Host's HTTP function, if the claims grant
// any HTTP, and stages the response.
func (c *call) HTTP(reqJSON []byte) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	var req sdk.HTTPRequest
	if err := json.Unmarshal(reqJSON, &req); err != nil {
		return c.fail("host.http", map[string]any{}, abi.ErrInvalid, "the request is not JSON: "+err.Error())
	}
	if req.Method == "" {
		req.Method = "GET"
	}
	data := map[string]any{"method": req.Method, "url": redact(req.URL), "durationMs": 0, "bytes": 0}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c.fail("host.http", data, abi.ErrInvalid, fmt.Sprintf("%q is not an absolute http or https URL", req.URL))
	}
	if len(c.claims.Cap.HTTP) == 0 {
		return c.fail("host.http", data, abi.ErrDenied, "no outbound HTTP is granted")
	}
	if c.host.HTTP == nil {
		return c.fail("host.http", data, abi.ErrDenied, "the sdktest.Host has no HTTP upstream")
	}
	resp, err := c.upstream(req)
	if err != nil {
		if e, ok := errors.AsType[*sdk.Error](err); ok && e.Code < 0 {
			return c.fail("host.http", data, e.Code, e.Message)
		}
		return c.fail("host.http", data, abi.ErrUpstream, err.Error())
	}
	if resp.URL == "" {
		resp.URL = req.URL
	}
	resp.Headers = canonicalHeaders(resp.Headers)
	b, err := abi.EncodeHTTPResponse(abi.HTTPResponse(resp)) // what the host stages
	if err != nil {
		return c.fail("host.http", data, abi.ErrUpstream, "encoding the response: "+err.Error())
	}
	data["status"], data["bytes"] = resp.Status, len(resp.Body)
	c.emit("host.http", data)
	return c.stage(b)
}

// canonicalHeaders returns h with canonical header names, as the host
// gives them ("content-type" becomes "Content-Type"); of names that differ
// only in case, the first in sorted order wins.
func canonicalHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if _, dup := out[ck]; !dup {
			out[ck] = h[k]
		}
	}
	return out
}

// upstream calls the Host's HTTP function without holding the lock, since
// it may take its time.
func (c *call) upstream(req sdk.HTTPRequest) (sdk.HTTPResponse, error) {
	c.host.mu.Unlock()
	defer c.host.mu.Lock()
	return c.host.HTTP(req)
}

// redact keeps a URL's scheme, host and path for its event: the query and
// user info may carry secrets.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// kv checks a KV host call: the grant, and the key. It returns the event
// data, or a refusal code (negative) already staged and recorded.
func (c *call) kv(op, key string, write bool) (map[string]any, int32) {
	data := map[string]any{"op": op, "key": strings.ToValidUTF8(key, "\uFFFD")}
	g := c.claims.Cap.KV
	switch {
	case g == nil:
		return nil, c.fail("host.kv", data, abi.ErrDenied, "the capability grants no key-value storage")
	case write && !g.Write:
		return nil, c.fail("host.kv", data, abi.ErrDenied, "the capability grants read-only key-value storage")
	case key == "" && op != "list":
		return nil, c.fail("host.kv", data, abi.ErrInvalid, "the key is empty")
	case len(key) > maxKey:
		data["key"] = ""
		return nil, c.fail("host.kv", data, abi.ErrTooLarge, fmt.Sprintf("a key is at most %d bytes", maxKey))
	case !utf8.ValidString(key):
		return nil, c.fail("host.kv", data, abi.ErrInvalid, "the key is not UTF-8")
	}
	return data, abi.OK
}

// KVGet stages the value of key in the Host's namespace.
func (c *call) KVGet(key string) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	data, rc := c.kv("get", key, false)
	if rc < 0 {
		return rc
	}
	v, ok := c.host.KV[key]
	data["hit"] = ok
	if !ok {
		c.emit("host.kv", data)
		return c.refuse(abi.ErrNotFound, "no such key")
	}
	data["bytes"] = len(v)
	c.emit("host.kv", data)
	return c.stage(slices.Clone(v))
}

// KVSet stores a value in the Host's namespace, within the quota.
func (c *call) KVSet(key string, value []byte) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	data, rc := c.kv("set", key, true)
	if rc < 0 {
		return rc
	}
	data["bytes"] = len(value)
	if len(value) > maxValue {
		return c.fail("host.kv", data, abi.ErrTooLarge, fmt.Sprintf("a value is at most %d bytes", maxValue))
	}
	if q := c.claims.Cap.KV.Quota; q > 0 {
		used := int64(len(key) + len(value))
		for k, v := range c.host.KV {
			if k != key {
				used += int64(len(k) + len(v))
			}
		}
		if used > q {
			return c.fail("host.kv", data, abi.ErrQuota, fmt.Sprintf("the namespace would hold %d bytes, over its quota of %d", used, q))
		}
	}
	if c.host.KV == nil {
		c.host.KV = map[string][]byte{}
	}
	c.host.KV[key] = slices.Clone(value)
	c.emit("host.kv", data)
	return abi.OK
}

// KVDelete deletes key from the Host's namespace.
func (c *call) KVDelete(key string) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	data, rc := c.kv("delete", key, true)
	if rc < 0 {
		return rc
	}
	_, existed := c.host.KV[key]
	delete(c.host.KV, key)
	data["hit"] = existed
	c.emit("host.kv", data)
	return abi.OK
}

// KVList stages the sorted keys with the prefix, at most 1000.
func (c *call) KVList(prefix string) int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	data, rc := c.kv("list", prefix, false)
	if rc < 0 {
		return rc
	}
	keys := []string{}
	for k := range c.host.KV {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > maxListedKeys {
		keys = keys[:maxListedKeys]
	}
	b, err := json.Marshal(keys)
	if err != nil {
		panic("sdktest: encoding keys: " + err.Error())
	}
	data["count"] = len(keys)
	c.emit("host.kv", data)
	return c.stage(b)
}

// Capability stages the claims.
func (c *call) Capability() int32 {
	c.host.mu.Lock()
	defer c.host.mu.Unlock()
	if !c.act() {
		return abi.ErrDenied
	}
	b, err := json.Marshal(c.claims)
	if err != nil {
		panic("sdktest: encoding claims: " + err.Error())
	}
	c.emit("host.capability", map[string]any{"bytes": len(b)})
	return c.stage(b)
}
