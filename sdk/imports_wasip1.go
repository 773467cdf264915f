//go:build wasip1

package sdk

import "unsafe"

// The imports of module capstream_v1 (abi.Module), with the signatures of
// sdk/ABI.md. A directive cannot name a constant, so TestImportNames checks
// these names against package abi. A Go string parameter is passed as two
// i32 (pointer, length); a []byte as its data pointer and length.

//go:wasmimport capstream_v1 input
func hostInput() int32

//go:wasmimport capstream_v1 read
func hostRead(ptr *byte, n uint32) int32

//go:wasmimport capstream_v1 set_output
func hostSetOutput(ptr *byte, n uint32) int32

//go:wasmimport capstream_v1 set_error
func hostSetError(msg string) int32

//go:wasmimport capstream_v1 log
func hostLog(level int32, msg string) int32

//go:wasmimport capstream_v1 progress
func hostProgress(progress, total float64, msg string) int32

//go:wasmimport capstream_v1 output
func hostOutput(chunk string) int32

//go:wasmimport capstream_v1 http
func hostHTTP(ptr *byte, n uint32) int32

//go:wasmimport capstream_v1 kv_get
func hostKVGet(key string) int32

//go:wasmimport capstream_v1 kv_set
func hostKVSet(key string, ptr *byte, n uint32) int32

//go:wasmimport capstream_v1 kv_delete
func hostKVDelete(key string) int32

//go:wasmimport capstream_v1 kv_list
func hostKVList(prefix string) int32

//go:wasmimport capstream_v1 capability
func hostCapability() int32

// wasmHost is the real host, reached through the module's imports.
type wasmHost struct{}

// data returns the pointer and length the ABI takes for b: (0, 0) when b is
// empty.
func data(b []byte) (*byte, uint32) {
	if len(b) == 0 {
		return nil, 0
	}
	return unsafe.SliceData(b), uint32(len(b))
}

// Input calls the input import.
func (wasmHost) Input() int32 { return hostInput() }

// Read calls the read import.
func (wasmHost) Read(dst []byte) int32 { return hostRead(data(dst)) }

// SetOutput calls the set_output import.
func (wasmHost) SetOutput(json []byte) int32 { return hostSetOutput(data(json)) }

// SetError calls the set_error import.
func (wasmHost) SetError(msg string) int32 { return hostSetError(msg) }

// Log calls the log import.
func (wasmHost) Log(level int32, msg string) int32 { return hostLog(level, msg) }

// Progress calls the progress import.
func (wasmHost) Progress(progress, total float64, msg string) int32 {
	return hostProgress(progress, total, msg)
}

// Output calls the output import.
func (wasmHost) Output(chunk string) int32 { return hostOutput(chunk) }

// HTTP calls the http import.
func (wasmHost) HTTP(req []byte) int32 { return hostHTTP(data(req)) }

// KVGet calls the kv_get import.
func (wasmHost) KVGet(key string) int32 { return hostKVGet(key) }

// KVSet calls the kv_set import.
func (wasmHost) KVSet(key string, value []byte) int32 {
	p, n := data(value)
	return hostKVSet(key, p, n)
}

// KVDelete calls the kv_delete import.
func (wasmHost) KVDelete(key string) int32 { return hostKVDelete(key) }

// KVList calls the kv_list import.
func (wasmHost) KVList(prefix string) int32 { return hostKVList(prefix) }

// Capability calls the capability import.
func (wasmHost) Capability() int32 { return hostCapability() }
