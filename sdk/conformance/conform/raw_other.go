//go:build !wasip1

package main

// rawLog exists only in the wasm build; natively the tool is only compiled.
func rawLog(level int32, ptr, n uint32) int32 { panic("conform runs only as a wasm module") }
