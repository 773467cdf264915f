// Package hostabi is the seam between package sdk and the hosts it runs
// against: the capstream_v1 host functions as a Go interface. On wasip1 the
// SDK implements it with the module's imports; package sdktest implements it
// in memory so tools can be tested natively.
//
// Tool authors never see it: it is internal so that the SDK's public surface
// stays the typed API of package sdk.
package hostabi

// Host is the capstream_v1 import module, one method per host function of
// sdk/ABI.md with the same meaning and return values: a length or count when
// non-negative, an error code (abi.Err*) when negative, with a message staged
// for Read. Arguments are only read, never kept, so callers may pass memory
// they reuse afterwards.
type Host interface {
	Input() int32
	Read(dst []byte) int32
	SetOutput(json []byte) int32
	SetError(msg string) int32
	Log(level int32, msg string) int32
	Progress(progress, total float64, msg string) int32
	Output(chunk string) int32
	HTTP(req []byte) int32
	KVGet(key string) int32
	KVSet(key string, value []byte) int32
	KVDelete(key string) int32
	KVList(prefix string) int32
	Capability() int32
}

// Invoke calls one export of a tool (abi.ExportRun or abi.ExportManifest)
// against h and returns what the export returns. tool is an sdk.Tool value,
// or nil for the tool registered with sdk.Register.
//
// Package sdk sets Invoke while it is initialized, before any package that
// imports it runs; nothing else assigns it.
var Invoke func(h Host, tool any, export string) int32
