package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/capstream/capstream/internal/kv"
)

// KVBucket is the JetStream key-value bucket of the tools' data.
const KVBucket = "CAPSTREAM_KV"

// KVConfig configures the shared key-value store.
type KVConfig struct {
	// Replicas is the bucket's replication factor (1, or 3 in a cluster).
	// Zero: 1.
	Replicas int
	// MaxKeyBytes and MaxValueBytes bound keys and values as the bbolt
	// store does. Zero: kv.DefaultMaxKeyBytes, kv.DefaultMaxValueBytes.
	MaxKeyBytes, MaxValueBytes int
}

// KV is the tools' key-value store in a JetStream bucket, shared by every
// replica: a host.KV.
//
// Keys are stored as d.<ns>.<key> and each namespace's usage as u.<ns>,
// where <ns> is the hex SHA-256 of the namespace and <key> the hex of the
// key: no byte of a principal's name or a tool's key can become a subject
// token or wildcard, hex keeps the keys' byte order for List, and a hashed
// namespace keeps every subject within NATS's 4 KiB control line.
//
// Every write is a compare-and-set on the revision it read. Reads go to
// the bucket's stream leader (the bucket is made without direct get), so a
// write acknowledged on one replica is read on any other.
//
// The quota holds under concurrent writers on any number of replicas: a
// write that grows a namespace first reserves its growth in the usage key
// (a CAS that checks the quota), then writes; if its write loses a race it
// gives the reservation back and starts over. A write that shrinks one
// writes first and then lowers the usage. So the usage never counts less
// than the namespace holds: a replica that dies between the two steps
// leaves it counting more, which only makes the quota stricter.
type KV struct {
	stream           jetstream.Stream
	kv               jetstream.KeyValue
	maxKey, maxValue int
	attempts         int           // CAS rounds before giving up
	rollbackTimeout  time.Duration // for giving a reservation back after ctx is done
}

// OpenKV creates the bucket if it does not exist, and opens it.
func OpenKV(ctx context.Context, js jetstream.JetStream, cfg KVConfig) (*KV, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxKeyBytes == 0 {
		cfg.MaxKeyBytes = kv.DefaultMaxKeyBytes
	}
	if cfg.MaxValueBytes == 0 {
		cfg.MaxValueBytes = kv.DefaultMaxValueBytes
	}
	st, b, err := openBucket(ctx, js, KVBucket, cfg.Replicas, 0)
	if err != nil {
		return nil, err
	}
	return &KV{stream: st, kv: b, maxKey: cfg.MaxKeyBytes, maxValue: cfg.MaxValueBytes, attempts: 1000, rollbackTimeout: 5 * time.Second}, nil
}

func nsToken(ns string) string {
	h := sha256.Sum256([]byte(ns))
	return hex.EncodeToString(h[:])
}

func dataKey(ns, key string) string {
	return "d." + nsToken(ns) + "." + hex.EncodeToString([]byte(key))
}
func usageKey(ns string) string { return "u." + nsToken(ns) }

func (k *KV) check(ns, key string) error {
	if err := kv.CheckNamespace(ns); err != nil {
		return err
	}
	return kv.CheckKey(key, k.maxKey)
}

// Get returns the value of key in namespace ns, or kv.ErrNotFound.
func (k *KV) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := k.check(ns, key); err != nil {
		return nil, err
	}
	v, _, err := k.read(ctx, dataKey(ns, key))
	switch {
	case err != nil:
		return nil, wrapKV("getting key", ns, err)
	case v == nil:
		return nil, kv.ErrNotFound
	}
	return v, nil
}

// read returns the value and revision of a bucket key (see lastValue).
func (k *KV) read(ctx context.Context, key string) ([]byte, uint64, error) {
	return lastValue(ctx, k.stream, KVBucket, key)
}

// write stores value under key if the key's revision is still rev.
func (k *KV) write(ctx context.Context, key string, value []byte, rev uint64) error {
	_, err := k.kv.Update(ctx, key, value, rev)
	return err
}

// Set stores value under key in namespace ns, within quota (if > 0).
func (k *KV) Set(ctx context.Context, ns, key string, value []byte, quota int64) error {
	if err := k.check(ns, key); err != nil {
		return err
	}
	if len(value) > k.maxValue {
		return fmt.Errorf("%w: %d bytes, limit %d", kv.ErrValueTooLarge, len(value), k.maxValue)
	}
	if value == nil {
		value = []byte{}
	}
	dk, uk := dataKey(ns, key), usageKey(ns)
	for range k.attempts {
		old, rev, err := k.read(ctx, dk)
		if err != nil {
			return wrapKV("setting key", ns, err)
		}
		delta := int64(len(key) + len(value))
		if old != nil {
			delta -= int64(len(key) + len(old))
		}
		if delta > 0 {
			if err := k.addUsage(ctx, ns, uk, delta, quota); err != nil {
				return err
			}
		}
		err = k.write(ctx, dk, value, rev)
		switch {
		case isConflict(err):
			// Another writer changed the key since it was read: give the
			// reservation back and start over.
			if delta > 0 {
				k.giveBack(ctx, ns, uk, delta)
			}
			continue
		case err != nil:
			// The write may or may not have been stored (an ack lost with
			// a node): keep the reservation, which at worst over-counts.
			return wrapKV("setting key", ns, err)
		}
		if delta < 0 {
			if err := k.addUsage(ctx, ns, uk, delta, 0); err != nil {
				return err
			}
		}
		return nil
	}
	return wrapKV("setting key", ns, errContended)
}

// Delete removes key from namespace ns and reports whether it was there.
func (k *KV) Delete(ctx context.Context, ns, key string) (bool, error) {
	if err := k.check(ns, key); err != nil {
		return false, err
	}
	dk := dataKey(ns, key)
	for range k.attempts {
		old, rev, err := k.read(ctx, dk)
		if err != nil {
			return false, wrapKV("deleting key", ns, err)
		}
		if old == nil {
			return false, nil
		}
		err = k.kv.Delete(ctx, dk, jetstream.LastRevision(rev))
		switch {
		case isConflict(err):
			continue
		case err != nil:
			return false, wrapKV("deleting key", ns, err)
		}
		return true, k.addUsage(ctx, ns, usageKey(ns), -int64(len(key)+len(old)), 0)
	}
	return false, wrapKV("deleting key", ns, errContended)
}

// List returns the keys of namespace ns that start with prefix, in byte
// order, at most limit (<= 0: all).
func (k *KV) List(ctx context.Context, ns, prefix string, limit int) ([]string, error) {
	if err := kv.CheckNamespace(ns); err != nil {
		return nil, err
	}
	// The filter's last token must be whole, so the prefix is matched here.
	hexPrefix := hex.EncodeToString([]byte(prefix))
	keys := []string{}
	err := scanBucket(ctx, k.stream, KVBucket, "d."+nsToken(ns)+".*", func(name string, _ []byte) {
		tok := name[strings.LastIndexByte(name, '.')+1:]
		if !strings.HasPrefix(tok, hexPrefix) {
			return
		}
		if b, err := hex.DecodeString(tok); err == nil {
			keys = append(keys, string(b))
		}
	})
	if err != nil {
		return nil, wrapKV("listing keys", ns, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, wrapKV("listing keys", ns, err)
	}
	slices.SortFunc(keys, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	return keys, nil
}

// Usage returns the bytes namespace ns counts against its quota.
func (k *KV) Usage(ctx context.Context, ns string) (int64, error) {
	if err := kv.CheckNamespace(ns); err != nil {
		return 0, err
	}
	n, _, err := k.usage(ctx, usageKey(ns))
	if err != nil {
		return 0, wrapKV("reading usage", ns, err)
	}
	return n, nil
}

func (k *KV) usage(ctx context.Context, uk string) (int64, uint64, error) {
	v, rev, err := k.read(ctx, uk)
	if err != nil || v == nil {
		return 0, rev, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("usage %q is not a number", v)
	}
	return n, rev, nil
}

// addUsage adds delta to the usage, refusing growth past quota (if > 0).
func (k *KV) addUsage(ctx context.Context, ns, uk string, delta, quota int64) error {
	for range k.attempts {
		n, rev, err := k.usage(ctx, uk)
		if err != nil {
			return wrapKV("counting usage", ns, err)
		}
		next := max(n+delta, 0)
		if quota > 0 && delta > 0 && next > quota {
			return fmt.Errorf("%w: namespace %q would use %d of %d bytes", kv.ErrQuotaExceeded, ns, next, quota)
		}
		err = k.write(ctx, uk, []byte(strconv.FormatInt(next, 10)), rev)
		switch {
		case isConflict(err):
			continue
		case err != nil:
			return wrapKV("counting usage", ns, err)
		}
		return nil
	}
	return wrapKV("counting usage", ns, errContended)
}

// giveBack returns a reservation, even after ctx is done: otherwise the
// namespace would keep counting bytes it does not hold.
func (k *KV) giveBack(ctx context.Context, ns, uk string, delta int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.rollbackTimeout)
	defer cancel()
	_ = k.addUsage(ctx, ns, uk, -delta, 0) // failing, it over-counts: stricter, never exceeded
}

var errContended = errors.New("too many concurrent writers; retry")

// isConflict reports whether err is a compare-and-set that lost: NATS
// reports it as 10071 on a single replica and 10164 on several.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

func wrapKV(op, ns string, err error) error {
	return fmt.Errorf("%s in namespace %q: %w", op, ns, err)
}

// openBucket creates a key-value bucket if it does not exist, and opens
// it. Its stream is the one nats.go would make, but without direct get:
// direct gets may be answered by a follower that lags, and a value written
// through one replica must be read through any other. markerTTL, if not
// zero, keeps per-key TTLs and tells watchers of expiries.
func openBucket(ctx context.Context, js jetstream.JetStream, name string, replicas int, markerTTL time.Duration) (jetstream.Stream, jetstream.KeyValue, error) {
	scfg := jetstream.StreamConfig{
		Name:                   "KV_" + name,
		Subjects:               []string{"$KV." + name + ".>"},
		MaxMsgsPerSubject:      1,
		MaxBytes:               -1,
		MaxMsgs:                -1,
		MaxConsumers:           -1,
		MaxMsgSize:             -1,
		Storage:                jetstream.FileStorage,
		Replicas:               replicas,
		AllowRollup:            true,
		DenyDelete:             true,
		Duplicates:             2 * time.Minute,
		Discard:                jetstream.DiscardNew,
		AllowDirect:            false,
		AllowMsgTTL:            markerTTL > 0,
		SubjectDeleteMarkerTTL: markerTTL,
	}
	st, err := createOrUpdateStream(ctx, js, scfg)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: creating the %s bucket: %w", name, err)
	}
	b, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: opening the %s bucket: %w", name, err)
	}
	return st, b, nil
}

// lastValue returns the value and revision of a bucket key, read from the
// leader: nil and the revision to expect for a missing or deleted key (0
// if it was never written, the delete marker's otherwise). nats.go's Get
// hides a marker's revision, which the next write must expect.
func lastValue(ctx context.Context, st jetstream.Stream, bucket, key string) ([]byte, uint64, error) {
	m, err := st.GetLastMsgForSubject(ctx, "$KV."+bucket+"."+key)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	}
	if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return nil, m.Sequence, nil
	}
	v := m.Data
	if v == nil {
		v = []byte{}
	}
	return v, m.Sequence, nil
}

// scanBucket calls f with each live key of a bucket that matches filter
// (relative to the bucket, wildcards allowed) and its value, read from the
// leader one message at a time: a bucket keeps one message per key, and a
// consumer per listing would cost a cluster-wide proposal each time.
func scanBucket(ctx context.Context, st jetstream.Stream, bucket, filter string, f func(key string, value []byte)) error {
	prefix := "$KV." + bucket + "."
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(prefix+filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		seq = m.Sequence + 1
		if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			continue
		}
		f(strings.TrimPrefix(m.Subject, prefix), m.Data)
	}
}

// createOrUpdateStream makes a stream, or brings an existing one to cfg.
// It retries while the cluster has no meta leader yet, as just after start.
func createOrUpdateStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	for {
		attempt, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		s, err := js.CreateOrUpdateStream(attempt, cfg)
		cancel()
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrJetStreamNotEnabled) &&
			!errors.Is(err, jetstream.ErrNoStreamResponse) && !isTransient(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isTransient reports errors a cluster gives while it elects leaders.
func isTransient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// 10005: no suitable peers, while a cluster's nodes find each
		// other after a start.
		return apiErr.Code == 503 || apiErr.ErrorCode == 10005
	}
	return strings.Contains(err.Error(), "no responders")
}
