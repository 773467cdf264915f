package kv

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	goleak.VerifyTestMain(m)
}

// openTest opens a store in a fresh directory (two levels that do not exist
// yet) and closes it when the test ends.
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "kv", "store.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func mustSet(t testing.TB, s *Store, ns, key, value string) {
	t.Helper()
	if err := s.Set(ns, key, []byte(value), 0); err != nil {
		t.Fatalf("Set(%q, %q): %v", ns, key, err)
	}
}

func wantGet(t testing.TB, s *Store, ns, key, want string) {
	t.Helper()
	got, err := s.Get(ns, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", ns, key, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q, %q) = %q, want %q", ns, key, got, want)
	}
}

func wantUsage(t testing.TB, s *Store, ns string, want int64) {
	t.Helper()
	got, err := s.Usage(ns)
	if err != nil {
		t.Fatalf("Usage(%q): %v", ns, err)
	}
	if got != want {
		t.Fatalf("Usage(%q) = %d, want %d", ns, got, want)
	}
}

func wantList(t testing.TB, s *Store, ns, prefix string, limit int, want ...string) {
	t.Helper()
	got, err := s.List(ns, prefix, limit)
	if err != nil {
		t.Fatalf("List(%q, %q, %d): %v", ns, prefix, limit, err)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q, %q, %d) = %q, want %q", ns, prefix, limit, got, want)
	}
}

func TestBasics(t *testing.T) {
	s, _ := openTest(t, Options{})
	const ns = "notes/alice"

	if _, err := s.Get(ns, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
	wantList(t, s, ns, "", 0)
	wantUsage(t, s, ns, 0)

	mustSet(t, s, ns, "b", "2")
	mustSet(t, s, ns, "a", "1")
	mustSet(t, s, ns, "ab", "12")
	mustSet(t, s, ns, "é", "unicode")
	mustSet(t, s, ns, "empty", "")
	wantGet(t, s, ns, "a", "1")
	wantGet(t, s, ns, "empty", "")
	wantGet(t, s, ns, "é", "unicode")

	wantList(t, s, ns, "", 0, "a", "ab", "b", "empty", "é")
	wantList(t, s, ns, "a", 0, "a", "ab")
	wantList(t, s, ns, "", 2, "a", "ab")
	wantList(t, s, ns, "zz", 0)

	// Get returns a copy: changing it changes nothing stored. (The value
	// is large enough to live in the memory-mapped file, not inline.)
	big := strings.Repeat("b", 5000)
	mustSet(t, s, "big", "k", big)
	v, _ := s.Get("big", "k")
	v[0] = 'X'
	wantGet(t, s, "big", "k", big)

	existed, err := s.Delete(ns, "a")
	if err != nil || !existed {
		t.Fatalf("Delete(a) = %v, %v; want true, nil", existed, err)
	}
	existed, err = s.Delete(ns, "a")
	if err != nil || existed {
		t.Fatalf("second Delete(a) = %v, %v; want false, nil", existed, err)
	}
	if _, err := s.Get(ns, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	wantList(t, s, ns, "", 0, "ab", "b", "empty", "é")
}

// TestNamespaceIsolation writes the same keys into namespaces that are
// prefixes of each other, and pairs whose naive concatenation would collide,
// and checks that each namespace sees only its own data.
func TestNamespaceIsolation(t *testing.T) {
	s, _ := openTest(t, Options{})
	namespaces := []string{
		"a", "a/", "a/b", "a/bc", "a/b/c", "a/b\x00", "a/b\x00c", "a\x00b", "b",
		"tool/alice", "tool/alice2", "tool", "tool/", "ä/ö", "\xff\xfe",
	}
	keys := []string{"c", "b/c", "/c", "\x00c", "k", "bc"}
	value := func(ns, key string) string { return strconv.Quote(ns) + "|" + strconv.Quote(key) }

	for _, ns := range namespaces {
		for _, key := range keys {
			mustSet(t, s, ns, key, value(ns, key))
		}
	}
	sortedKeys := slices.Sorted(slices.Values(keys))
	for _, ns := range namespaces {
		var usage int64
		for _, key := range keys {
			wantGet(t, s, ns, key, value(ns, key))
			usage += int64(len(key) + len(value(ns, key)))
		}
		wantUsage(t, s, ns, usage)
		wantList(t, s, ns, "", 0, sortedKeys...)
	}

	// Emptying one namespace leaves its neighbours untouched.
	for _, key := range keys {
		if _, err := s.Delete("a/b", key); err != nil {
			t.Fatal(err)
		}
	}
	wantList(t, s, "a/b", "", 0)
	wantUsage(t, s, "a/b", 0)
	for _, ns := range []string{"a", "a/", "a/bc", "a/b/c", "a/b\x00"} {
		wantGet(t, s, ns, "c", value(ns, "c"))
		wantList(t, s, ns, "", 0, sortedKeys...)
	}

	// A namespace that was never written sees nothing, even one that is a
	// concatenation of a namespace and a key.
	for _, ns := range []string{"a/c", "ac", "a/bcc", "tool/alicek"} {
		if _, err := s.Get(ns, "c"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q, c): err = %v, want ErrNotFound", ns, err)
		}
		wantList(t, s, ns, "", 0)
	}
}

// FuzzIsolation checks that two distinct (namespace, key) pairs never see
// each other's value, and that deleting both empties their namespaces.
func FuzzIsolation(f *testing.F) {
	f.Add("a", "b/c", "a/b", "c")
	f.Add("a/b", "c", "a/bc", "c")
	f.Add("x", "\x00", "x\x00", "\x00")
	f.Add("same", "k1", "same", "k2")
	s, _ := openTest(f, Options{})
	f.Fuzz(func(t *testing.T, ns1, key1, ns2, key2 string) {
		if ns1 == ns2 && key1 == key2 {
			return
		}
		if err := s.Set(ns1, key1, []byte("one"), 0); err != nil {
			return // Invalid namespace or key.
		}
		if err := s.Set(ns2, key2, []byte("two"), 0); err == nil {
			wantGet(t, s, ns1, key1, "one")
			wantGet(t, s, ns2, key2, "two")
			if _, err := s.Delete(ns2, key2); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Delete(ns1, key1); err != nil {
			t.Fatal(err)
		}
		wantUsage(t, s, ns1, 0)
		wantList(t, s, ns1, "", 0)
	})
}

func TestValidation(t *testing.T) {
	s, _ := openTest(t, Options{MaxKeyBytes: 8, MaxValueBytes: 16})
	tests := []struct {
		name       string
		ns, key    string
		value      int
		wantSetErr error // Get, Delete: ErrInvalidKey or ErrInvalidNamespace, else nil.
	}{
		{"empty key", "ns", "", 1, ErrInvalidKey},
		{"key too long", "ns", "123456789", 1, ErrInvalidKey},
		{"key invalid UTF-8", "ns", "a\xffb", 1, ErrInvalidKey},
		{"value too large", "ns", "k", 17, ErrValueTooLarge},
		{"empty namespace", "", "k", 1, ErrInvalidNamespace},
		{"namespace too long", strings.Repeat("n", MaxNamespaceBytes+1), "k", 1, ErrInvalidNamespace},
		{"longest key and value", "ns", "12345678", 16, nil},
		{"longest namespace", strings.Repeat("n", MaxNamespaceBytes), "k", 16, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Set(tt.ns, tt.key, make([]byte, tt.value), 0)
			if !errors.Is(err, tt.wantSetErr) || (err == nil) != (tt.wantSetErr == nil) {
				t.Fatalf("Set: err = %v, want %v", err, tt.wantSetErr)
			}
			if tt.wantSetErr == nil {
				return
			}
			if !strings.HasPrefix(tt.wantSetErr.Error(), "kv: ") {
				t.Errorf("sentinel %q lacks the kv: prefix", tt.wantSetErr)
			}
			if tt.ns != "" && len(tt.ns) <= MaxNamespaceBytes {
				wantUsage(t, s, tt.ns, 0) // Nothing was written.
			}
			if tt.wantSetErr == ErrValueTooLarge {
				return
			}
			if _, err := s.Get(tt.ns, tt.key); !errors.Is(err, tt.wantSetErr) {
				t.Errorf("Get: err = %v, want %v", err, tt.wantSetErr)
			}
			if _, err := s.Delete(tt.ns, tt.key); !errors.Is(err, tt.wantSetErr) {
				t.Errorf("Delete: err = %v, want %v", err, tt.wantSetErr)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	s, _ := openTest(t, Options{})
	if err := s.Set("ns", strings.Repeat("k", 1024), make([]byte, 1<<20), 0); err != nil {
		t.Fatalf("Set at the default limits: %v", err)
	}
	if err := s.Set("ns", strings.Repeat("k", 1025), nil, 0); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Set with a 1025-byte key: err = %v, want ErrInvalidKey", err)
	}
	if err := s.Set("ns", "k", make([]byte, 1<<20+1), 0); !errors.Is(err, ErrValueTooLarge) {
		t.Errorf("Set with a 1 MiB + 1 value: err = %v, want ErrValueTooLarge", err)
	}
}

// TestQuotaAccounting runs one sequence of writes against a 20-byte quota
// and checks the outcome and the usage after each step.
func TestQuotaAccounting(t *testing.T) {
	s, _ := openTest(t, Options{})
	const ns, quota = "tool/alice", 20
	steps := []struct {
		op, key, value string
		wantErr        error
		wantUsage      int64
	}{
		{"set", "a", "1234", nil, 5},
		{"set", "bb", "123456", nil, 13},
		{"set", "a", "12", nil, 11},                     // overwrite shrinks by 2
		{"set", "ccc", "1234567", ErrQuotaExceeded, 11}, // 21 > 20
		{"set", "ccc", "123456", nil, 20},               // exactly the quota
		{"set", "d", "1", ErrQuotaExceeded, 20},
		{"set", "a", "1", nil, 19},                // overwrite shrinks by 1
		{"set", "a", "12", nil, 20},               // overwrite grows by 1, to the quota
		{"set", "a", "123", ErrQuotaExceeded, 20}, // and no further
		{"set", "a", "xy", nil, 20},               // same size: allowed at the quota
		{"delete", "bb", "", nil, 12},
		{"delete", "bb", "", nil, 12}, // missing: no change
		{"set", "ee", "", nil, 14},    // an empty value costs its key
		{"delete", "a", "", nil, 11},
		{"delete", "ccc", "", nil, 2},
		{"delete", "ee", "", nil, 0},
	}
	for i, st := range steps {
		var err error
		if st.op == "set" {
			err = s.Set(ns, st.key, []byte(st.value), quota)
		} else {
			_, err = s.Delete(ns, st.key)
		}
		if !errors.Is(err, st.wantErr) || (err == nil) != (st.wantErr == nil) {
			t.Fatalf("step %d, %s %q: err = %v, want %v", i, st.op, st.key, err, st.wantErr)
		}
		got, err := s.Usage(ns)
		if err != nil {
			t.Fatal(err)
		}
		if got != st.wantUsage {
			t.Fatalf("step %d, %s %q: usage = %d, want %d", i, st.op, st.key, got, st.wantUsage)
		}
	}
	wantList(t, s, ns, "", 0)
}

// TestQuotaRefusalChangesNothing checks that a refused write leaves value,
// keys and usage as they were, in its own namespace and in others.
func TestQuotaRefusalChangesNothing(t *testing.T) {
	s, _ := openTest(t, Options{})
	const ns = "tool/bob"
	mustSet(t, s, ns, "k", "12345") // usage 6
	mustSet(t, s, "tool/other", "k", "x")

	for _, w := range []struct{ key, value string }{{"k", "123456"}, {"new", "1"}} {
		err := s.Set(ns, w.key, []byte(w.value), 6)
		if !errors.Is(err, ErrQuotaExceeded) {
			t.Fatalf("Set(%q) over quota: err = %v, want ErrQuotaExceeded", w.key, err)
		}
		wantGet(t, s, ns, "k", "12345")
		wantList(t, s, ns, "", 0, "k")
		wantUsage(t, s, ns, 6)
		wantGet(t, s, "tool/other", "k", "x")
		wantUsage(t, s, "tool/other", 2)
	}

	// A refused first write into an empty namespace leaves it empty.
	if err := s.Set("tool/new", "key", []byte("value"), 3); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("Set over quota into an empty namespace: err = %v", err)
	}
	wantList(t, s, "tool/new", "", 0)
	wantUsage(t, s, "tool/new", 0)

	// Above a lowered quota, shrinking is allowed and growing is not.
	if err := s.Set(ns, "k", []byte("1"), 1); err != nil {
		t.Fatalf("shrinking Set above the quota: %v", err)
	}
	wantUsage(t, s, ns, 2)
	if err := s.Set(ns, "k", []byte("12"), 1); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("growing Set above the quota: err = %v, want ErrQuotaExceeded", err)
	}
	wantGet(t, s, ns, "k", "1")
}
