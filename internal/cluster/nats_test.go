package cluster

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// single starts one in-process JetStream node for the test, without a
// listener, and returns a connection factory to it.
func single(t testing.TB) func(t testing.TB) jetstream.JetStream {
	t.Helper()
	srv, err := Embed(EmbedConfig{Name: "n1", StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return func(t testing.TB) jetstream.JetStream { return connect(t, nats.InProcessServer(srv)) }
}

// trio starts a three-node JetStream cluster on loopback and returns its
// servers.
func trio(t testing.TB) []*server.Server {
	t.Helper()
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	servers := make([]*server.Server, 3)
	errs := make(chan error, 3)
	for i := range servers {
		go func() {
			srv, err := Embed(EmbedConfig{
				Name: fmt.Sprintf("n%d", i+1), StoreDir: filepath.Join(t.TempDir(), "js"),
				Listen: "127.0.0.1:0", ClusterName: "test", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes,
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

func connect(t testing.TB, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	return connectURL(t, "", opts...)
}

func connectURL(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
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

func freePorts(t testing.TB, n int) []int {
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
