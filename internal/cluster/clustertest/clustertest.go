// Package clustertest starts real NATS servers with JetStream for tests,
// in process and on loopback only: one node, or a three-node cluster.
package clustertest

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/capstream/capstream/internal/cluster"
)

// Single starts one JetStream node without a listener, shut down when the
// test ends; connect to it with nats.InProcessServer.
func Single(t testing.TB) *server.Server {
	t.Helper()
	srv, err := cluster.Embed(cluster.EmbedConfig{Name: "n1", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// Trio starts a three-node JetStream cluster on loopback, shut down when
// the test ends. Each node's ClientURL is where to connect. The nodes do
// not advertise each other to clients: a client reaches only the URLs it
// is given (a test can put a proxy in between).
func Trio(t testing.TB) []*server.Server {
	t.Helper()
	ports := FreePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	servers := make([]*server.Server, 3)
	errs := make(chan error, 3)
	for i := range servers {
		go func() {
			srv, err := cluster.Embed(cluster.EmbedConfig{
				Name: fmt.Sprintf("n%d", i+1), StoreDir: filepath.Join(t.TempDir(), "js"),
				Listen: "127.0.0.1:0", ClusterName: "test", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes,
				NoAdvertise: true,
			})
			servers[i] = srv
			errs <- err
		}()
	}
	for range servers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
		for _, s := range servers {
			s.WaitForShutdown()
		}
	})
	return servers
}

// Connect returns a JetStream context on a connection closed when the test
// ends: to url, or in process with nats.InProcessServer and url "".
func Connect(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, append(opts, nats.Timeout(5*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// FreePorts returns n TCP ports free on 127.0.0.1 a moment ago.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
