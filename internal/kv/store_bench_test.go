package kv

import (
	"fmt"
	"testing"
)

// BenchmarkSet measures one durable write (one fsynced transaction).
func BenchmarkSet(b *testing.B) {
	ctx := b.Context()
	s, _ := openTest(b, Options{})
	value := make([]byte, 128)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Set(ctx, "tool/bench", fmt.Sprintf("key%d", i%1000), value, 1<<20); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGet measures a read of one of 1000 keys, from many goroutines.
func BenchmarkGet(b *testing.B) {
	ctx := b.Context()
	s, _ := openTest(b, Options{})
	value := make([]byte, 128)
	for i := range 1000 {
		if err := s.Set(ctx, "tool/bench", fmt.Sprintf("key%d", i), value, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Get(ctx, "tool/bench", fmt.Sprintf("key%d", i%1000)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
