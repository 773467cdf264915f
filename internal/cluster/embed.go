// Package cluster runs capstream on several replicas over NATS JetStream:
// the call-event log, the key-value store, node leases, cluster-wide caps
// and cancel fan-out, each an implementation of an interface owned by the
// package that uses it (stream.Store, host.KV). docs/cluster.md states the
// semantics; the single-node default (memory and bbolt) does not use this
// package.
//
// Nothing here trusts a message because it came through the bus: subjects
// are built only from capstream-made ids and hex encodings of names, and a
// reader checks the owner recorded with a call's events itself.
package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// MinMaxPayload is the smallest max_payload capstream works with: a 1 MiB
// output or KV value plus its envelope and key (NATS's default is 1 MiB,
// too small for either). Embedded servers get it; an external cluster with
// less is refused at start with a message that says what to set.
const MinMaxPayload = 4 << 20

// EmbedConfig configures a NATS server run inside capstream: one node of a
// --cluster-embed cluster, or the single in-process node tests use.
type EmbedConfig struct {
	// Name is the server's name, unique in its cluster.
	Name string
	// StoreDir holds JetStream's files.
	StoreDir string
	// Listen is the client address, host:port (port 0: any free one).
	// Empty: clients connect in process only (a node with routes still
	// listens on a loopback port: nats-server routes only then).
	Listen string
	// ClusterName and ClusterListen make the server a cluster node that
	// accepts routes on ClusterListen (host:port); Routes are the routes
	// to its peers (nats://host:port). Empty: a single node.
	ClusterName   string
	ClusterListen string
	Routes        []string
	// NoAdvertise keeps the node from telling clients of its peers'
	// addresses, so that a client reaches only the servers it was given.
	NoAdvertise bool
	// Logger receives the server's logs, named "nats". Nil: none.
	Logger *zap.Logger
}

// Embed starts a NATS server with JetStream and waits until it accepts
// connections. Shut it down with Shutdown and WaitForShutdown.
func Embed(cfg EmbedConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("cluster: an embedded NATS server needs a store directory")
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: MinMaxPayload,
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
		DontListen: cfg.Listen == "",
	}
	listen := cfg.Listen
	if listen == "" && cfg.ClusterListen != "" {
		// nats-server accepts no routes without its client listener: one
		// on loopback, at any port, reachable from this machine only.
		listen = "127.0.0.1:0"
		opts.DontListen = false
	}
	if listen != "" {
		host, port, err := splitHostPort("listen", listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.ClusterListen != "" {
		host, port, err := splitHostPort("cluster listen", cfg.ClusterListen)
		if err != nil {
			return nil, err
		}
		name := cfg.ClusterName
		if name == "" {
			name = "capstream"
		}
		opts.Cluster = server.ClusterOpts{Name: name, Host: host, Port: port, NoAdvertise: cfg.NoAdvertise}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("cluster: route %q is not a URL such as nats://10.0.0.2:6222", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: starting the embedded NATS server: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(natsLogger{cfg.Logger.Named("nats").Sugar()}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("cluster: the embedded NATS server did not become ready within 10s")
	}
	return srv, nil
}

func splitHostPort(what, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: %s address %q: %w", what, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("cluster: %s address %q: bad port", what, addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default port
	}
	return host, port, nil
}

// natsLogger hands nats-server's logs to zap. Its notices are Info.
type natsLogger struct{ l *zap.SugaredLogger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Infof(format, v...) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warnf(format, v...) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Errorf(format, v...) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Errorf(format, v...) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Debugf(format, v...) }
func (n natsLogger) Tracef(format string, v ...any)  {}
