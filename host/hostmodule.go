package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"go.uber.org/zap"

	"github.com/capstream/capstream/sdk/abi"
)

// Sizes the host accepts from a guest (sdk/ABI.md).
const (
	maxLogMessage  = 64 << 10
	maxToolError   = 4 << 10
	maxHTTPRequest = 2 << 20
	maxKVList      = 1000
)

// Bounds of what a guest names in an event: a KV key, an HTTP method or
// URL, and messages that may quote them. Unlike log lines and output, they
// do not count against outputBytes, so without a bound a guest could make
// events as large as its memory (a 16 MiB key) as often as its host calls
// allow. Longer text is cut and ends with "…".
const (
	maxEventKey    = 1024 // the longest key sdk/ABI.md allows
	maxEventMethod = 64
	maxEventURL    = 4 << 10
)

// eventText returns s, or its first n bytes (at a rune boundary) and "…".
func eventText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return string(cutUTF8([]byte(s), n)) + "…"
}

var (
	i32 = api.ValueTypeI32
	f64 = api.ValueTypeF64
)

// hostModule declares the functions of the capstream_v1 import module. Each
// takes its call's state from the context; none keeps state of its own.
func (e *Engine) hostModule() wazero.HostModuleBuilder {
	b := e.rt.NewHostModuleBuilder(abi.Module)
	export := func(name string, fn api.GoModuleFunc, params []api.ValueType, names ...string) {
		b.NewFunctionBuilder().
			WithGoModuleFunction(fn, params, []api.ValueType{i32}).
			WithParameterNames(names...).
			WithResultNames("result").
			Export(name)
	}
	export(abi.FuncInput, hostInput, nil)
	export(abi.FuncRead, hostRead, []api.ValueType{i32, i32}, "ptr", "len")
	export(abi.FuncSetOutput, hostSetOutput, []api.ValueType{i32, i32}, "ptr", "len")
	export(abi.FuncSetError, hostSetError, []api.ValueType{i32, i32}, "ptr", "len")
	export(abi.FuncLog, hostLog, []api.ValueType{i32, i32, i32}, "level", "ptr", "len")
	export(abi.FuncProgress, hostProgress, []api.ValueType{f64, f64, i32, i32}, "progress", "total", "ptr", "len")
	export(abi.FuncOutput, hostOutput, []api.ValueType{i32, i32}, "ptr", "len")
	export(abi.FuncHTTP, hostHTTP, []api.ValueType{i32, i32}, "ptr", "len")
	export(abi.FuncKVGet, hostKVGet, []api.ValueType{i32, i32}, "key_ptr", "key_len")
	export(abi.FuncKVSet, hostKVSet, []api.ValueType{i32, i32, i32, i32}, "key_ptr", "key_len", "value_ptr", "value_len")
	export(abi.FuncKVDelete, hostKVDelete, []api.ValueType{i32, i32}, "key_ptr", "key_len")
	export(abi.FuncKVList, hostKVList, []api.ValueType{i32, i32}, "prefix_ptr", "prefix_len")
	export(abi.FuncCapability, hostCapability, nil)
	return b
}

// state returns the call state of the instance mod, the module whose guest
// code called the host function. If the call's context is done (deadline or
// cancellation) it unwinds the guest instead: wazero closes the instance
// from another goroutine, so a guest woken by the same cancellation (from a
// WASI sleep, say) could otherwise still get a host call done, such as a KV
// write, after its call ended.
func state(ctx context.Context, mod api.Module) *callState {
	st := ctx.Value(stateKey{}).(*callState)
	st.mod = mod
	if ctx.Err() != nil {
		panic(errAbort) // finish reports the deadline or the cancellation
	}
	return st
}

func u32(v uint64) uint32 { return api.DecodeU32(v) }

// ret sets the function's i32 result.
func ret(stack []uint64, code int32) { stack[0] = api.EncodeI32(code) }

// refuse stages a message for the guest and returns an error code.
func (st *callState) refuse(stack []uint64, code int32, msg string) {
	st.stage(validUTF8(cutUTF8([]byte(msg), abi.MaxErrorMessage)))
	ret(stack, code)
}

// cutUTF8 returns b cut to at most n bytes, before the rune that the cut
// would split, so that cutting valid UTF-8 keeps it valid.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	i := n // back up to the start of the rune that holds b[n]
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(b[i]) {
		i--
	}
	if r, size := utf8.DecodeRune(b[i:]); (r != utf8.RuneError || size > 1) && i+size > n {
		return b[:i]
	}
	return b[:n]
}

// validUTF8 returns b with each byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD, as encoding/json does for strings; b itself
// if it is valid. sdk/ABI.md: invalid sequences in logs and output are
// replaced in events.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

// stageLen stages b and returns its length.
func (st *callState) stageLen(stack []uint64, b []byte) {
	st.stage(b)
	ret(stack, int32(len(b)))
}

func hostInput(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	st.stageLen(stack, st.input)
}

func hostRead(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	ptr, n := u32(stack[0]), u32(stack[1])
	if uint64(n) > uint64(len(st.staged)) {
		n = uint32(len(st.staged))
	}
	if !st.mod.Memory().Write(ptr, st.staged[:n]) {
		st.bytes(abi.FuncRead, ptr, n) // aborts with abi_violation
	}
	ret(stack, int32(n))
}

func hostSetOutput(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	b := st.bytes(abi.FuncSetOutput, u32(stack[0]), u32(stack[1]))
	if !json.Valid(b) {
		st.refuse(stack, abi.ErrInvalid, "output is not valid JSON")
		return
	}
	// json.Valid does not look at the UTF-8 inside strings, the only place
	// where valid JSON may hold a byte above 0x7f: replacing invalid
	// sequences there keeps the JSON valid and call.completed UTF-8.
	out := validUTF8(b)
	if !st.manifest {
		st.addOutput(len(out) - len(st.output))
	}
	st.output = append(json.RawMessage(nil), out...)
	ret(stack, abi.OK)
}

func hostSetError(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	b := st.bytes(abi.FuncSetError, u32(stack[0]), u32(stack[1]))
	st.toolErr = string(validUTF8(cutUTF8(b, maxToolError)))
	ret(stack, abi.OK)
}

// acting checks that an acting host function may run at all; false means
// it returned denied (while reading a manifest).
func (st *callState) acting(stack []uint64) bool {
	if st.manifest {
		st.refuse(stack, abi.ErrDenied, "host calls are not available while reading the manifest")
		return false
	}
	st.hostCall()
	return true
}

var levelNames = [...]string{"debug", "info", "warn", "error"}

func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	level, ptr, n := api.DecodeI32(stack[0]), u32(stack[1]), u32(stack[2])
	msg := st.bytes(abi.FuncLog, ptr, n)
	if !st.acting(stack) {
		return
	}
	ev := logData{Level: "info"}
	switch {
	case level < 0 || int(level) >= len(levelNames):
		ev.Error = &HostError{Code: "invalid", Message: fmt.Sprintf("unknown log level %d", level)}
		st.emit(EventLog, ev)
		st.refuse(stack, abi.ErrInvalid, ev.Error.Message)
		return
	case len(msg) > maxLogMessage:
		ev.Level = levelNames[level]
		ev.Error = &HostError{Code: "too_large", Message: fmt.Sprintf("a log message of %d bytes is over %d", len(msg), maxLogMessage)}
		st.emit(EventLog, ev)
		st.refuse(stack, abi.ErrTooLarge, ev.Error.Message)
		return
	}
	st.addOutput(len(msg))
	ev.Level, ev.Message = levelNames[level], string(msg)
	st.emit(EventLog, ev)
	ret(stack, abi.OK)
}

func hostProgress(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	progress, total := api.DecodeF64(stack[0]), api.DecodeF64(stack[1])
	msg := st.bytes(abi.FuncProgress, u32(stack[2]), u32(stack[3]))
	if !st.acting(stack) {
		return
	}
	ev := progressData{Progress: progress, Message: string(msg)}
	if total > 0 && !math.IsInf(total, 0) {
		ev.Total = total
	}
	if math.IsNaN(progress) || math.IsInf(progress, 0) || (st.progressed && progress <= st.progress) || len(msg) > maxLogMessage {
		ev.Progress, ev.Message = 0, ""
		ev.Error = &HostError{Code: "invalid", Message: fmt.Sprintf("progress %v must be finite and greater than %v", progress, st.progress)}
		if len(msg) > maxLogMessage {
			ev.Error.Message = fmt.Sprintf("a progress message of %d bytes is over %d", len(msg), maxLogMessage)
		}
		st.emit(EventProgress, ev)
		st.refuse(stack, abi.ErrInvalid, ev.Error.Message)
		return
	}
	st.addOutput(len(msg))
	st.progress, st.progressed = progress, true
	st.emit(EventProgress, ev)
	ret(stack, abi.OK)
}

func hostOutput(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	b := st.bytes(abi.FuncOutput, u32(stack[0]), u32(stack[1]))
	if !st.acting(stack) {
		return
	}
	st.addOutput(len(b))
	st.emit(EventOutput, outputData{Chunk: string(b)})
	ret(stack, abi.OK)
}

func hostCapability(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	if !st.acting(stack) {
		return
	}
	if st.claims == nil {
		st.claims, _ = json.Marshal(st.cap.Claims())
	}
	st.emit(EventCapability, capabilityData{Bytes: len(st.claims)})
	st.stageLen(stack, st.claims)
}

func hostHTTP(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	b := st.bytes(abi.FuncHTTP, u32(stack[0]), u32(stack[1]))
	if !st.acting(stack) {
		return
	}
	var req abi.HTTPRequest
	ev := httpData{}
	if len(b) > maxHTTPRequest {
		ev.Error = &HostError{Code: "too_large", Message: fmt.Sprintf("a request of %d bytes is over %d", len(b), maxHTTPRequest)}
		st.emit(EventHTTP, ev)
		st.refuse(stack, abi.ErrTooLarge, ev.Error.Message)
		return
	}
	if err := json.Unmarshal(b, &req); err != nil {
		ev.Error = &HostError{Code: "invalid", Message: eventText("request is not valid JSON: "+err.Error(), abi.MaxErrorMessage)}
		st.emit(EventHTTP, ev)
		st.refuse(stack, abi.ErrInvalid, ev.Error.Message)
		return
	}
	if req.Method == "" {
		req.Method = "GET"
	}
	ev.Method = eventText(req.Method, maxEventMethod)
	if st.e.cfg.Egress == nil {
		ev.URL = eventText(redactURL(req.URL), maxEventURL)
		ev.Denied = &Denial{Grant: "http", Reason: "outbound HTTP is not configured on this host"}
		st.emit(EventHTTP, ev)
		st.refuse(stack, abi.ErrDenied, ev.Denied.Reason)
		return
	}
	ev.URL = eventText(st.e.cfg.Egress.Redact(req.URL), maxEventURL)
	start := time.Now()
	resp, err := st.e.cfg.Egress.Do(ctx, st.cap.HTTP, HTTPRequest{Method: req.Method, URL: req.URL, Headers: req.Headers, Body: req.Body})
	ev.DurationMs = time.Since(start).Milliseconds()
	var denied *HTTPDenied
	switch {
	case errors.As(err, &denied):
		ev.Denied = &Denial{Grant: "http", Reason: eventText(denied.Reason, abi.MaxErrorMessage)}
		st.emit(EventHTTP, ev)
		st.refuse(stack, abi.ErrDenied, denied.Reason)
		return
	case err != nil:
		ev.Error = &HostError{Code: "upstream", Message: eventText(err.Error(), abi.MaxErrorMessage)}
		st.emit(EventHTTP, ev)
		st.refuse(stack, abi.ErrUpstream, err.Error())
		return
	}
	// The response JSON is sdk/ABI.md's, which sdktest stages too: not
	// egress.Response's own encoding (no "bytes", lowercase keys).
	out, err := abi.EncodeHTTPResponse(abi.HTTPResponse{Status: resp.Status, Headers: resp.Headers, Body: resp.Body, URL: resp.URL})
	if err != nil {
		st.abort(CodeInternal, "encoding the http response: "+err.Error())
	}
	ev.Status, ev.Bytes, ev.URL = resp.Status, resp.Bytes, eventText(st.e.cfg.Egress.Redact(resp.URL), maxEventURL)
	st.emit(EventHTTP, ev)
	st.stageLen(stack, out)
}

// kvKey reads a key argument and checks the KV grant; false means the
// function already returned an error and emitted its event.
func (st *callState) kvKey(stack []uint64, fn, op string, ptr, n uint32, write bool) (string, bool) {
	key := st.bytes(fn, ptr, n)
	if !st.acting(stack) {
		return "", false
	}
	ev := kvData{Op: op, Key: eventText(string(key), maxEventKey)}
	switch {
	case st.e.cfg.KV == nil:
		ev.Denied = &Denial{Grant: "kv", Reason: "no key-value store is configured on this host"}
	case st.cap.KV == nil:
		ev.Denied = &Denial{Grant: "kv", Reason: "the capability grants no key-value storage"}
	case write && !st.cap.KV.Write:
		ev.Denied = &Denial{Grant: "kv", Reason: "the capability grants read-only key-value storage"}
	case op != "list" && !utf8.Valid(key):
		ev.Error = &HostError{Code: "invalid", Message: "key is not valid UTF-8"}
	}
	switch {
	case ev.Denied != nil:
		st.emit(EventKV, ev)
		st.refuse(stack, abi.ErrDenied, ev.Denied.Reason)
		return "", false
	case ev.Error != nil:
		st.emit(EventKV, ev)
		st.refuse(stack, abi.ErrInvalid, ev.Error.Message)
		return "", false
	}
	return string(key), true
}

// kvFail reports a store error to the guest.
func (st *callState) kvFail(stack []uint64, ev kvData, err error) {
	code, name := abi.ErrStorage, "storage"
	switch {
	case errors.Is(err, ErrKVQuotaExceeded):
		code, name = abi.ErrQuota, "quota"
	case errors.Is(err, ErrKVInvalidKey):
		code, name = abi.ErrInvalid, "invalid"
	case errors.Is(err, ErrKVValueTooLarge):
		code, name = abi.ErrTooLarge, "too_large"
	}
	msg := err.Error()
	if code == abi.ErrStorage {
		// A file system error quotes the store's path (bbolt's "truncate
		// <data dir>/kv.db: file too large"): the guest and the caller get
		// its base name only, the operator the whole error.
		st.e.log.Warn("kv store failed", zap.String("namespace", st.cap.Namespace()), zap.String("op", ev.Op), zap.Error(err))
		if p, ok := st.e.cfg.KV.(pather); ok {
			msg = strings.ReplaceAll(msg, p.Path(), filepath.Base(p.Path()))
		}
	}
	ev.Error = &HostError{Code: name, Message: eventText(msg, abi.MaxErrorMessage)}
	st.emit(EventKV, ev)
	st.refuse(stack, code, msg)
}

func hostKVGet(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	key, ok := st.kvKey(stack, abi.FuncKVGet, "get", u32(stack[0]), u32(stack[1]), false)
	if !ok {
		return
	}
	ev := kvData{Op: "get", Key: eventText(key, maxEventKey)}
	v, err := st.e.cfg.KV.Get(ctx, st.cap.Namespace(), key)
	hit := err == nil
	ev.Hit = &hit
	switch {
	case errors.Is(err, ErrKVNotFound):
		st.emit(EventKV, ev)
		st.refuse(stack, abi.ErrNotFound, "no such key")
	case err != nil:
		st.kvFail(stack, ev, err)
	default:
		n := len(v)
		ev.Bytes = &n
		st.emit(EventKV, ev)
		st.stageLen(stack, v)
	}
}

func hostKVSet(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	value := st.bytes(abi.FuncKVSet, u32(stack[2]), u32(stack[3]))
	key, ok := st.kvKey(stack, abi.FuncKVSet, "set", u32(stack[0]), u32(stack[1]), true)
	if !ok {
		return
	}
	n := len(value)
	ev := kvData{Op: "set", Key: eventText(key, maxEventKey), Bytes: &n}
	if err := st.e.cfg.KV.Set(ctx, st.cap.Namespace(), key, value, st.cap.KV.Quota); err != nil {
		st.kvFail(stack, ev, err)
		return
	}
	st.emit(EventKV, ev)
	ret(stack, abi.OK)
}

func hostKVDelete(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	key, ok := st.kvKey(stack, abi.FuncKVDelete, "delete", u32(stack[0]), u32(stack[1]), true)
	if !ok {
		return
	}
	ev := kvData{Op: "delete", Key: eventText(key, maxEventKey)}
	existed, err := st.e.cfg.KV.Delete(ctx, st.cap.Namespace(), key)
	if err != nil {
		st.kvFail(stack, ev, err)
		return
	}
	ev.Hit = &existed
	st.emit(EventKV, ev)
	ret(stack, abi.OK)
}

func hostKVList(ctx context.Context, mod api.Module, stack []uint64) {
	st := state(ctx, mod)
	prefix, ok := st.kvKey(stack, abi.FuncKVList, "list", u32(stack[0]), u32(stack[1]), false)
	if !ok {
		return
	}
	ev := kvData{Op: "list", Key: eventText(prefix, maxEventKey)}
	keys, err := st.e.cfg.KV.List(ctx, st.cap.Namespace(), prefix, maxKVList)
	if err != nil {
		st.kvFail(stack, ev, err)
		return
	}
	if keys == nil {
		keys = []string{}
	}
	out, _ := json.Marshal(keys)
	count := len(keys)
	ev.Count = &count
	st.emit(EventKV, ev)
	st.stageLen(stack, out)
}

// redactURL drops everything but scheme, host and path from a URL the host
// did not use, for its event.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
