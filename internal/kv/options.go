package kv

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults applied by Open to zero Options fields.
const (
	DefaultTimeout       = time.Second
	DefaultMaxKeyBytes   = 1 << 10 // 1 KiB
	DefaultMaxValueBytes = 1 << 20 // 1 MiB
)

// MaxNamespaceBytes is the longest namespace the store accepts.
const MaxNamespaceBytes = 4 << 10

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Timeout is how long Open waits for a file lock held by another open
	// Store before failing with ErrLocked. Zero means DefaultTimeout (1s);
	// negative is invalid.
	Timeout time.Duration

	// ReadOnly opens the store with a shared lock, so several processes may
	// read it at once. The file must already exist. Set and Delete fail
	// with ErrReadOnly.
	ReadOnly bool

	// MaxKeyBytes is the longest key accepted. Zero means
	// DefaultMaxKeyBytes (1 KiB); at most bbolt's limit of 32 KiB.
	MaxKeyBytes int

	// MaxValueBytes is the longest value accepted. Zero means
	// DefaultMaxValueBytes (1 MiB); at most bbolt's limit of 2 GiB.
	MaxValueBytes int
}

// withDefaults returns o with zero fields replaced by their defaults, or an
// error wrapping ErrInvalidOptions.
func (o Options) withDefaults() (Options, error) {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxKeyBytes == 0 {
		o.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if o.MaxValueBytes == 0 {
		o.MaxValueBytes = DefaultMaxValueBytes
	}
	switch {
	case o.Timeout < 0:
		return o, fmt.Errorf("%w: Timeout %v is negative", ErrInvalidOptions, o.Timeout)
	case o.MaxKeyBytes < 0 || o.MaxKeyBytes > bolt.MaxKeySize:
		return o, fmt.Errorf("%w: MaxKeyBytes %d is outside 1..%d", ErrInvalidOptions, o.MaxKeyBytes, bolt.MaxKeySize)
	case o.MaxValueBytes < 0 || int64(o.MaxValueBytes) > bolt.MaxValueSize:
		return o, fmt.Errorf("%w: MaxValueBytes %d is outside 1..%d", ErrInvalidOptions, o.MaxValueBytes, bolt.MaxValueSize)
	}
	return o, nil
}
