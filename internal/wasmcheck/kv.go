package wasmcheck

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/kv"
)

// memKV is a host.KV in memory, for sample calls: it keeps the contract of
// capstream's stores (internal/kv/kvtest runs against it), with their
// default limits, and forgets everything when the check ends.
type memKV struct {
	mu    sync.Mutex
	data  map[string]map[string][]byte // namespace -> key -> value
	usage map[string]int64             // namespace -> bytes of keys and values
}

func newMemKV() *memKV {
	return &memKV{data: map[string]map[string][]byte{}, usage: map[string]int64{}}
}

func checkKey(ns, key string) error {
	if err := kv.CheckNamespace(ns); err != nil {
		return err
	}
	return kv.CheckKey(key, kv.DefaultMaxKeyBytes)
}

// Get implements host.KV.
func (m *memKV) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(ns, key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[ns][key]
	if !ok {
		return nil, host.ErrKVNotFound
	}
	return slices.Clone(v), nil
}

// Set implements host.KV.
func (m *memKV) Set(ctx context.Context, ns, key string, value []byte, quota int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(ns, key); err != nil {
		return err
	}
	if len(value) > kv.DefaultMaxValueBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", host.ErrKVValueTooLarge, len(value), kv.DefaultMaxValueBytes)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delta := int64(len(key) + len(value))
	if old, ok := m.data[ns][key]; ok {
		delta -= int64(len(key) + len(old))
	}
	usage := m.usage[ns] + delta
	if quota > 0 && delta > 0 && usage > quota {
		return fmt.Errorf("%w: namespace %q would use %d of %d bytes", host.ErrKVQuotaExceeded, ns, usage, quota)
	}
	if m.data[ns] == nil {
		m.data[ns] = map[string][]byte{}
	}
	m.data[ns][key] = append([]byte{}, value...)
	m.usage[ns] = usage
	return nil
}

// Delete implements host.KV.
func (m *memKV) Delete(ctx context.Context, ns, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := checkKey(ns, key); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.data[ns][key]
	if ok {
		delete(m.data[ns], key)
		m.usage[ns] -= int64(len(key) + len(old))
	}
	return ok, nil
}

// List implements host.KV.
func (m *memKV) List(ctx context.Context, ns, prefix string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := kv.CheckNamespace(ns); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := []string{}
	for k := range m.data[ns] {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	return keys, nil
}

var _ host.KV = (*memKV)(nil)
