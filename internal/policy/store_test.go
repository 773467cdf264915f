package policy

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write and rename, as an editor or a config manager does, so a reader
	// never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestStoreReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, file, "roles:\n  guest: {tools: [echo]}\n")
	s, err := NewStore(file)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != file {
		t.Errorf("Path() = %q", s.Path())
	}
	first := s.Current()
	if !first.Permits([]string{"guest"}, "echo") {
		t.Fatal("the first policy does not permit echo")
	}

	// A broken file: Reload fails, naming the line, and the old policy stays.
	writeFile(t, file, "roles:\n  guest: {tools: [echo]}\n  analyst: {tool: [fetch]}\n")
	err = s.Reload()
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 3 || !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Reload of a broken file: %v, want an unknown key at line 3", err)
	}
	if s.Current() != first {
		t.Fatal("a failed reload replaced the policy")
	}

	// A missing file: the same.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reload of a missing file: %v", err)
	}
	if s.Current() != first {
		t.Fatal("a failed reload replaced the policy")
	}

	// A good file: swapped in; a policy read before keeps its grants.
	writeFile(t, file, "roles:\n  guest: {tools: [echo]}\n  analyst: {tools: [fetch]}\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if cur := s.Current(); cur == first || !cur.Permits([]string{"analyst"}, "fetch") {
		t.Fatal("the good policy was not swapped in")
	}
	if first.Permits([]string{"analyst"}, "fetch") {
		t.Fatal("the old policy changed")
	}
}

func TestNewStoreFails(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewStore(filepath.Join(dir, "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "roles: {a: {limits: {timeout: 30}}}\n")
	if _, err := NewStore(bad); !errors.Is(err, ErrType) {
		t.Errorf("bad file: %v", err)
	}
}

// TestStoreHammer reloads good and broken files while readers use the
// policy; run with -race. Every policy a reader sees is a complete one.
func TestStoreHammer(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	good := []string{
		"roles:\n  r: {tools: [echo], limits: {timeout: 1s}}\n",
		"roles:\n  r: {tools: [echo, fetch], limits: {timeout: 2s}}\n",
	}
	writeFile(t, file, good[0])
	s, err := NewStore(file)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := s.Current()
				g := p.Grants([]string{"r"})
				if !g.Permits("echo") || g.Limits.Timeout == 0 {
					t.Errorf("an incomplete policy: %+v", g)
					return
				}
			}
		})
	}
	var reloaders sync.WaitGroup
	for w := range 2 {
		reloaders.Go(func() {
			for i := range rounds {
				_ = s.Reload() // broken or not: readers must never notice
				if w == 0 {
					if i%3 == 2 {
						writeFile(t, file, "roles:\n  r: {tools: [echo], limits: {timeout: 30}}\n")
					} else {
						writeFile(t, file, good[i%2])
					}
				}
			}
		})
	}
	reloaders.Wait()
	close(stop)
	wg.Wait()
}
