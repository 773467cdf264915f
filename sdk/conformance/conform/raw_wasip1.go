package main

// rawLog is the log import itself, for the badptr scenario: the SDK never
// passes a pointer outside memory.
//
//go:wasmimport capstream_v1 log
func rawLog(level int32, ptr, n uint32) int32
