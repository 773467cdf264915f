package kv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()

	t.Run("invalid options", func(t *testing.T) {
		for _, opts := range []Options{
			{Timeout: -time.Second},
			{MaxKeyBytes: -1},
			{MaxKeyBytes: 40 << 10},
			{MaxValueBytes: -1},
		} {
			path := filepath.Join(dir, "invalid", "kv.db")
			if _, err := Open(path, opts); !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("Open(%+v): err = %v, want ErrInvalidOptions", opts, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open(%+v) with invalid options created the file", opts)
			}
		}
	})

	t.Run("locked", func(t *testing.T) {
		path := filepath.Join(dir, "locked.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open of a locked file: err = %v, want ErrLocked naming %s", err, path)
		}
		if _, err := Open(path, Options{ReadOnly: true, Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
			t.Fatalf("read-only Open of a file locked for writing: err = %v, want ErrLocked", err)
		}
	})

	t.Run("corrupt", func(t *testing.T) {
		for name, content := range map[string][]byte{
			"garbage": []byte(strings.Repeat("not a bbolt file ", 1000)),
			"zeroes":  make([]byte, 16<<10),
			"short":   []byte("x"),
			"page":    make([]byte, 4096),
		} {
			path := filepath.Join(dir, name+".db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open of %s: err = %v, want ErrCorrupt naming %s", name, err, path)
			}
			got, _ := os.ReadFile(path)
			if string(got) != string(content) {
				t.Errorf("Open of %s changed the file", name)
			}
		}
	})

	t.Run("read-only missing", func(t *testing.T) {
		path := filepath.Join(dir, "absent", "kv.db")
		if _, err := Open(path, Options{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Fatalf("read-only Open of a missing file: err = %v, want fs.ErrNotExist naming %s", err, path)
		}
		if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("read-only Open created the directory")
		}
	})

	t.Run("parent is a file", func(t *testing.T) {
		file := filepath.Join(dir, "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(file, "kv.db")
		if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open under a file: err = %v, want an error naming %s", err, path)
		}
	})
}

func TestReadOnly(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t, Options{})
	mustSet(t, s, "ns", "k", "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Two readers at once: the lock is shared.
	r1, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()

	if err := r1.Set(ctx, "ns", "k", []byte("w"), 0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Set on a read-only store: err = %v, want ErrReadOnly", err)
	}
	if err := r1.Set(ctx, "ns", "new", []byte("w"), 0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Set of a new key on a read-only store: err = %v, want ErrReadOnly", err)
	}
	if _, err := r1.Delete(ctx, "ns", "k"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete on a read-only store: err = %v, want ErrReadOnly", err)
	}
	for _, r := range []*Store{r1, r2} {
		wantGet(t, r, "ns", "k", "v")
		wantList(t, r, "ns", "", 0, "k")
		wantUsage(t, r, "ns", 2)
		if _, err := r.Get(ctx, "ns", "new"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of a key a refused Set wrote: err = %v, want ErrNotFound", err)
		}
	}
}

// TestReadOnlyBareFile opens read-only a bbolt file that holds no store yet.
func TestReadOnlyBareFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bare.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Get(t.Context(), "ns", "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get: err = %v, want ErrNotFound", err)
	}
	wantList(t, r, "ns", "", 0)
	wantUsage(t, r, "ns", 0)
}

// TestRefusedWriteCorruptsNothing makes the file system refuse every write
// (the file is opened without write access) and checks that writes fail
// with the cause, reads go on, and the file is intact afterwards.
func TestRefusedWriteCorruptsNothing(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t, Options{})
	mustSet(t, s, "ns", "k", "old")
	mustSet(t, s, "ns", "gone", "x")
	if _, err := s.Delete(ctx, "ns", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	readOnlyFile := func(name string, _ int, perm os.FileMode) (*os.File, error) {
		return os.OpenFile(name, os.O_RDONLY, perm)
	}
	s, err := open(path, Options{}, readOnlyFile)
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]func() error{
		"overwrite": func() error { return s.Set(ctx, "ns", "k", []byte("new"), 0) },
		"new key":   func() error { return s.Set(ctx, "ns", "k2", []byte("new"), 0) },
		"big value": func() error { return s.Set(ctx, "other", "k", make([]byte, 512<<10), 0) },
		"delete":    func() error { _, err := s.Delete(ctx, "ns", "k"); return err },
	}
	for name, write := range writes {
		err := write()
		if err == nil {
			t.Fatalf("%s: write succeeded on a file without write access", name)
		}
		// Growing the file fails in truncate, whose error bbolt flattens to
		// text; the other writes fail in write, whose error stays an
		// *fs.PathError.
		if pathErr := (*fs.PathError)(nil); !errors.As(err, &pathErr) && !strings.Contains(err.Error(), "truncate "+path) {
			t.Errorf("%s: err = %v, want it to carry the file system's error on %s", name, err, path)
		}
		wantGet(t, s, "ns", "k", "old")
		wantList(t, s, "ns", "", 0, "k")
		wantUsage(t, s, "ns", 4)
		wantUsage(t, s, "other", 0)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopening after refused writes: %v", err)
	}
	defer s.Close()
	wantGet(t, s, "ns", "k", "old")
	wantList(t, s, "ns", "", 0, "k")
	wantList(t, s, "other", "", 0)
	wantUsage(t, s, "ns", 4)
	mustSet(t, s, "ns", "k", "new")
	wantGet(t, s, "ns", "k", "new")
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	s, _ := openTest(t, Options{})
	mustSet(t, s, "ns", "k", "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, getErr := s.Get(ctx, "ns", "k")
	_, delErr := s.Delete(ctx, "ns", "k")
	_, listErr := s.List(ctx, "ns", "", 0)
	_, usageErr := s.Usage("ns")
	for name, err := range map[string]error{
		"Get": getErr, "Set": s.Set(ctx, "ns", "k", nil, 0), "Delete": delErr, "List": listErr, "Usage": usageErr,
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
}
