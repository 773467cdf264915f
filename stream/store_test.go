package stream_test

import (
	"testing"

	"github.com/capstream/capstream/stream"
	"github.com/capstream/capstream/stream/storetest"
)

// TestMemoryStoreConformance runs the stream.Store suite on MemoryStore.
func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{Open: func(t *testing.T) (stream.Store, stream.Store) {
		reg, err := stream.NewRegistry(stream.RegistryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		s := stream.MemoryStore{Registry: reg}
		return s, s
	}})
}
