package cluster

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/capstream/capstream/stream"
	"github.com/capstream/capstream/stream/storetest"
)

// openCalls opens the call store of a replica named node on js, with its
// own registry of local logs.
func openCalls(t testing.TB, js jetstream.JetStream, node string, replicas int) *Calls {
	t.Helper()
	reg, err := stream.NewRegistry(stream.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCalls(t.Context(), js, reg, CallsConfig{Node: node, Replicas: replicas})
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
		servers := trio(t)
		return openCalls(t, connectURL(t, servers[0].ClientURL()), "a", 3), openCalls(t, connectURL(t, servers[2].ClientURL()), "b", 3)
	}})
}
