package cluster_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/capstream/capstream/internal/cluster/clustertest"
)

// single starts one in-process JetStream node and returns a connection
// factory to it.
func single(t testing.TB) func(t testing.TB) jetstream.JetStream {
	srv := clustertest.Single(t)
	return func(t testing.TB) jetstream.JetStream { return clustertest.Connect(t, "", nats.InProcessServer(srv)) }
}
