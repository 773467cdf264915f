package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/capstream/capstream/stream"
)

// The buckets of the replicas' shared state.
const (
	NodesBucket = "CAPSTREAM_NODES" // node.<id>: a replica's lease, with a TTL
	CapsBucket  = "CAPSTREAM_CAPS"  // <hex SHA-256 of a subject>: its running calls, cluster-wide
	KeysBucket  = "CAPSTREAM_KEYS"  // <kid>: a replica's capability verification key, as a JWK
)

// NodeConfig configures a replica's place in the cluster.
// DefaultLeaseTTL is the lease of a replica by default. A NATS leader
// election takes up to about 9.5 s (a follower waits 4 to 9 s without a
// heartbeat before it stands); a replica renews every second and fences
// itself 1.2 s before its lease can lapse, so it rides out an election
// whose stream led its lease, and a replica that dies is found within
// 12 s and a second or so.
const DefaultLeaseTTL = 12 * time.Second

type NodeConfig struct {
	// ID names the replica: 1 to 64 letters, digits, - or _, unique among
	// the live replicas.
	ID string
	// Replicas is the buckets' replication factor. Zero: 1.
	Replicas int
	// LeaseTTL is how long the replica is presumed alive after its last
	// renewal: then the others end its running calls with node_lost.
	// Zero: DefaultLeaseTTL; at least 1s (JetStream's smallest TTL).
	LeaseTTL time.Duration
	// Renew is how often the lease is renewed. Zero: LeaseTTL/5, at most
	// 1s.
	Renew time.Duration
	// FenceAfter is how long the replica goes on without renewing before it
	// fences itself (cancels its calls, admits none), so that it has
	// stopped before any other replica can find its lease expired.
	// Zero: LeaseTTL less a tenth of it, or less 200ms if more.
	FenceAfter time.Duration
	// Scan is how often the replica looks for calls of replicas with no
	// lease, besides watching leases expire. Zero: 30s.
	Scan time.Duration
	// Timeout bounds one request to NATS. Zero: 5s.
	Timeout time.Duration
	// Logger receives the node's logs. Nil: none.
	Logger *zap.Logger
	// Metrics receives the backend's metrics. Nil: kept, not exported.
	Metrics *Metrics
}

// Local is what a node needs of the server that runs its calls.
type Local interface {
	// CancelLocal cancels call id if this replica runs it for subject,
	// with reason (a host.CancelReason), and reports whether it did.
	CancelLocal(id, subject, reason string) bool
	// Fence cancels every call this replica runs, with reason lease_lost,
	// and refuses new ones until Unfence.
	Fence()
	Unfence()
}

// Node is a replica's membership of the cluster: its lease, the reaper of
// calls of replicas that died, the cluster-wide per-principal caps, cancel
// requests between replicas, and the capability keys of all of them.
type Node struct {
	cfg NodeConfig
	log *zap.Logger
	js  jetstream.JetStream
	m   *Metrics

	nodesSt, capsSt, keysSt jetstream.Stream
	nodes, caps, keys       jetstream.KeyValue

	cancelSub *nats.Subscription
	flushSub  *nats.Subscription
	loops     context.Context // done when the node stops
	stop      context.CancelFunc
	wg        sync.WaitGroup

	mu        sync.Mutex
	local     Local
	calls     *Calls // where lost calls are ended; nil until UseCalls
	leaseRev  uint64
	renewed   time.Time // last successful renewal
	fenced    bool
	capCache  map[string]cachedCap  // by cap key: the entry this replica last wrote
	ended     map[string]endedCalls // by cap key: places given back here, not yet written
	keysCache []json.RawMessage
	keysAt    time.Time
}

// StartNode takes the replica's lease and starts renewing it, watching the
// others' and serving cancel requests. Attach the server before it serves;
// Close gives the lease back.
func StartNode(ctx context.Context, js jetstream.JetStream, cfg NodeConfig) (*Node, error) {
	if !validToken(cfg.ID) {
		return nil, fmt.Errorf("cluster: node id %q must be 1 to 64 letters, digits, - or _", cfg.ID)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.LeaseTTL < time.Second {
		return nil, fmt.Errorf("cluster: lease TTL %v is below JetStream's smallest TTL, 1s", cfg.LeaseTTL)
	}
	if cfg.Renew == 0 {
		cfg.Renew = min(cfg.LeaseTTL/5, time.Second)
	}
	if cfg.FenceAfter == 0 {
		cfg.FenceAfter = cfg.LeaseTTL - max(cfg.LeaseTTL/10, 200*time.Millisecond)
	}
	if cfg.Scan == 0 {
		cfg.Scan = 30 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	n := &Node{cfg: cfg, log: cfg.Logger.Named("cluster"), js: js, m: cfg.Metrics}
	var err error
	// The marker of an expired lease lives a little; every replica's
	// watcher gets it at once.
	if n.nodesSt, n.nodes, err = openBucket(ctx, js, NodesBucket, cfg.Replicas, time.Minute); err != nil {
		return nil, err
	}
	if n.capsSt, n.caps, err = openBucket(ctx, js, CapsBucket, cfg.Replicas, 0); err != nil {
		return nil, err
	}
	if n.keysSt, n.keys, err = openBucket(ctx, js, KeysBucket, cfg.Replicas, 0); err != nil {
		return nil, err
	}
	if err := n.takeLease(ctx); err != nil {
		return nil, err
	}
	n.cancelSub, err = js.Conn().Subscribe("cs.node."+cfg.ID+".cancel", n.serveCancel)
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribing to cancel requests: %w", err)
	}
	n.flushSub, err = js.Conn().Subscribe("cs.node."+cfg.ID+".release", n.serveFlush)
	if err != nil {
		n.cancelSub.Unsubscribe()
		return nil, fmt.Errorf("cluster: subscribing to release requests: %w", err)
	}
	// The watcher is one consumer for the node's life; a cluster that has
	// just formed may take a while to make it.
	var watch jetstream.KeyWatcher
	for deadline := time.Now().Add(30 * time.Second); ; {
		watch, err = n.nodes.Watch(context.Background(), "node.*", jetstream.UpdatesOnly())
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		n.cancelSub.Unsubscribe()
		n.flushSub.Unsubscribe()
		return nil, fmt.Errorf("cluster: watching the leases: %w", err)
	}
	loops, stop := context.WithCancel(context.Background())
	n.loops, n.stop = loops, stop
	n.wg.Go(func() { n.renewLoop(loops) })
	n.wg.Go(func() { n.watchLoop(loops, watch) })
	n.wg.Go(func() { n.flushLoop(loops) })
	n.wg.Go(func() { n.scanLoop(loops) })
	return n, nil
}

// Attach names the server whose calls the node cancels.
func (n *Node) Attach(l Local) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.local = l
}

// UseCalls names the call store in which the node ends lost calls, and
// ends those a previous run of this replica (the same node id) left
// running: nobody else would, since the id is alive again.
func (n *Node) UseCalls(ctx context.Context, c *Calls) {
	n.mu.Lock()
	n.calls = c
	n.mu.Unlock()
	n.reap(ctx, func(node string) bool { return node == n.cfg.ID })
}

func (n *Node) server() Local {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.local
}

// ID returns the replica's id.
func (n *Node) ID() string { return n.cfg.ID }

// Ready reports whether the replica holds its lease and may admit calls.
func (n *Node) Ready() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fenced {
		return errors.New("this replica lost its lease in the cluster (NATS unreachable?); it admits no calls until it holds one again")
	}
	return nil
}

// Close stops the node and gives its lease back: call it after the server
// has drained, so that no call of this replica is running. Its peers then
// see the lease deleted, not expired, and find nothing to end.
func (n *Node) Close(ctx context.Context) error {
	n.stopLoops()
	n.flushAll(ctx)
	n.mu.Lock()
	rev := n.leaseRev
	n.mu.Unlock()
	return n.nodes.Delete(ctx, leaseKey(n.cfg.ID), jetstream.LastRevision(rev))
}

// stopLoops stops renewing, watching and serving cancel requests. It may be
// called more than once.
func (n *Node) stopLoops() {
	n.stop()
	n.wg.Wait()
	n.cancelSub.Unsubscribe()
	n.flushSub.Unsubscribe()
}

func leaseKey(id string) string { return "node." + id }

// takeLease creates the replica's lease. It fails if a live replica holds
// the same id.
func (n *Node) takeLease(ctx context.Context) error {
	val, _ := json.Marshal(map[string]any{"started": time.Now().UTC()})
	// A replica restarted with the same id waits for its previous lease to
	// lapse; one still renewed after two TTLs is another live replica.
	var rev uint64
	var err error
	var sent time.Time
	for wait := time.Now().Add(2 * n.cfg.LeaseTTL); ; {
		sent = time.Now()
		rev, err = n.nodes.Create(ctx, leaseKey(n.cfg.ID), val, jetstream.KeyTTL(n.cfg.LeaseTTL))
		if !errors.Is(err, jetstream.ErrKeyExists) || time.Now().After(wait) {
			break
		}
		n.log.Info("waiting for the previous lease of this node id to lapse", zap.String("node", n.cfg.ID))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(n.cfg.Renew):
		}
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("cluster: node id %q is held by a live replica; give each replica its own --node-id", n.cfg.ID)
	}
	if err != nil {
		return fmt.Errorf("cluster: taking the lease of node %q: %w", n.cfg.ID, err)
	}
	n.mu.Lock()
	n.leaseRev, n.renewed = rev, sent
	n.mu.Unlock()
	n.m.lease.Set(1)
	return nil
}

// renew extends the lease by a publish that carries the TTL (an update
// through nats.go's KV API would make the key permanent) and expects the
// lease's last revision, which fails once the lease expired.
func (n *Node) renew(ctx context.Context) error {
	n.mu.Lock()
	rev := n.leaseRev
	n.mu.Unlock()
	// The time before sending: the server stamps the renewal later, so the
	// replica's own deadline (this plus FenceAfter) always comes before the
	// lease's expiry as its peers see it.
	sent := time.Now()
	val, _ := json.Marshal(map[string]any{"renewed": sent.UTC()})
	// Unanswered within a renewal interval (a NATS leader election), try
	// again at the next.
	ctx, cancel := context.WithTimeout(ctx, min(n.cfg.Timeout, n.cfg.Renew))
	defer cancel()
	ack, err := n.js.Publish(ctx, "$KV."+NodesBucket+"."+leaseKey(n.cfg.ID), val,
		jetstream.WithMsgTTL(n.cfg.LeaseTTL), jetstream.WithExpectLastSequencePerSubject(rev))
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.leaseRev, n.renewed = ack.Sequence, sent
	n.mu.Unlock()
	return nil
}

// renewLoop renews the lease every Renew, and sooner after a failure, so
// that a NATS leader election that ends before the fence is ridden out.
// The fence is a timer, not a check after a failed renewal: a renewal may
// wait up to its timeout, and the replica must have stopped its calls
// before the lease can lapse.
func (n *Node) renewLoop(ctx context.Context) {
	fence := time.AfterFunc(n.untilFence(), n.fenceIfLate)
	defer fence.Stop()
	wait := n.cfg.Renew
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := n.renew(ctx)
		wait = n.cfg.Renew
		switch {
		case err == nil:
			fence.Reset(n.untilFence())
			n.unfence()
		case isConflict(err):
			// The lease expired (its peers may have ended its calls) or
			// was taken: stop, then take a new one.
			n.fence("the lease expired")
			if err := n.takeLease(ctx); err == nil {
				fence.Reset(n.untilFence())
				n.log.Info("lease taken again")
				n.unfence()
			}
		default:
			n.mu.Lock()
			late := time.Since(n.renewed)
			n.mu.Unlock()
			n.log.Warn("renewing the lease", zap.Error(err), zap.Duration("since", late))
			wait = n.cfg.Renew / 4
		}
	}
}

// untilFence is how long the replica may go on before it fences itself,
// counted from the sending of its last renewal that succeeded.
func (n *Node) untilFence() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return max(time.Until(n.renewed.Add(n.cfg.FenceAfter)), 0)
}

// fenceIfLate fences the replica if its lease was not renewed for
// FenceAfter (a renewal may have succeeded as the timer fired).
func (n *Node) fenceIfLate() {
	n.mu.Lock()
	late := time.Since(n.renewed)
	n.mu.Unlock()
	if late >= n.cfg.FenceAfter {
		n.fence(fmt.Sprintf("the lease was not renewed for %v", late.Round(time.Millisecond)))
	}
}

// fence stops the replica's calls and admissions, once.
func (n *Node) fence(why string) {
	n.mu.Lock()
	if n.fenced {
		n.mu.Unlock()
		return
	}
	n.fenced = true
	l := n.local
	n.mu.Unlock()
	n.m.lease.Set(0)
	n.m.fences.Inc()
	n.log.Error("fenced: cancelling this replica's calls and admitting none", zap.String("reason", why))
	if l != nil {
		l.Fence()
	}
}

func (n *Node) unfence() {
	n.mu.Lock()
	if !n.fenced {
		n.mu.Unlock()
		return
	}
	n.fenced = false
	l := n.local
	n.mu.Unlock()
	n.m.lease.Set(1)
	n.log.Info("lease held again: admitting calls")
	if l != nil {
		l.Unfence()
	}
}

// watchLoop ends the calls of a replica as soon as its lease expires.
func (n *Node) watchLoop(ctx context.Context, w jetstream.KeyWatcher) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePurge {
				continue // a renewal, or a lease given back (Delete) after a drain
			}
			id := e.Key()[len("node."):]
			if id != n.cfg.ID {
				n.log.Warn("lease expired", zap.String("node", id))
				// (This replica's own calls are never reaped here: its
				// lease lapsed means it fenced itself first.)
				n.reap(ctx, func(node string) bool { return node == id })
			}
		}
	}
}

// scanLoop ends, now and then, the calls of every replica that holds no
// lease: those whose expiry no watcher saw (all replicas were down, say).
func (n *Node) scanLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.Scan)
	defer t.Stop()
	for {
		n.reapOrphans(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) reapOrphans(ctx context.Context) {
	live, err := n.liveNodes(ctx)
	if err != nil {
		n.log.Warn("listing the leases", zap.Error(err))
		return
	}
	n.reap(ctx, func(node string) bool { return !live[node] && node != n.cfg.ID })
}

func (n *Node) liveNodes(ctx context.Context) (map[string]bool, error) {
	live := map[string]bool{}
	err := scanBucket(ctx, n.nodesSt, NodesBucket, "node.*", func(k string, _ []byte) { live[k[len("node."):]] = true })
	return live, err
}

// reap ends with node_lost every running call of the replicas dead says
// are dead, and frees their places under the caps.
func (n *Node) reap(ctx context.Context, dead func(node string) bool) {
	n.mu.Lock()
	calls := n.calls
	n.mu.Unlock()
	if calls == nil {
		return
	}
	var keys []string
	if err := scanBucket(ctx, n.capsSt, CapsBucket, "*", func(k string, _ []byte) { keys = append(keys, k) }); err != nil {
		n.log.Warn("listing running calls", zap.Error(err))
		return
	}
	for _, k := range keys {
		entry, _, err := n.capEntry(ctx, k)
		if err != nil {
			n.log.Warn("reading running calls", zap.Error(err))
			continue
		}
		for id, c := range entry.Calls {
			if !dead(c.Node) {
				continue
			}
			start := time.Now()
			wrote, err := calls.EndLost(ctx, stream.Meta{Call: id, Owner: entry.Subject, Tool: c.Tool}, c.Node)
			if err != nil {
				n.log.Warn("ending a lost call", zap.String("call", id), zap.String("node", c.Node), zap.Error(err))
				continue
			}
			if wrote {
				n.m.reaped.Inc()
				n.log.Warn("call ended: node_lost", zap.String("call", id), zap.String("subject", entry.Subject),
					zap.String("node", c.Node), zap.Duration("took", time.Since(start)))
			}
			n.releaseNow(entry.Subject, id)
		}
	}
}

// capEntry is one subject's running calls, cluster-wide.
type capEntry struct {
	Subject string             `json:"subject"`
	Calls   map[string]capCall `json:"calls"`
}

// drop removes the calls ids and reports whether any was there.
func (e *capEntry) drop(ids map[string]bool) bool {
	removed := false
	for id := range ids {
		if _, ok := e.Calls[id]; ok {
			delete(e.Calls, id)
			removed = true
		}
	}
	return removed
}

type capCall struct {
	Node string `json:"node"`
	Tool string `json:"tool"`
}

func capKey(subject string) string {
	h := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(h[:])
}

func (n *Node) capEntry(ctx context.Context, key string) (capEntry, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	v, rev, err := lastValue(ctx, n.capsSt, CapsBucket, key)
	if err != nil {
		return capEntry{}, 0, err
	}
	e := capEntry{Calls: map[string]capCall{}}
	if v != nil {
		if err := json.Unmarshal(v, &e); err != nil {
			return capEntry{}, 0, fmt.Errorf("cluster: running calls under %s: %w", key, err)
		}
		if e.Calls == nil {
			e.Calls = map[string]capCall{}
		}
	}
	return e, rev, nil
}

// update applies f to a subject's entry with a compare-and-set, until it
// wins or f says to stop. It starts from the entry this replica last wrote,
// if it has it, and reads the store only when that turns out stale (another
// replica wrote since): on one replica, or a subject that keeps to one,
// each admission and release is one request.
func (n *Node) update(ctx context.Context, subject string, f func(*capEntry) bool) error {
	key := capKey(subject)
	for range 1000 {
		e, rev, ok := n.cachedCap(key)
		if !ok {
			var err error
			if e, rev, err = n.capEntry(ctx, key); err != nil {
				return err
			}
		}
		if e.Subject != "" && e.Subject != subject {
			return fmt.Errorf("cluster: running calls of two subjects under one key")
		}
		e.Subject = subject
		if !f(&e) {
			if ok {
				// Decided on what this replica remembers, which another
				// replica may have changed since (a release): decide
				// again on what the store holds.
				n.dropCap(key)
				continue
			}
			return nil
		}
		val, _ := json.Marshal(e)
		uctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		newRev, err := n.caps.Update(uctx, key, val, rev)
		cancel()
		switch {
		case err == nil:
			n.cacheCap(key, e, newRev)
		case isConflict(err):
			n.dropCap(key)
			if !ok {
				n.m.capConflicts.Inc()
			}
			continue
		default:
			n.dropCap(key) // it may or may not have been written
		}
		return err
	}
	return errContended
}

// maxCachedCaps bounds the entries a replica remembers; past it, it
// forgets them all and reads again.
const maxCachedCaps = 10000

type cachedCap struct {
	entry capEntry
	rev   uint64
}

func (n *Node) cachedCap(key string) (capEntry, uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.capCache[key]
	if !ok {
		return capEntry{}, 0, false
	}
	e := capEntry{Subject: c.entry.Subject, Calls: make(map[string]capCall, len(c.entry.Calls)+1)}
	for id, call := range c.entry.Calls {
		e.Calls[id] = call
	}
	return e, c.rev, true
}

func (n *Node) cacheCap(key string, e capEntry, rev uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.capCache == nil || len(n.capCache) >= maxCachedCaps {
		n.capCache = map[string]cachedCap{}
	}
	n.capCache[key] = cachedCap{entry: e, rev: rev}
}

func (n *Node) dropCap(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.capCache, key)
}

// Admit counts call id of subject, running tool on this replica, against
// the cluster-wide cap of max running calls per subject. If the subject
// has max running already it admits nothing and returns false and that
// count.
//
// The write that admits also gives back the places of the subject's calls
// that ended here since (see Release): a subject that keeps calling one
// replica costs one write per call. A replica that finds the subject at
// its cap first asks the replicas running the calls it counts to write
// back their ended ones, and counts again: a place given back anywhere is
// never refused.
func (n *Node) Admit(ctx context.Context, subject, id, tool string, max int) (bool, int, error) {
	if err := n.Ready(); err != nil {
		return false, 0, err
	}
	key := capKey(subject)
	for attempt := 0; ; attempt++ {
		ended := n.takeEnded(key)
		admitted, running, others := false, 0, map[string]bool{}
		err := n.update(ctx, subject, func(e *capEntry) bool {
			removed := e.drop(ended)
			running, admitted = len(e.Calls), false
			clear(others)
			if running >= max {
				for _, c := range e.Calls {
					if c.Node != n.cfg.ID {
						others[c.Node] = true
					}
				}
				return removed
			}
			e.Calls[id] = capCall{Node: n.cfg.ID, Tool: tool}
			admitted = true
			return true
		})
		if err != nil {
			n.keepEnded(key, subject, ended) // written or not: try again later
			return false, 0, err
		}
		if admitted || attempt > 0 || len(others) == 0 {
			return admitted, running, nil
		}
		n.askRelease(ctx, subject, others)
		n.dropCap(key)
	}
}

// endedCalls are the calls of one subject whose places were given back on
// this replica and not yet written.
type endedCalls struct {
	subject string
	ids     map[string]bool
	since   time.Time
}

// Release gives back the place of call id of subject. For a call this
// replica admitted (as its entry last written here says) it writes
// nothing at once: the subject's next admission on this replica writes it
// with its own, or a replica that finds the subject at its cap asks for it
// (Admit), or the flush loop writes it within two seconds. Until then the
// call still counts where only a count is read (the reaper's listing),
// never where a call is refused. Any other call's place is written back
// at once.
func (n *Node) Release(subject, id string) {
	key := capKey(subject)
	n.mu.Lock()
	c, ok := n.capCache[key].entry.Calls[id]
	n.mu.Unlock()
	if ok && c.Node == n.cfg.ID {
		n.keepEnded(key, subject, map[string]bool{id: true})
		return
	}
	n.releaseNow(subject, id)
}

func (n *Node) keepEnded(key, subject string, ids map[string]bool) {
	if len(ids) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ended == nil {
		n.ended = map[string]endedCalls{}
	}
	e, ok := n.ended[key]
	if !ok {
		e = endedCalls{subject: subject, ids: map[string]bool{}, since: time.Now()}
		n.ended[key] = e
	}
	for id := range ids {
		e.ids[id] = true
	}
}

func (n *Node) takeEnded(key string) map[string]bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.ended[key]
	if !ok {
		return nil
	}
	delete(n.ended, key)
	return e.ids
}

// flush writes back the places of subject's calls that ended here.
func (n *Node) flush(ctx context.Context, subject string) error {
	key := capKey(subject)
	ended := n.takeEnded(key)
	if len(ended) == 0 {
		return nil
	}
	err := n.update(ctx, subject, func(e *capEntry) bool { return e.drop(ended) })
	if err != nil {
		n.keepEnded(key, subject, ended)
	}
	return err
}

// flushOlder writes back the places given back here more than age ago.
func (n *Node) flushOlder(ctx context.Context, age time.Duration) {
	n.mu.Lock()
	var subjects []string
	for _, e := range n.ended {
		if time.Since(e.since) >= age {
			subjects = append(subjects, e.subject)
		}
	}
	n.mu.Unlock()
	for _, s := range subjects {
		fctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		if err := n.flush(fctx, s); err != nil {
			n.log.Warn("giving back places under the caps; retrying", zap.Error(err))
		}
		cancel()
	}
}

func (n *Node) flushAll(ctx context.Context) { n.flushOlder(ctx, 0) }

// flushLoop writes back the places given back here more than a second
// ago that no admission has written since.
func (n *Node) flushLoop(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.flushOlder(ctx, time.Second)
		}
	}
}

// askRelease asks the replicas nodes to write back the places of
// subject's calls that ended on them, and waits for their answers.
func (n *Node) askRelease(ctx context.Context, subject string, nodes map[string]bool) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	var wg sync.WaitGroup
	for node := range nodes {
		wg.Go(func() {
			// No answer (a replica gone) leaves its calls to the reaper.
			n.js.Conn().RequestWithContext(ctx, "cs.node."+node+".release", []byte(subject))
		})
	}
	wg.Wait()
}

// serveFlush answers another replica's askRelease. The request only makes
// this replica write what it already decided: it grants nothing.
func (n *Node) serveFlush(m *nats.Msg) {
	ctx, cancel := context.WithTimeout(n.loops, n.cfg.Timeout)
	defer cancel()
	ok := n.flush(ctx, string(m.Data)) == nil
	m.Respond([]byte(fmt.Sprintf(`{"released":%t}`, ok)))
}

// releaseNow writes back the place of call id of subject at once (the
// reaper's, for a call of a replica that is gone). If NATS does not
// answer, the flush loop tries again.
func (n *Node) releaseNow(subject, id string) {
	release := func(ctx context.Context) error {
		return n.update(ctx, subject, func(e *capEntry) bool { return e.drop(map[string]bool{id: true}) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	err := release(ctx)
	cancel()
	if err == nil {
		return
	}
	n.log.Warn("giving back a place under the caps; retrying in the background", zap.String("call", id), zap.Error(err))
	n.keepEnded(capKey(subject), subject, map[string]bool{id: true})
}

// cancelRequest asks a replica to cancel one of its calls.
type cancelRequest struct {
	Call    string `json:"call"`
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
}

// Cancel asks the replica running call id of subject to cancel it with
// reason. It returns nil once the owner has cancelled it, if the call is
// not running, or if its replica is gone (the reaper ends the call then);
// the caller waits for the terminal event in the call's log.
func (n *Node) Cancel(ctx context.Context, id, subject, reason string) error {
	e, _, err := n.capEntry(ctx, capKey(subject))
	if err != nil {
		return err
	}
	c, ok := e.Calls[id]
	if !ok || e.Subject != subject {
		return nil
	}
	req, _ := json.Marshal(cancelRequest{Call: id, Subject: subject, Reason: reason})
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	_, err = n.js.Conn().RequestWithContext(ctx, "cs.node."+c.Node+".cancel", req)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil
	}
	return err
}

// serveCancel answers another replica's cancel request. The server checks
// that the call is this replica's and the subject's: a request names a
// call, it grants nothing.
func (n *Node) serveCancel(m *nats.Msg) {
	var req cancelRequest
	ok := false
	if json.Unmarshal(m.Data, &req) == nil {
		if l := n.server(); l != nil {
			ok = l.CancelLocal(req.Call, req.Subject, req.Reason)
		}
	}
	m.Respond([]byte(fmt.Sprintf(`{"cancelled":%t}`, ok)))
}

// PublishKey records this replica's capability verification key, a JWK
// with a kid, for every replica's GET /v1/keys.
func (n *Node) PublishKey(ctx context.Context, kid string, jwk json.RawMessage) error {
	if _, err := n.keys.Put(ctx, hex.EncodeToString([]byte(kid)), jwk); err != nil {
		return fmt.Errorf("cluster: publishing the capability key: %w", err)
	}
	return nil
}

// Keys returns every replica's capability verification key, read at most
// every ten seconds.
func (n *Node) Keys(ctx context.Context) ([]json.RawMessage, error) {
	n.mu.Lock()
	if time.Since(n.keysAt) < 10*time.Second {
		keys := n.keysCache
		n.mu.Unlock()
		return keys, nil
	}
	n.mu.Unlock()
	keys := []json.RawMessage{}
	if err := scanBucket(ctx, n.keysSt, KeysBucket, "*", func(_ string, v []byte) { keys = append(keys, v) }); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.keysCache, n.keysAt = keys, time.Now()
	n.mu.Unlock()
	return keys, nil
}
