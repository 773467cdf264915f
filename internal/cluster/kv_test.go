package cluster

import (
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/kv/kvtest"
)

func kvUsage(t *testing.T, s host.KV, ns string) int64 {
	n, err := s.(*KV).Usage(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKVConformance runs the host.KV suite on one node, through two
// connections.
func TestKVConformance(t *testing.T) {
	kvtest.Run(t, kvtest.Config{
		Open: func(t *testing.T) (host.KV, host.KV) {
			conn := single(t)
			a, err := OpenKV(t.Context(), conn(t), KVConfig{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := OpenKV(t.Context(), conn(t), KVConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		},
		Usage: kvUsage,
	})
}

// TestKVConformanceCluster runs it on a three-node cluster, an R3 bucket,
// each handle connected to a different node.
func TestKVConformanceCluster(t *testing.T) {
	kvtest.Run(t, kvtest.Config{
		Open: func(t *testing.T) (host.KV, host.KV) {
			servers := trio(t)
			a, err := OpenKV(t.Context(), connectURL(t, servers[0].ClientURL()), KVConfig{Replicas: 3})
			if err != nil {
				t.Fatal(err)
			}
			b, err := OpenKV(t.Context(), connectURL(t, servers[2].ClientURL()), KVConfig{Replicas: 3})
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		},
		Usage: kvUsage,
	})
}
