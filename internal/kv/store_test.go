package kv

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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
	ctx := t.Context()
	t.Helper()
	if err := s.Set(ctx, ns, key, []byte(value), 0); err != nil {
		t.Fatalf("Set(%q, %q): %v", ns, key, err)
	}
}

func wantGet(t testing.TB, s *Store, ns, key, want string) {
	ctx := t.Context()
	t.Helper()
	got, err := s.Get(ctx, ns, key)
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
	ctx := t.Context()
	t.Helper()
	got, err := s.List(ctx, ns, prefix, limit)
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

// FuzzIsolation checks that two distinct (namespace, key) pairs never see
// each other's value, and that deleting both empties their namespaces.
func FuzzIsolation(f *testing.F) {
	ctx := f.Context()
	f.Add("a", "b/c", "a/b", "c")
	f.Add("a/b", "c", "a/bc", "c")
	f.Add("x", "\x00", "x\x00", "\x00")
	f.Add("same", "k1", "same", "k2")
	s, _ := openTest(f, Options{})
	f.Fuzz(func(t *testing.T, ns1, key1, ns2, key2 string) {
		if ns1 == ns2 && key1 == key2 {
			return
		}
		if err := s.Set(ctx, ns1, key1, []byte("one"), 0); err != nil {
			return // Invalid namespace or key.
		}
		if err := s.Set(ctx, ns2, key2, []byte("two"), 0); err == nil {
			wantGet(t, s, ns1, key1, "one")
			wantGet(t, s, ns2, key2, "two")
			if _, err := s.Delete(ctx, ns2, key2); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Delete(ctx, ns1, key1); err != nil {
			t.Fatal(err)
		}
		wantUsage(t, s, ns1, 0)
		wantList(t, s, ns1, "", 0)
	})
}

func TestValidation(t *testing.T) {
	ctx := t.Context()
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
			err := s.Set(ctx, tt.ns, tt.key, make([]byte, tt.value), 0)
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
			if _, err := s.Get(ctx, tt.ns, tt.key); !errors.Is(err, tt.wantSetErr) {
				t.Errorf("Get: err = %v, want %v", err, tt.wantSetErr)
			}
			if _, err := s.Delete(ctx, tt.ns, tt.key); !errors.Is(err, tt.wantSetErr) {
				t.Errorf("Delete: err = %v, want %v", err, tt.wantSetErr)
			}
		})
	}
}
