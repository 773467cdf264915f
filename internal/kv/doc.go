// Package kv is the embedded, on-disk key-value store that sandboxed tools
// reach through the engine's KV host functions.
//
// A [Store] is one bbolt file. Every write is its own transaction, fsynced on
// commit, so a write that returned nil survives a crash of the process.
//
// Data is split into namespaces, opaque strings chosen by the engine (it
// passes "tool/subject"). Each namespace is a nested bbolt bucket, so its keys
// are invisible to every other namespace, including namespaces that share a
// prefix with it ("a/b" and "a/bc"): no byte sequence in a key or a namespace
// can reach across.
//
// Each namespace's usage is the sum of len(key)+len(value) over its keys. It
// is kept in the same transaction as the write that changes it, so it is
// always exact, and [Store.Set] can enforce a quota without races.
//
// On disk:
//
//	"data"  bucket: one nested bucket per namespace, holding its keys and values
//	"usage" bucket: namespace -> usage in bytes, 8-byte big-endian
package kv
