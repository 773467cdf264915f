// Package abi holds the constants of capstream's plugin ABI: the import module
// name, the names of the host functions and guest exports, the error codes,
// the log levels, and the JSON of the http host function. It is the single
// source of these for the host (which implements the ABI) and the Go SDK
// (which calls it, and whose sdktest package stands in for the host);
// sdk/ABI.md is the specification for everyone else.
//
// The package imports only encoding/json and compiles for every GOOS,
// including wasip1.
package abi

import "encoding/json"

// Module is the name of the import module that holds every capstream host
// function. Its suffix is the ABI version: an incompatible change gets a new
// module name, so a tool built for one version fails to load, with a clear
// error, on a host that lacks it.
const Module = "capstream_v1"

// Guest exports.
const (
	// ExportRun is the tool's entry point: () -> i32. It returns 0 on success
	// (the result was set with FuncSetOutput) and anything else for a tool
	// error (message set with FuncSetError).
	ExportRun = "capstream_run"
	// ExportManifest returns the tool's manifest: () -> i32, called once at
	// load time; the manifest is pushed with FuncSetOutput.
	ExportManifest = "capstream_manifest"
	// ExportMemory is the guest memory every pointer refers to.
	ExportMemory = "memory"
	// ExportInitialize is the WASI reactor initializer (Go's
	// -buildmode=c-shared); the host calls it before any other export.
	ExportInitialize = "_initialize"
)

// Host functions of Module. Signatures are in sdk/ABI.md.
const (
	FuncInput      = "input"      // () -> i32 staged length
	FuncRead       = "read"       // (ptr, len i32) -> i32 bytes copied
	FuncSetOutput  = "set_output" // (ptr, len i32) -> i32
	FuncSetError   = "set_error"  // (ptr, len i32) -> i32
	FuncLog        = "log"        // (level, ptr, len i32) -> i32
	FuncProgress   = "progress"   // (progress, total f64, ptr, len i32) -> i32
	FuncOutput     = "output"     // (ptr, len i32) -> i32
	FuncHTTP       = "http"       // (ptr, len i32) -> i32 staged length
	FuncKVGet      = "kv_get"     // (kptr, klen i32) -> i32 staged length
	FuncKVSet      = "kv_set"     // (kptr, klen, vptr, vlen i32) -> i32
	FuncKVDelete   = "kv_delete"  // (kptr, klen i32) -> i32
	FuncKVList     = "kv_list"    // (pptr, plen i32) -> i32 staged length
	FuncCapability = "capability" // () -> i32 staged length
)

// Error codes returned by host functions. Every code is negative, so a
// function that returns a length or a count can return an error in the same
// i32. After an error the host stages a message of at most MaxErrorMessage
// bytes that FuncRead returns.
const (
	OK          int32 = 0
	ErrDenied   int32 = -1 // the capability does not grant this
	ErrNotFound int32 = -2 // no such key
	ErrInvalid  int32 = -3 // a malformed argument (bad JSON, empty key, …)
	ErrQuota    int32 = -4 // the KV quota would be exceeded
	ErrUpstream int32 = -5 // the outbound request failed (connect, timeout, size cap)
	ErrTooLarge int32 = -6 // an argument is larger than the host accepts
	ErrStorage  int32 = -7 // the host's store failed; the call goes on
)

// MaxErrorMessage is the largest error message the host stages.
const MaxErrorMessage = 1024

// Log levels for FuncLog.
const (
	LevelDebug int32 = 0
	LevelInfo  int32 = 1
	LevelWarn  int32 = 2
	LevelError int32 = 3
)

// ErrorName returns the name of an error code, as used in sdk/ABI.md.
func ErrorName(code int32) string {
	switch code {
	case OK:
		return "ok"
	case ErrDenied:
		return "denied"
	case ErrNotFound:
		return "not_found"
	case ErrInvalid:
		return "invalid"
	case ErrQuota:
		return "quota"
	case ErrUpstream:
		return "upstream"
	case ErrTooLarge:
		return "too_large"
	case ErrStorage:
		return "storage"
	}
	return "unknown"
}

// HTTPRequest is the JSON a guest passes to FuncHTTP.
type HTTPRequest struct {
	Method  string            `json:"method,omitempty"` // empty means GET
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// HTTPResponse is the JSON FuncHTTP stages: exactly these four keys, in this
// order, whatever produced it.
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"` // canonical names, one value each; {} if none
	Body    string            `json:"body"`
	URL     string            `json:"url"` // the final URL, after redirects
}

// EncodeHTTPResponse returns the JSON FuncHTTP stages for r: the one
// encoding of a response, used by the host and by sdktest alike. Headers
// are an object even when there are none; header names come out sorted;
// a body that is not valid UTF-8 has each bad byte replaced by U+FFFD.
func EncodeHTTPResponse(r HTTPResponse) ([]byte, error) {
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	return json.Marshal(r)
}
