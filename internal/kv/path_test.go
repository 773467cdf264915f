package kv

import (
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kv.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Path(); got != path {
		t.Errorf("Path() = %q, want %q", got, path)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.Path(); got != path {
		t.Errorf("Path() after Close = %q, want %q", got, path)
	}
}
