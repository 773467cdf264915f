package cluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/internal/cluster/clustertest"
	"github.com/capstream/capstream/stream"
	"github.com/capstream/capstream/stream/storetest"
)

// openCalls opens the call store of a replica named node on js, with its
// own registry of local logs.
func openCalls(t testing.TB, js jetstream.JetStream, node string, replicas int) *cluster.Calls {
	t.Helper()
	reg, err := stream.NewRegistry(stream.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.OpenCalls(t.Context(), js, reg, cluster.CallsConfig{Node: node, Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCallsConformance runs the stream.Store suite on one node: the calls
// run on one replica's store and are read through another's.
func TestCallsConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{Open: func(t *testing.T) (stream.Store, stream.Store) {
		conn := single(t)
		return openCalls(t, conn(t), "a", 1), openCalls(t, conn(t), "b", 1)
	}})
}

// TestCallsConformanceCluster runs it on a three-node cluster, an R3
// stream, the two replicas connected to different nodes.
func TestCallsConformanceCluster(t *testing.T) {
	storetest.Run(t, storetest.Config{Open: func(t *testing.T) (stream.Store, stream.Store) {
		servers := clustertest.Trio(t)
		return openCalls(t, clustertest.Connect(t, servers[0].ClientURL()), "a", 3), openCalls(t, clustertest.Connect(t, servers[2].ClientURL()), "b", 3)
	}})
}

// TestCallsRetention: a call's events go with the stream's max age, after
// which no replica finds it.
func TestCallsRetention(t *testing.T) {
	conn := single(t)
	reg, _ := stream.NewRegistry(stream.RegistryConfig{})
	a, err := cluster.OpenCalls(t.Context(), conn(t), reg, cluster.CallsConfig{Node: "a", MaxAge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reg2, _ := stream.NewRegistry(stream.RegistryConfig{})
	b, err := cluster.OpenCalls(t.Context(), conn(t), reg2, cluster.CallsConfig{Node: "b", MaxAge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	app, _, m := started(t, a, "c_retained")
	if _, err := app.Append(stream.TypeCompleted, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(t.Context(), m.Call); err != nil {
		t.Fatalf("Open right after the call: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.Open(t.Context(), m.Call)
		if errors.Is(err, stream.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Open 10s after a max age of 1s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
