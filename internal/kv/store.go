package kv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

var (
	dataBucket  = []byte("data")
	usageBucket = []byte("usage")
)

// Store is an open key-value store file. A Store is safe for concurrent use
// by many goroutines. It must not be used after Close; its methods then
// return ErrClosed.
//
// Each operation takes a context for the sake of stores that wait on a
// network (host.KV); this one checks it before it starts and is not
// interrupted afterwards, since a bbolt operation is local and short.
type Store struct {
	db   *bolt.DB
	opts Options
	path string
}

// Open opens the store at path, creating the file and its parent directories
// if needed (unless opts.ReadOnly). A file held by another open Store beyond
// opts.Timeout gives ErrLocked; a file that is not a valid store gives
// ErrCorrupt. The caller must Close the store.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, nil)
}

// open is Open with bbolt's file opener replaced, for tests that make the
// file system refuse writes. A nil openFile means os.OpenFile.
func open(path string, opts Options, openFile func(string, int, os.FileMode) (*os.File, error)) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("opening kv store %q: %w", path, err)
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("opening kv store %q: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  opts.Timeout,
		ReadOnly: opts.ReadOnly,
		OpenFile: openFile,
	})
	if err != nil {
		switch {
		case errors.Is(err, bolt.ErrTimeout):
			err = fmt.Errorf("%w: %w", ErrLocked, err)
		case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch),
			strings.HasPrefix(err.Error(), "file size too small"): // bbolt has no sentinel for a truncated file.
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil, fmt.Errorf("opening kv store %q: %w", path, err)
	}
	if !opts.ReadOnly && !initialized(db) {
		err = db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(dataBucket); err != nil {
				return err
			}
			_, err := tx.CreateBucketIfNotExists(usageBucket)
			return err
		})
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("opening kv store %q: initializing: %w", path, err)
		}
	}
	return &Store{db: db, opts: opts, path: path}, nil
}

// initialized reports whether db already holds the store's buckets, so that
// opening an existing store writes nothing.
func initialized(db *bolt.DB) bool {
	ok := false
	_ = db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(dataBucket) != nil && tx.Bucket(usageBucket) != nil
		return nil
	})
	return ok
}

// Close releases the file and its lock, after waiting for the operations in
// progress. Closing a closed store does nothing.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing kv store %q: %w", s.db.Path(), err)
	}
	return nil
}

// Path returns the file the store was opened at, as given to Open. Errors
// of the file system quote it; a caller that shows them to someone who
// should not learn the host's layout can take it out.
func (s *Store) Path() string { return s.path }

// Get returns a copy of the value of key in namespace ns, or ErrNotFound.
func (s *Store) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.validate(ns, key); err != nil {
		return nil, err
	}
	var value []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := namespace(tx, ns)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		value = bytes.Clone(v) // v lives only as long as the transaction.
		return nil
	})
	if err == ErrNotFound {
		return nil, err
	}
	if err != nil {
		return nil, wrap("getting key", ns, err)
	}
	return value, nil
}

// Set stores value under key in namespace ns. If quota > 0 and the write
// would take the namespace's usage (the sum of len(key)+len(value) over its
// keys) above quota, Set returns ErrQuotaExceeded and changes nothing; an
// overwrite counts only the difference, and a write that does not grow the
// namespace is always allowed, so a tool above a lowered quota can shrink.
// A quota <= 0 means no limit. Set returns once the write is on disk.
func (s *Store) Set(ctx context.Context, ns, key string, value []byte, quota int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.validate(ns, key); err != nil {
		return err
	}
	if len(value) > s.opts.MaxValueBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(value), s.opts.MaxValueBytes)
	}
	if s.opts.ReadOnly {
		return wrap("setting key", ns, ErrReadOnly)
	}
	if value == nil {
		value = []byte{} // bbolt reports a nil value as a missing key within a transaction.
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(dataBucket).CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		k := []byte(key)
		delta := int64(len(k) + len(value))
		if old := b.Get(k); old != nil {
			delta -= int64(len(k) + len(old))
		}
		usage := readUsage(tx, ns) + delta
		if quota > 0 && delta > 0 && usage > quota {
			return fmt.Errorf("%w: namespace %q would use %d of %d bytes", ErrQuotaExceeded, ns, usage, quota)
		}
		if err := b.Put(k, value); err != nil {
			return err
		}
		return writeUsage(tx, ns, usage)
	})
	if errors.Is(err, ErrQuotaExceeded) {
		return err
	}
	if err != nil {
		return wrap("setting key", ns, err)
	}
	return nil
}

// Delete removes key from namespace ns and reports whether it was there.
// Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, ns, key string) (existed bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := s.validate(ns, key); err != nil {
		return false, err
	}
	if s.opts.ReadOnly {
		return false, wrap("deleting key", ns, ErrReadOnly)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := namespace(tx, ns)
		if b == nil {
			return nil
		}
		k := []byte(key)
		old := b.Get(k)
		if old == nil {
			return nil
		}
		existed = true
		usage := readUsage(tx, ns) - int64(len(k)+len(old))
		if err := b.Delete(k); err != nil {
			return err
		}
		if usage == 0 { // Every key costs at least one byte: the namespace is empty.
			if err := tx.Bucket(dataBucket).DeleteBucket([]byte(ns)); err != nil {
				return err
			}
			return tx.Bucket(usageBucket).Delete([]byte(ns))
		}
		return writeUsage(tx, ns, usage)
	})
	if err != nil {
		return false, wrap("deleting key", ns, err)
	}
	return existed, nil
}

// List returns the keys of namespace ns that start with prefix, in
// ascending byte order, at most limit of them (limit <= 0: all). The result
// is empty, never nil, when nothing matches.
func (s *Store) List(ctx context.Context, ns, prefix string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckNamespace(ns); err != nil {
		return nil, err
	}
	keys := []string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := namespace(tx, ns)
		if b == nil {
			return nil
		}
		p := []byte(prefix)
		c := b.Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			if limit > 0 && len(keys) == limit {
				break
			}
			keys = append(keys, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("listing keys", ns, err)
	}
	return keys, nil
}

// Usage returns the bytes namespace ns uses: the sum of len(key)+len(value)
// over its keys, the figure Set checks against the quota.
func (s *Store) Usage(ns string) (int64, error) {
	if err := CheckNamespace(ns); err != nil {
		return 0, err
	}
	var usage int64
	err := s.db.View(func(tx *bolt.Tx) error {
		usage = readUsage(tx, ns)
		return nil
	})
	if err != nil {
		return 0, wrap("reading usage", ns, err)
	}
	return usage, nil
}

// validate checks a namespace and a key.
func (s *Store) validate(ns, key string) error {
	if err := CheckNamespace(ns); err != nil {
		return err
	}
	return CheckKey(key, s.opts.MaxKeyBytes)
}

// CheckKey checks a key as every store does: not empty, at most maxBytes,
// valid UTF-8. It returns an error wrapping ErrInvalidKey.
func CheckKey(key string, maxBytes int) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > maxBytes:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidKey, len(key), maxBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	return nil
}

// CheckNamespace checks a namespace as every store does: not empty, at most
// MaxNamespaceBytes. It returns an error wrapping ErrInvalidNamespace.
func CheckNamespace(ns string) error {
	switch {
	case ns == "":
		return fmt.Errorf("%w: empty", ErrInvalidNamespace)
	case len(ns) > MaxNamespaceBytes:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidNamespace, len(ns), MaxNamespaceBytes)
	}
	return nil
}

// namespace returns the bucket of ns, or nil if it holds no keys.
func namespace(tx *bolt.Tx, ns string) *bolt.Bucket {
	data := tx.Bucket(dataBucket)
	if data == nil { // A read-only store that was never written.
		return nil
	}
	return data.Bucket([]byte(ns))
}

func readUsage(tx *bolt.Tx, ns string) int64 {
	b := tx.Bucket(usageBucket)
	if b == nil {
		return 0
	}
	v := b.Get([]byte(ns))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func writeUsage(tx *bolt.Tx, ns string, usage int64) error {
	return tx.Bucket(usageBucket).Put([]byte(ns), binary.BigEndian.AppendUint64(nil, uint64(usage)))
}

// wrap adds the operation and namespace to err, and our sentinel to bbolt's
// errors for a closed or read-only database.
func wrap(op, ns string, err error) error {
	switch {
	case errors.Is(err, bolt.ErrDatabaseNotOpen):
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.Is(err, bolt.ErrDatabaseReadOnly):
		err = fmt.Errorf("%w: %w", ErrReadOnly, err)
	}
	return fmt.Errorf("%s in namespace %q: %w", op, ns, err)
}
