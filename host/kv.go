package host

import (
	"context"

	"github.com/capstream/capstream/internal/kv"
)

// KV is the key-value store behind the kv_* host functions, as the engine
// sees it. Each call works in its principal's namespace (the capability's
// Namespace); keys are valid UTF-8 and never empty.
//
// capstream has two: a bbolt file (internal/kv, the single-node default)
// and a JetStream bucket shared by the replicas of a cluster
// (internal/cluster). Both pass one conformance suite (internal/kv/kvtest),
// which states the contract in full: read-your-writes, keys listed in byte
// order, and a quota that concurrent writers never exceed.
//
// An implementation reports a missing key, a refused write and a bad
// argument with the errors below, which the engine turns into the ABI's
// codes (not_found, quota, too_large, invalid); any other error is a
// storage failure. ctx is the call's: a store that waits on a network must
// give up when it is done.
type KV interface {
	// Get returns the value of key, or an error wrapping ErrKVNotFound.
	Get(ctx context.Context, ns, key string) ([]byte, error)
	// Set stores value under key. If quota > 0 and the write would take the
	// namespace's usage (the sum of len(key)+len(value) over its keys)
	// above it, Set fails with ErrKVQuotaExceeded and changes nothing; a
	// write that does not grow the namespace is always allowed.
	Set(ctx context.Context, ns, key string, value []byte, quota int64) error
	// Delete removes key and reports whether it was there.
	Delete(ctx context.Context, ns, key string) (existed bool, err error)
	// List returns the keys that start with prefix, in ascending byte
	// order, at most limit of them (limit <= 0: all); empty, not nil, when
	// none match.
	List(ctx context.Context, ns, prefix string, limit int) ([]string, error)
}

// The errors a KV reports, which the engine tells apart.
var (
	ErrKVNotFound      = kv.ErrNotFound
	ErrKVQuotaExceeded = kv.ErrQuotaExceeded
	ErrKVInvalidKey    = kv.ErrInvalidKey
	ErrKVValueTooLarge = kv.ErrValueTooLarge
)

// pather is a KV on a file. A storage error that quotes the file's path
// reaches the guest with the base name only.
type pather interface{ Path() string }
