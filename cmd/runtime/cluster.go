package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/capstream/capstream/internal/cluster"
	"github.com/capstream/capstream/stream"
)

// clusterFlags are serve's flags for running as one replica of a cluster
// (docs/cluster.md).
type clusterFlags struct {
	urls, secretFile, nodeID            string
	creds, tlsCA, tlsCert, tlsKey       string
	embed                               bool
	embedListen, embedClient, embedName string
	embedRoutes                         stringList
	replicas                            int
	lease, maxAge                       time.Duration
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.urls, "cluster", "", "run as a replica of a cluster on these NATS servers with JetStream (comma-separated nats:// or tls:// URLs)")
	fs.StringVar(&c.secretFile, "cluster-secret-file", "", "secret shared by the replicas, for stream tickets (required in a cluster)")
	fs.StringVar(&c.nodeID, "node-id", "", "this replica's id in the cluster: letters, digits, - and _ (default: the host name and a random suffix, new at each start)")
	fs.StringVar(&c.creds, "cluster-creds", "", "NATS credentials file (.creds: user JWT and NKey seed)")
	fs.StringVar(&c.tlsCA, "cluster-tls-ca", "", "PEM CA certificates that sign the NATS servers' certificates")
	fs.StringVar(&c.tlsCert, "cluster-tls-cert", "", "PEM client certificate for NATS (with --cluster-tls-key)")
	fs.StringVar(&c.tlsKey, "cluster-tls-key", "", "PEM key of --cluster-tls-cert")
	fs.BoolVar(&c.embed, "cluster-embed", false, "run a NATS server with JetStream inside this replica (its store in DATA_DIR/nats); with --cluster-routes, a node of a cluster of such replicas")
	fs.StringVar(&c.embedListen, "cluster-listen", "", "with --cluster-embed: address the embedded node accepts routes from its peers on, such as 0.0.0.0:6222")
	fs.Var(&c.embedRoutes, "cluster-routes", "with --cluster-embed: the peers' route URLs, such as nats://10.0.0.2:6222 (repeatable, or comma-separated)")
	fs.StringVar(&c.embedClient, "cluster-client-listen", "", "with --cluster-embed: also accept NATS clients (the nats CLI, say) on this address; empty: in-process only")
	fs.StringVar(&c.embedName, "cluster-name", "capstream", "with --cluster-embed: the NATS cluster's name, the same on every node")
	fs.IntVar(&c.replicas, "cluster-replicas", 0, "replicas of each JetStream stream and bucket (default 3, or 1 for a single embedded node)")
	fs.DurationVar(&c.lease, "cluster-lease", cluster.DefaultLeaseTTL, "a replica not heard from for this long is presumed dead and its running calls end with node_lost")
	fs.DurationVar(&c.maxAge, "cluster-max-age", 70*time.Minute, "how long the cluster keeps a call's events: more than the longest call timeout the policy allows plus the retention")
}

// enabled reports whether serve runs as a replica of a cluster.
func (c *clusterFlags) enabled() bool { return c.urls != "" || c.embed }

// check refuses cluster flags that could not work.
func (c *clusterFlags) check(f serveFlags) error {
	if !c.enabled() {
		for name, set := range map[string]bool{
			"--cluster-secret-file": c.secretFile != "", "--node-id": c.nodeID != "", "--cluster-creds": c.creds != "",
			"--cluster-tls-ca": c.tlsCA != "", "--cluster-listen": c.embedListen != "", "--cluster-routes": len(c.embedRoutes) > 0,
		} {
			if set {
				return fmt.Errorf("%s applies in a cluster only: add --cluster URLS or --cluster-embed", name)
			}
		}
		return nil
	}
	switch {
	case f.dev:
		return errors.New("--dev runs one node: drop --cluster and --cluster-embed (make cluster starts a local cluster)")
	case c.secretFile == "":
		return errors.New("a cluster needs --cluster-secret-file: the replicas share it, so that a stream ticket minted by one opens the stream on any other")
	case c.nodeID != "" && !stream.ValidCallID(c.nodeID):
		return fmt.Errorf("--node-id %q: use 1 to 64 letters, digits, - or _", c.nodeID)
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return errors.New("--cluster-tls-cert and --cluster-tls-key go together")
	case !c.embed && (c.embedListen != "" || len(c.embedRoutes) > 0 || c.embedClient != ""):
		return errors.New("--cluster-listen, --cluster-routes and --cluster-client-listen configure --cluster-embed: add it")
	case c.embed && len(c.embedRoutes) > 0 && c.embedListen == "":
		return errors.New("--cluster-routes needs --cluster-listen: the peers route to this node there")
	case c.replicas < 0 || c.replicas > 5:
		return errors.New("--cluster-replicas must be between 1 and 5 (JetStream's limit)")
	case c.lease < time.Second:
		return errors.New("--cluster-lease must be at least 1s, JetStream's smallest TTL")
	case c.maxAge <= 0:
		return errors.New("--cluster-max-age must be positive")
	}
	for _, u := range strings.Split(c.urls, ",") {
		if c.urls == "" {
			break
		}
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.Host == "" || (p.Scheme != "nats" && p.Scheme != "tls") {
			return fmt.Errorf("--cluster: %q is not a NATS URL such as nats://10.0.0.1:4222", u)
		}
	}
	return nil
}

// openCluster opens this replica's cluster backend.
func openCluster(ctx context.Context, c clusterFlags, dataDir string, log *zap.Logger, reg prometheus.Registerer) (*cluster.Backend, []byte, error) {
	secret, err := os.ReadFile(c.secretFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading --cluster-secret-file: %w", err)
	}
	if len(secret) < 32 {
		return nil, nil, fmt.Errorf("--cluster-secret-file holds %d bytes; give at least 32 random bytes (head -c 32 /dev/urandom > FILE)", len(secret))
	}
	id := c.nodeID
	if id == "" {
		id = defaultNodeID()
	}
	cfg := cluster.Config{
		URLs: c.urls, Replicas: c.replicas, Logger: log, Metrics: reg,
		Node:  cluster.NodeConfig{ID: id, LeaseTTL: c.lease},
		Calls: cluster.CallsConfig{MaxAge: c.maxAge},
	}
	if c.embed {
		routes := []string{}
		for _, r := range c.embedRoutes {
			routes = append(routes, strings.Split(r, ",")...)
		}
		cfg.Embed = &cluster.EmbedConfig{
			Name: id, StoreDir: filepath.Join(dataDir, "nats"), Listen: c.embedClient,
			ClusterName: c.embedName, ClusterListen: c.embedListen, Routes: routes, Logger: log,
		}
		if cfg.Replicas == 0 && len(routes) == 0 {
			cfg.Replicas = 1
		}
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 3
	}
	if c.creds != "" {
		cfg.Options = append(cfg.Options, nats.UserCredentials(c.creds))
	}
	if c.tlsCA != "" {
		cfg.Options = append(cfg.Options, nats.RootCAs(c.tlsCA))
	}
	if c.tlsCert != "" {
		cfg.Options = append(cfg.Options, nats.ClientCert(c.tlsCert, c.tlsKey))
	}
	b, err := cluster.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	log.Info("cluster replica", zap.String("node", id), zap.String("nats", c.urls), zap.Bool("embedded", c.embed), zap.Int("replicas", cfg.Replicas))
	return b, secret, nil
}

// defaultNodeID is the host name, cut to what a node id may hold, and a
// random suffix: two replicas on one host differ, and a restarted replica
// does not wait for its old lease to lapse (its old calls end node_lost).
func defaultNodeID() string {
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range host {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '.':
			b.WriteByte('-')
		}
		if b.Len() >= 48 {
			break
		}
	}
	if b.Len() == 0 {
		b.WriteString("capstream")
	}
	return b.String() + "-" + strings.ToLower(rand.Text()[:6])
}
