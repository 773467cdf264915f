package kv

import "errors"

// Errors returned by the store. Callers test for them with [errors.Is]; the
// returned errors may wrap them with more detail.
var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("kv: key not found")

	// ErrInvalidKey is returned for an empty key, a key longer than
	// Options.MaxKeyBytes, or a key that is not valid UTF-8.
	ErrInvalidKey = errors.New("kv: invalid key")

	// ErrInvalidNamespace is returned for an empty namespace or one longer
	// than MaxNamespaceBytes.
	ErrInvalidNamespace = errors.New("kv: invalid namespace")

	// ErrValueTooLarge is returned by Set for a value longer than
	// Options.MaxValueBytes.
	ErrValueTooLarge = errors.New("kv: value too large")

	// ErrQuotaExceeded is returned by Set when the write would take the
	// namespace's usage above its quota. The store is left unchanged.
	ErrQuotaExceeded = errors.New("kv: quota exceeded")

	// ErrReadOnly is returned by Set and Delete on a store opened with
	// Options.ReadOnly.
	ErrReadOnly = errors.New("kv: store is read-only")

	// ErrLocked is returned by Open when another open Store, in this
	// process or another, holds the file's lock for longer than
	// Options.Timeout.
	ErrLocked = errors.New("kv: store is locked")

	// ErrCorrupt is returned by Open when the file is not a valid store.
	ErrCorrupt = errors.New("kv: store file is corrupt")

	// ErrClosed is returned by every method but Close called after Close.
	ErrClosed = errors.New("kv: store is closed")

	// ErrInvalidOptions is returned by Open for Options out of range.
	ErrInvalidOptions = errors.New("kv: invalid options")
)
