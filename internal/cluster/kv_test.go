package cluster_test

import (
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/internal/cluster/clustertest"
	"github.com/capstream/capstream/internal/kv/kvtest"
)

func kvUsage(t *testing.T, s host.KV, ns string) int64 {
	n, err := s.(*cluster.KV).Usage(t.Context(), ns)
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
			a, err := cluster.OpenKV(t.Context(), conn(t), cluster.KVConfig{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := cluster.OpenKV(t.Context(), conn(t), cluster.KVConfig{})
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
			servers := clustertest.Trio(t)
			a, err := cluster.OpenKV(t.Context(), clustertest.Connect(t, servers[0].ClientURL()), cluster.KVConfig{Replicas: 3})
			if err != nil {
				t.Fatal(err)
			}
			b, err := cluster.OpenKV(t.Context(), clustertest.Connect(t, servers[2].ClientURL()), cluster.KVConfig{Replicas: 3})
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		},
		Usage: kvUsage,
	})
}
