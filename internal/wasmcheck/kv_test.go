package wasmcheck

import (
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/kv/kvtest"
)

// TestMemKV runs the conformance suite of capstream's stores against the
// sample calls' store.
func TestMemKV(t *testing.T) {
	kvtest.Run(t, kvtest.Config{
		Open: func(*testing.T) (host.KV, host.KV) {
			s := newMemKV()
			return s, s
		},
		Usage: func(_ *testing.T, s host.KV, ns string) int64 {
			m := s.(*memKV)
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.usage[ns]
		},
	})
}
