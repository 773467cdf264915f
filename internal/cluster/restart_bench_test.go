package cluster_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/stream"
)

// BenchmarkRestartWithHistory is a single embedded node (--cluster-embed)
// starting on a store that retains 10,000 finished calls of three events:
// from starting the NATS server to a replica ready to serve (streams and
// buckets opened, lease taken, call store open): ns/op is one start. It
// also reports the bytes stored per call (200-byte payloads).
func BenchmarkRestartWithHistory(b *testing.B) {
	const calls = 10000
	dir := filepath.Join(b.TempDir(), "nats")
	open := func() *cluster.Backend {
		be, err := cluster.Open(b.Context(), cluster.Config{
			Embed: &cluster.EmbedConfig{Name: "n1", StoreDir: dir},
			Node:  cluster.NodeConfig{ID: fmt.Sprintf("r%d", time.Now().UnixNano())},
		})
		if err != nil {
			b.Fatal(err)
		}
		reg, _ := stream.NewRegistry(stream.RegistryConfig{})
		if _, err := be.CallStore(reg); err != nil {
			b.Fatal(err)
		}
		return be
	}
	be := open()
	reg, _ := stream.NewRegistry(stream.RegistryConfig{RetainCalls: 1, RetainCallsPerOwner: 1})
	s, err := be.CallStore(reg)
	if err != nil {
		b.Fatal(err)
	}
	data := json.RawMessage(`{"message":"` + fmt.Sprintf("%0200d", 0) + `"}`)
	for i := range calls {
		id := fmt.Sprintf("c_hist%05d", i)
		app, err := s.Create(b.Context(), stream.Meta{Call: id, Owner: "alice", Tool: "echo"}, stream.NewLog(id, stream.LogConfig{}))
		if err != nil {
			b.Fatal(err)
		}
		for _, typ := range []string{"call.started", "host.log", stream.TypeCompleted} {
			if _, err := app.Append(typ, time.Now(), data); err != nil {
				b.Fatal(err)
			}
		}
	}
	info, err := be.JS.Stream(b.Context(), cluster.CallsStream)
	if err != nil {
		b.Fatal(err)
	}
	stored := info.CachedInfo().State.Bytes
	be.Close(b.Context())
	b.ResetTimer()
	for range b.N {
		be := open()
		b.StopTimer()
		be.Close(b.Context())
		b.StartTimer()
	}
	b.ReportMetric(float64(stored)/calls, "stored-B/call")
}
