package kv_test

import (
	"path/filepath"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/kv"
	"github.com/capstream/capstream/internal/kv/kvtest"
)

// TestConformance runs the host.KV suite against a bbolt store, seen twice.
func TestConformance(t *testing.T) {
	kvtest.Run(t, kvtest.Config{
		Open: func(t *testing.T) (host.KV, host.KV) {
			s, err := kv.Open(filepath.Join(t.TempDir(), "kv.db"), kv.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, s
		},
		Usage: func(t *testing.T, s host.KV, ns string) int64 {
			n, err := s.(*kv.Store).Usage(ns)
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
	})
}
