package cluster_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/internal/cluster/clustertest"
	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/internal/httpapi/clustersuite"
	"github.com/capstream/capstream/stream"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeServer records what a node asks of its server.
type fakeServer struct{ fenced, unfenced atomic.Int32 }

func (f *fakeServer) CancelLocal(id, subject, reason string) bool { return false }
func (f *fakeServer) Fence()                                      { f.fenced.Add(1) }
func (f *fakeServer) Unfence()                                    { f.unfenced.Add(1) }

// replica opens a replica's backend on the NATS server at url, with a 1s
// lease, and its call store.
func replica(t *testing.T, url, id string) (*cluster.Backend, *cluster.Calls) {
	t.Helper()
	b, err := cluster.Open(t.Context(), cluster.Config{URLs: url, Node: cluster.NodeConfig{ID: id, LeaseTTL: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(t.Context()) })
	reg, _ := stream.NewRegistry(stream.RegistryConfig{})
	s, err := b.CallStore(reg)
	if err != nil {
		t.Fatal(err)
	}
	return b, s.(*cluster.Calls)
}

// TestNodeLost: a replica that stops renewing its lease fences itself
// first; then a survivor ends its running call with node_lost within the
// lease plus a margin, and frees its place under the caps.
func TestNodeLost(t *testing.T) {
	srv, err := cluster.Embed(cluster.EmbedConfig{Name: "n1", StoreDir: filepath.Join(t.TempDir(), "js"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	a, callsA := replica(t, srv.ClientURL(), "a")
	b, callsB := replica(t, srv.ClientURL(), "b")
	fake := &fakeServer{}
	a.Node.Attach(fake)

	const id = "c_lost"
	if ok, _, err := a.Node.Admit(t.Context(), "alice", id, "slow", 1); err != nil || !ok {
		t.Fatalf("Admit = %v, %v", ok, err)
	}
	log := stream.NewLog(id, stream.LogConfig{})
	app, err := callsA.Create(t.Context(), stream.Meta{Call: id, Owner: "alice", Tool: "slow"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Append("call.started", time.Now(), json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}

	// Replica a loses NATS: it renews no more.
	lost := time.Now()
	a.Conn.Close()
	deadline := lost.Add(time.Second + 5*time.Second)
	var fencedAt time.Time
	for {
		if fencedAt.IsZero() && fake.fenced.Load() > 0 {
			fencedAt = time.Now()
		}
		src, err := callsB.Open(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if _, term := src.Status(); term != nil {
			var d struct{ Error struct{ Code string } }
			if json.Unmarshal(term.Data, &d); term.Type != stream.TypeFailed || d.Error.Code != "node_lost" {
				t.Fatalf("terminal event %s %s, want call.failed node_lost", term.Type, term.Data)
			}
			t.Logf("figure: node_lost visible %v after the replica stopped renewing (lease 1s); it fenced itself after %v",
				time.Since(lost).Round(time.Millisecond), fencedAt.Sub(lost).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no terminal event %v after the replica was lost", time.Since(lost))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fencedAt.IsZero() || fencedAt.After(time.Now()) {
		t.Fatalf("the lost replica did not fence itself before its call was ended")
	}
	// Its place is free: alice may start one call (the cap is 1).
	waitAdmit := time.Now().Add(5 * time.Second)
	for {
		ok, _, err := b.Node.Admit(t.Context(), "alice", "c_next", "echo", 1)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(waitAdmit) {
			t.Fatal("the lost call's place under the cap was not freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeConformance runs httpapi.Cluster's suite against the JetStream
// implementation: two replicas on one node, and two on a three-node
// cluster with R3 buckets, each replica connected to a different node.
func TestNodeConformance(t *testing.T) {
	start := func(t *testing.T, js jetstream.JetStream, id string, replicas int, l *clustersuite.Local) httpapi.Cluster {
		n, err := cluster.StartNode(t.Context(), js, cluster.NodeConfig{ID: id, Replicas: replicas})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close(context.Background()) })
		n.Attach(l)
		return n
	}
	t.Run("Single", func(t *testing.T) {
		clustersuite.Run(t, clustersuite.Config{Replicas: 2, Open: func(t *testing.T, locals []*clustersuite.Local) []httpapi.Cluster {
			conn := single(t)
			return []httpapi.Cluster{start(t, conn(t), "a", 1, locals[0]), start(t, conn(t), "b", 1, locals[1])}
		}})
	})
	t.Run("Trio", func(t *testing.T) {
		clustersuite.Run(t, clustersuite.Config{Replicas: 2, Open: func(t *testing.T, locals []*clustersuite.Local) []httpapi.Cluster {
			servers := clustertest.Trio(t)
			return []httpapi.Cluster{
				start(t, clustertest.Connect(t, servers[0].ClientURL()), "a", 3, locals[0]),
				start(t, clustertest.Connect(t, servers[2].ClientURL()), "b", 3, locals[1]),
			}
		}})
	})
}

// TestReleaseWrittenLater: a place given back is written with the
// subject's next admission on the replica, in the same write; with none,
// within two seconds.
func TestReleaseWrittenLater(t *testing.T) {
	conn := single(t)
	js := conn(t)
	n, err := cluster.StartNode(t.Context(), js, cluster.NodeConfig{ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	caps, err := js.KeyValue(t.Context(), cluster.CapsBucket)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("alice"))
	key := hex.EncodeToString(sum[:])
	stored := func() (map[string]any, uint64) {
		t.Helper()
		e, err := caps.Get(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Calls map[string]any }
		json.Unmarshal(e.Value(), &v)
		return v.Calls, e.Revision()
	}
	admit := func(id string) {
		t.Helper()
		if ok, _, err := n.Admit(t.Context(), "alice", id, "echo", 4); err != nil || !ok {
			t.Fatalf("Admit(%s) = %v, %v", id, ok, err)
		}
	}

	admit("c_1")
	_, rev := stored()
	n.Release("alice", "c_1")
	admit("c_2")
	calls, next := stored()
	if _, ok := calls["c_1"]; ok || calls["c_2"] == nil || len(calls) != 1 || next != rev+1 {
		t.Fatalf("after a release and an admission: calls %v at revision %d (was %d); want c_2 alone, one write later", calls, next, rev)
	}

	n.Release("alice", "c_2")
	released := time.Now()
	for {
		if calls, _ := stored(); len(calls) == 0 {
			t.Logf("written back %v after the release", time.Since(released).Round(time.Millisecond))
			break
		}
		if time.Since(released) > 3*time.Second {
			t.Fatal("a release with no admission after it was not written within 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
