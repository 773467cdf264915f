package sdk

import (
	"encoding/json"
	"fmt"
)

// The KV namespace is chosen by the host, one per principal per tool; a
// tool cannot name another. Keys are UTF-8, 1 to 1024 bytes; values are at
// most 1 MiB. The tool's manifest must declare Needs.KV, with Write for
// KVSet and KVDelete.

// KVGet returns the value stored under key, or an error matching
// ErrNotFound when there is none.
func (c *Call) KVGet(key string) ([]byte, error) {
	return c.fetch(func() int32 { return c.h.KVGet(key) })
}

// KVSet stores value under key. It fails with ErrQuota when the namespace
// would exceed its quota, and ErrStorage when the host's store failed;
// either way nothing was written.
func (c *Call) KVSet(key string, value []byte) error {
	return c.do(func() int32 { return c.h.KVSet(key, value) })
}

// KVDelete deletes key; deleting an absent key is not an error.
func (c *Call) KVDelete(key string) error {
	return c.do(func() int32 { return c.h.KVDelete(key) })
}

// KVList returns the keys that start with prefix, sorted, at most 1000 of
// them; an empty prefix lists the whole namespace.
func (c *Call) KVList(prefix string) ([]string, error) {
	staged, err := c.fetch(func() int32 { return c.h.KVList(prefix) })
	if err != nil {
		return nil, err
	}
	var keys []string
	if err := json.Unmarshal(staged, &keys); err != nil {
		return nil, fmt.Errorf("sdk: decoding kv list: %w", err)
	}
	return keys, nil
}
