package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppendFanout appends b.N events to a log read by N subscribers,
// and waits for every subscriber to have read them all.
func BenchmarkAppendFanout(b *testing.B) {
	data := json.RawMessage(`{"level":"info","message":"a line of log output"}`)
	for _, n := range []int{0, 1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			l := NewLog("c1", LogConfig{MaxEvents: -1, MaxBytes: -1})
			var wg sync.WaitGroup
			for range n {
				sub := l.Subscribe(0)
				wg.Go(func() {
					for {
						if _, err := sub.Next(context.Background()); err != nil {
							return
						}
					}
				})
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := l.Append("host.log", now, data); err != nil {
					b.Fatal(err)
				}
			}
			l.Append("call.completed", now, nil)
			wg.Wait()
		})
	}
}

// discard is a ResponseWriter that flushes into nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) Flush()                      {}

// BenchmarkWriterEvent frames and flushes one event.
func BenchmarkWriterEvent(b *testing.B) {
	w, err := NewWriter(&discard{h: http.Header{}}, WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	e := Event{Type: "host.log", Call: "c1", Seq: 1, Time: time.Now(), Data: json.RawMessage(`{"level":"info","message":"a line of log output"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Event(e); err != nil {
			b.Fatal(err)
		}
	}
}
