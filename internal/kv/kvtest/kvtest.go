// Package kvtest is the conformance suite of host.KV: the contract every
// key-value store behind the kv_* host functions keeps, run against the
// bbolt store (internal/kv) and the JetStream bucket (internal/cluster).
package kvtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/kv"
)

// Config says how to make the store under test.
type Config struct {
	// Open returns two handles on one new, empty store with the default
	// limits (kv.DefaultMaxKeyBytes, kv.DefaultMaxValueBytes): two
	// replicas' views of a shared store, or the same store twice. The
	// suite writes through one and reads through the other.
	Open func(t *testing.T) (a, b host.KV)
	// Usage, if set, returns the bytes the store counts against ns's
	// quota, which the suite then checks after every step.
	Usage func(t *testing.T, s host.KV, ns string) int64
}

// Run runs the suite.
func Run(t *testing.T, cfg Config) {
	tests := []struct {
		name string
		f    func(*testing.T, Config)
	}{
		{"Basics", basics},
		{"ReadYourWrites", readYourWrites},
		{"NamespaceIsolation", namespaceIsolation},
		{"Validation", validation},
		{"QuotaAccounting", quotaAccounting},
		{"QuotaRefusalChangesNothing", quotaRefusal},
		{"QuotaUnderContention", quotaUnderContention},
		{"Hammer", hammer},
		{"ContextDone", contextDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, cfg) })
	}
}

func mustSet(t testing.TB, s host.KV, ns, key, value string) {
	t.Helper()
	if err := s.Set(t.Context(), ns, key, []byte(value), 0); err != nil {
		t.Fatalf("Set(%q, %q): %v", ns, key, err)
	}
}

func wantGet(t testing.TB, s host.KV, ns, key, want string) {
	t.Helper()
	got, err := s.Get(t.Context(), ns, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", ns, key, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q, %q) = %q, want %q", ns, key, got, want)
	}
}

func wantMissing(t testing.TB, s host.KV, ns, key string) {
	t.Helper()
	if _, err := s.Get(t.Context(), ns, key); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get(%q, %q): err = %v, want ErrNotFound", ns, key, err)
	}
}

func wantList(t testing.TB, s host.KV, ns, prefix string, limit int, want ...string) {
	t.Helper()
	got, err := s.List(t.Context(), ns, prefix, limit)
	if err != nil {
		t.Fatalf("List(%q, %q, %d): %v", ns, prefix, limit, err)
	}
	if got == nil {
		t.Fatalf("List(%q, %q, %d) = nil, want an empty slice", ns, prefix, limit)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q, %q, %d) = %q, want %q", ns, prefix, limit, got, want)
	}
}

func (c Config) wantUsage(t *testing.T, s host.KV, ns string, want int64) {
	t.Helper()
	if c.Usage == nil {
		return
	}
	if got := c.Usage(t, s, ns); got != want {
		t.Fatalf("usage of %q = %d, want %d", ns, got, want)
	}
}

func basics(t *testing.T, c Config) {
	ctx := t.Context()
	a, b := c.Open(t)
	const ns = "notes/alice"

	wantMissing(t, b, ns, "missing")
	wantList(t, b, ns, "", 0)
	c.wantUsage(t, b, ns, 0)

	mustSet(t, a, ns, "b", "2")
	mustSet(t, a, ns, "a", "1")
	mustSet(t, a, ns, "ab", "12")
	mustSet(t, a, ns, "é", "unicode")
	mustSet(t, a, ns, "empty", "")
	mustSet(t, a, ns, "\x7f", "del")
	wantGet(t, b, ns, "a", "1")
	wantGet(t, b, ns, "empty", "")
	wantGet(t, b, ns, "é", "unicode")

	// Byte order: "é" (0xc3 0xa9) sorts after "\x7f".
	wantList(t, b, ns, "", 0, "a", "ab", "b", "empty", "\x7f", "é")
	wantList(t, b, ns, "a", 0, "a", "ab")
	wantList(t, b, ns, "", 2, "a", "ab")
	wantList(t, b, ns, "zz", 0)
	wantList(t, b, ns, "\xc3", 0, "é") // a prefix need not be whole characters

	// Get returns a copy: changing it changes nothing stored.
	big := strings.Repeat("b", 5000)
	mustSet(t, a, "big", "k", big)
	v, _ := b.Get(ctx, "big", "k")
	v[0] = 'X'
	wantGet(t, b, "big", "k", big)

	mustSet(t, a, ns, "a", "overwritten")
	wantGet(t, b, ns, "a", "overwritten")

	existed, err := b.Delete(ctx, ns, "a")
	if err != nil || !existed {
		t.Fatalf("Delete(a) = %v, %v; want true, nil", existed, err)
	}
	existed, err = a.Delete(ctx, ns, "a")
	if err != nil || existed {
		t.Fatalf("second Delete(a) = %v, %v; want false, nil", existed, err)
	}
	wantMissing(t, a, ns, "a")
	wantList(t, a, ns, "", 0, "ab", "b", "empty", "\x7f", "é")

	// A deleted key can be written again.
	mustSet(t, b, ns, "a", "again")
	wantGet(t, a, ns, "a", "again")
}

// readYourWrites alternates writes and reads between the two handles: each
// read sees the write just acknowledged through the other.
func readYourWrites(t *testing.T, c Config) {
	ctx := t.Context()
	a, b := c.Open(t)
	const ns = "counter/alice"
	for i := range 50 {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		mustSet(t, w, ns, "n", strconv.Itoa(i))
		wantGet(t, r, ns, "n", strconv.Itoa(i))
		if i%10 == 9 {
			if _, err := w.Delete(ctx, ns, "n"); err != nil {
				t.Fatal(err)
			}
			wantMissing(t, r, ns, "n")
		}
	}
}

// namespaceIsolation writes the same keys into namespaces that are
// prefixes of each other, that hold a store's separators or wildcards, and
// pairs whose naive concatenation would collide; each sees only its own.
func namespaceIsolation(t *testing.T, c Config) {
	ctx := t.Context()
	a, b := c.Open(t)
	namespaces := []string{
		"a", "a/", "a/b", "a/bc", "a/b/c", "a/b\x00", "a/b\x00c", "a\x00b", "b",
		"tool/alice", "tool/alice2", "tool", "tool/", "ä/ö", "\xff\xfe",
		"*", ">", "a.b", "a.*", "a.>", ".", "..", "a b", "$KV", "d", "u", "tool/al\u200bice",
	}
	keys := []string{"c", "b/c", "/c", "\x00c", "k", "bc", "*", ">", ".", "a.b", "a.>", " ", "ключ"}
	value := func(ns, key string) string { return strconv.Quote(ns) + "|" + strconv.Quote(key) }

	for _, ns := range namespaces {
		for _, key := range keys {
			mustSet(t, a, ns, key, value(ns, key))
		}
	}
	sortedKeys := slices.Sorted(slices.Values(keys))
	for _, ns := range namespaces {
		var usage int64
		for _, key := range keys {
			wantGet(t, b, ns, key, value(ns, key))
			usage += int64(len(key) + len(value(ns, key)))
		}
		c.wantUsage(t, b, ns, usage)
		wantList(t, b, ns, "", 0, sortedKeys...)
	}

	// Emptying one namespace leaves its neighbours untouched.
	for _, key := range keys {
		if _, err := b.Delete(ctx, "a/b", key); err != nil {
			t.Fatal(err)
		}
	}
	wantList(t, a, "a/b", "", 0)
	c.wantUsage(t, a, "a/b", 0)
	for _, ns := range []string{"a", "a/", "a/bc", "a/b/c", "a/b\x00", "a.b", "*"} {
		wantGet(t, a, ns, "c", value(ns, "c"))
		wantList(t, a, ns, "", 0, sortedKeys...)
	}

	// A namespace never written sees nothing, even one that concatenates
	// a namespace and a key.
	for _, ns := range []string{"a/c", "ac", "a/bcc", "tool/alicek", "a.b.c", "a.c"} {
		wantMissing(t, a, ns, "c")
		wantList(t, a, ns, "", 0)
	}
}

func validation(t *testing.T, c Config) {
	ctx := t.Context()
	a, _ := c.Open(t)
	longNS := strings.Repeat("n", kv.MaxNamespaceBytes)
	tests := []struct {
		name       string
		ns, key    string
		value      int
		wantSetErr error // Get, Delete: ErrInvalidKey or ErrInvalidNamespace, else nil
	}{
		{"empty key", "ns", "", 1, kv.ErrInvalidKey},
		{"key too long", "ns", strings.Repeat("k", kv.DefaultMaxKeyBytes+1), 1, kv.ErrInvalidKey},
		{"key invalid UTF-8", "ns", "a\xffb", 1, kv.ErrInvalidKey},
		{"value too large", "ns", "k", kv.DefaultMaxValueBytes + 1, kv.ErrValueTooLarge},
		{"empty namespace", "", "k", 1, kv.ErrInvalidNamespace},
		{"namespace too long", longNS + "n", "k", 1, kv.ErrInvalidNamespace},
		{"longest key and value", "ns", strings.Repeat("k", kv.DefaultMaxKeyBytes), kv.DefaultMaxValueBytes, nil},
		{"longest namespace", longNS, strings.Repeat("é", kv.DefaultMaxKeyBytes/2), 16, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Set(ctx, tt.ns, tt.key, make([]byte, tt.value), 0)
			if !errors.Is(err, tt.wantSetErr) || (err == nil) != (tt.wantSetErr == nil) {
				t.Fatalf("Set: err = %v, want %v", err, tt.wantSetErr)
			}
			if tt.wantSetErr == nil {
				got, err := a.Get(ctx, tt.ns, tt.key)
				if err != nil || len(got) != tt.value {
					t.Fatalf("Get = %d bytes, %v; want %d", len(got), err, tt.value)
				}
				wantList(t, a, tt.ns, "", 0, tt.key)
				return
			}
			if tt.ns != "" && len(tt.ns) <= kv.MaxNamespaceBytes {
				c.wantUsage(t, a, tt.ns, 0) // nothing was written
			}
			if tt.wantSetErr == kv.ErrValueTooLarge {
				return
			}
			if _, err := a.Get(ctx, tt.ns, tt.key); !errors.Is(err, tt.wantSetErr) {
				t.Errorf("Get: err = %v, want %v", err, tt.wantSetErr)
			}
			if _, err := a.Delete(ctx, tt.ns, tt.key); !errors.Is(err, tt.wantSetErr) {
				t.Errorf("Delete: err = %v, want %v", err, tt.wantSetErr)
			}
		})
	}
}

// quotaAccounting runs one sequence of writes against a 20-byte quota,
// through both handles in turn.
func quotaAccounting(t *testing.T, c Config) {
	ctx := t.Context()
	a, b := c.Open(t)
	const ns, quota = "tool/alice", 20
	steps := []struct {
		op, key, value string
		wantErr        error
		wantUsage      int64
	}{
		{"set", "a", "1234", nil, 5},
		{"set", "bb", "123456", nil, 13},
		{"set", "a", "12", nil, 11},                        // overwrite shrinks by 2
		{"set", "ccc", "1234567", kv.ErrQuotaExceeded, 11}, // 21 > 20
		{"set", "ccc", "123456", nil, 20},                  // exactly the quota
		{"set", "d", "1", kv.ErrQuotaExceeded, 20},
		{"set", "a", "1", nil, 19},                   // overwrite shrinks by 1
		{"set", "a", "12", nil, 20},                  // overwrite grows by 1, to the quota
		{"set", "a", "123", kv.ErrQuotaExceeded, 20}, // and no further
		{"set", "a", "xy", nil, 20},                  // same size: allowed at the quota
		{"delete", "bb", "", nil, 12},
		{"delete", "bb", "", nil, 12}, // missing: no change
		{"set", "ee", "", nil, 14},    // an empty value costs its key
		{"delete", "a", "", nil, 11},
		{"delete", "ccc", "", nil, 2},
		{"delete", "ee", "", nil, 0},
	}
	for i, st := range steps {
		s := a
		if i%2 == 1 {
			s = b
		}
		var err error
		if st.op == "set" {
			err = s.Set(ctx, ns, st.key, []byte(st.value), quota)
		} else {
			_, err = s.Delete(ctx, ns, st.key)
		}
		if !errors.Is(err, st.wantErr) || (err == nil) != (st.wantErr == nil) {
			t.Fatalf("step %d, %s %q: err = %v, want %v", i, st.op, st.key, err, st.wantErr)
		}
		c.wantUsage(t, s, ns, st.wantUsage)
	}
	wantList(t, a, ns, "", 0)
}

// quotaRefusal checks that a refused write leaves value, keys and usage
// as they were, in its own namespace and in others.
func quotaRefusal(t *testing.T, c Config) {
	ctx := t.Context()
	a, b := c.Open(t)
	const ns = "tool/bob"
	mustSet(t, a, ns, "k", "12345") // usage 6
	mustSet(t, a, "tool/other", "k", "x")

	for _, w := range []struct{ key, value string }{{"k", "123456"}, {"new", "1"}} {
		err := b.Set(ctx, ns, w.key, []byte(w.value), 6)
		if !errors.Is(err, kv.ErrQuotaExceeded) {
			t.Fatalf("Set(%q) over quota: err = %v, want ErrQuotaExceeded", w.key, err)
		}
		wantGet(t, a, ns, "k", "12345")
		wantList(t, a, ns, "", 0, "k")
		c.wantUsage(t, a, ns, 6)
		wantGet(t, a, "tool/other", "k", "x")
		c.wantUsage(t, a, "tool/other", 2)
	}

	// A refused first write into an empty namespace leaves it empty.
	if err := b.Set(ctx, "tool/new", "key", []byte("value"), 3); !errors.Is(err, kv.ErrQuotaExceeded) {
		t.Fatalf("Set over quota into an empty namespace: err = %v", err)
	}
	wantList(t, a, "tool/new", "", 0)
	c.wantUsage(t, a, "tool/new", 0)
}

// quotaUnderContention has writers on both handles race to fill one
// namespace: the quota holds, and exactly as many writes as fit succeed.
func quotaUnderContention(t *testing.T, c Config) {
	ctx := t.Context()
	a, b := c.Open(t)
	const ns, quota = "tool/shared", 500
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 20 {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range 5 {
				err := s.Set(ctx, ns, fmt.Sprintf("g%02d-%02d", g, i), []byte("0123456789"), quota) // 16 bytes
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, kv.ErrQuotaExceeded):
					refused.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	keys, err := a.List(ctx, ns, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(keys)) != accepted.Load() || accepted.Load() != quota/16 {
		t.Errorf("%d keys stored, %d writes accepted, want %d of each", len(keys), accepted.Load(), quota/16)
	}
	if refused.Load() != 100-quota/16 {
		t.Errorf("%d writes refused, want %d", refused.Load(), 100-quota/16)
	}
	c.wantUsage(t, a, ns, int64(len(keys))*16)
}

// hammer runs many goroutines over many namespaces at once, several of
// them prefixes of others ("tool/user1", "tool/user10"); each namespace
// ends with exactly its own keys, values and usage.
func hammer(t *testing.T, c Config) {
	const namespaces, workers, writes = 24, 3, 9
	a, b := c.Open(t)
	value := func(ns, key string) []byte { return []byte(ns + "|" + key) }

	var wg sync.WaitGroup
	errs := make(chan error, namespaces*workers)
	for n := range namespaces {
		ns := fmt.Sprintf("tool/user%d", n)
		for w := range workers {
			s := a
			if (n+w)%2 == 1 {
				s = b
			}
			wg.Go(func() {
				if err := hammerWorker(t.Context(), s, ns, w, writes, value); err != nil {
					errs <- fmt.Errorf("%s worker %d: %w", ns, w, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for n := range namespaces {
		ns := fmt.Sprintf("tool/user%d", n)
		var want []string
		var usage int64
		for w := range workers {
			for i := range writes {
				if i%3 == 2 {
					continue // deleted by the worker
				}
				key := fmt.Sprintf("w%d/k%02d", w, i)
				want = append(want, key)
				usage += int64(len(key) + len(value(ns, key)))
				wantGet(t, a, ns, key, string(value(ns, key)))
			}
		}
		slices.Sort(want)
		wantList(t, b, ns, "", 0, want...)
		c.wantUsage(t, a, ns, usage)
	}
}

// hammerWorker writes its keys into ns one by one, deleting every third,
// and checks after each step that it reads back exactly its own keys.
func hammerWorker(ctx context.Context, s host.KV, ns string, w, writes int, value func(ns, key string) []byte) error {
	prefix := fmt.Sprintf("w%d/", w)
	var mine []string
	for i := range writes {
		key := fmt.Sprintf("%sk%02d", prefix, i)
		if err := s.Set(ctx, ns, key, value(ns, key), 0); err != nil {
			return err
		}
		got, err := s.Get(ctx, ns, key)
		if err != nil {
			return err
		}
		if string(got) != string(value(ns, key)) {
			return fmt.Errorf("Get(%q) = %q", key, got)
		}
		if i%3 == 2 {
			if existed, err := s.Delete(ctx, ns, key); err != nil || !existed {
				return fmt.Errorf("Delete(%q) = %v, %v", key, existed, err)
			}
		} else {
			mine = append(mine, key)
		}
		listed, err := s.List(ctx, ns, prefix, 0)
		if err != nil {
			return err
		}
		if !slices.Equal(listed, mine) {
			return fmt.Errorf("List(%q) = %q, want %q", prefix, listed, mine)
		}
		all, err := s.List(ctx, ns, "", 0)
		if err != nil {
			return err
		}
		for _, k := range all {
			if !strings.HasPrefix(k, "w") {
				return fmt.Errorf("List shows a foreign key %q", k)
			}
		}
	}
	return nil
}

// contextDone: an operation under a done context fails and writes nothing.
func contextDone(t *testing.T, c Config) {
	a, _ := c.Open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.Set(ctx, "ns", "k", []byte("v"), 0); err == nil {
		t.Fatal("Set under a cancelled context succeeded")
	}
	if _, err := a.Get(ctx, "ns", "k"); err == nil || errors.Is(err, kv.ErrNotFound) {
		t.Errorf("Get under a cancelled context: err = %v, want the context's", err)
	}
	wantMissing(t, a, "ns", "k")
	wantList(t, a, "ns", "", 0)
}
