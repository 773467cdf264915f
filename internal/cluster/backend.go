package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/capstream/capstream/stream"
)

// Config configures a replica's cluster backend.
type Config struct {
	// URLs are the NATS servers to connect to, comma-separated
	// (nats://h1:4222,nats://h2:4222). Empty: the embedded server, in
	// process.
	URLs string
	// Embed, if set, runs a NATS server in this process (--cluster-embed,
	// and single-node tests).
	Embed *EmbedConfig
	// Options are the NATS connection's options: credentials, TLS.
	Options []nats.Option
	// Replicas is the replication factor of the streams and buckets.
	// Zero: 1.
	Replicas int
	// Node configures the replica's lease (its ID is required).
	Node NodeConfig
	// Calls configures the call-event log (Node and Replicas are set from
	// the fields above).
	Calls CallsConfig
	// KV configures the key-value bucket (Replicas is set from above).
	KV KVConfig
	// Logger receives the backend's logs. Nil: none.
	Logger *zap.Logger
	// Metrics is where the backend's metrics are registered. Nil: not
	// exported.
	Metrics prometheus.Registerer
}

// Backend is a replica's whole cluster backend: its NATS connection (and
// server, if embedded), the shared KV, its node, and, once the HTTP server
// made its registry, the call store.
type Backend struct {
	Server *server.Server // nil unless embedded
	Conn   *nats.Conn
	JS     jetstream.JetStream
	KV     *KV
	Node   *Node

	cfg     Config
	metrics *Metrics
}

// Open connects to NATS (starting the embedded server first, if any),
// makes the streams and buckets, and takes the replica's lease.
func Open(ctx context.Context, cfg Config) (b *Backend, err error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	b = &Backend{cfg: cfg, metrics: NewMetrics(cfg.Metrics)}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	opts := append([]nats.Option{
		nats.Name("capstream " + cfg.Node.ID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			cfg.Logger.Warn("NATS disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			cfg.Logger.Info("NATS reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
		}),
	}, cfg.Options...)
	if cfg.Embed != nil {
		if b.Server, err = Embed(*cfg.Embed); err != nil {
			return b, err
		}
		if cfg.URLs == "" {
			opts = append(opts, nats.InProcessServer(b.Server))
		}
	} else if cfg.URLs == "" {
		return b, errors.New("cluster: no NATS server to connect to: give its URLs, or embed one")
	}
	if b.Conn, err = nats.Connect(cfg.URLs, opts...); err != nil {
		return b, fmt.Errorf("cluster: connecting to NATS at %s: %w", cfg.URLs, err)
	}
	if mp := b.Conn.MaxPayload(); mp < MinMaxPayload {
		return b, fmt.Errorf("cluster: the NATS servers accept messages of at most %d bytes; capstream needs %d (a 1 MiB output or KV value and its envelope): set max_payload: 4MB in their configuration", mp, MinMaxPayload)
	}
	if b.JS, err = jetstream.New(b.Conn); err != nil {
		return b, fmt.Errorf("cluster: %w", err)
	}
	if err := waitJetStream(ctx, b.JS); err != nil {
		return b, err
	}
	kvCfg := cfg.KV
	kvCfg.Replicas = cfg.Replicas
	if b.KV, err = OpenKV(ctx, b.JS, kvCfg); err != nil {
		return b, err
	}
	nodeCfg := cfg.Node
	nodeCfg.Replicas, nodeCfg.Logger, nodeCfg.Metrics = cfg.Replicas, cfg.Logger, b.metrics
	if b.Node, err = StartNode(ctx, b.JS, nodeCfg); err != nil {
		return b, err
	}
	return b, nil
}

// CallStore opens the call store around local, the HTTP server's registry
// of this replica's logs (httpapi.Config.CallStore), and has the node end
// lost calls in it.
func (b *Backend) CallStore(local *stream.Registry) (stream.Store, error) {
	callsCfg := b.cfg.Calls
	callsCfg.Node, callsCfg.Replicas, callsCfg.Metrics = b.cfg.Node.ID, b.cfg.Replicas, b.metrics
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := OpenCalls(ctx, b.JS, local, callsCfg)
	if err != nil {
		return nil, err
	}
	b.Node.UseCalls(ctx, c)
	return c, nil
}

// Close gives the lease back, closes the connection and stops the embedded
// server. Call it after the HTTP server has drained.
func (b *Backend) Close(ctx context.Context) error {
	var err error
	if b.Node != nil {
		err = b.Node.Close(ctx)
	}
	b.close()
	return err
}

func (b *Backend) close() {
	if b.Node != nil {
		b.Node.stopLoops()
	}
	if b.Conn != nil {
		b.Conn.Close()
	}
	if b.Server != nil {
		b.Server.Shutdown()
		b.Server.WaitForShutdown()
	}
}

// waitJetStream waits, up to 30s, until JetStream answers: a cluster that
// has just started elects its meta leader first.
func waitJetStream(ctx context.Context, js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		attempt, stop := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(attempt)
		stop()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
			return fmt.Errorf("cluster: JetStream is not enabled on the NATS servers (jetstream: enabled in their configuration): %w", err)
		case ctx.Err() != nil:
			return fmt.Errorf("cluster: JetStream did not answer within 30s (a cluster without a quorum?): %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
