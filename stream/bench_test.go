package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppendFanout appends b.N events to a log read by N subscribers,
// and waits for every subscriber to have read them all. With 10,000 it is
// what an event of a call costs when BenchmarkIdleSubscribers' viewers
// watch it.
func BenchmarkAppendFanout(b *testing.B) {
	data := json.RawMessage(`{"level":"info","message":"a line of log output"}`)
	for _, n := range []int{0, 1, 10, 100, 10000} {
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

// BenchmarkIdleSubscribers is the stream package's share of an idle SSE
// viewer: 10,000 goroutines, each serving a subscription to one of ten live
// logs through a Writer (default heartbeat, 15 s) into a ResponseWriter that
// discards, waiting for the next event. It reports the memory they add,
// HeapInuse+StackInuse over a baseline after two GCs ("bytes/subscriber").
// The same benchmark in internal/httpapi measures a whole viewer, HTTP
// connection included.
func BenchmarkIdleSubscribers(b *testing.B) {
	const subscribers, calls = 10000, 10
	logs := make([]*Log, calls)
	for i := range logs {
		logs[i] = NewLog(fmt.Sprintf("c%d", i), LogConfig{})
		if _, err := logs[i].Append("call.started", time.Now(), json.RawMessage(`{"tool":"slow"}`)); err != nil {
			b.Fatal(err)
		}
	}
	// Once: a subscriber served this way writes the call to its end.
	rec := &recorder{discard: discard{h: http.Header{}}}
	w, err := NewWriter(rec, WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Serve(context.Background(), logs[0].Subscribe(0)) }()

	var perSub float64
	for b.Loop() {
		before := inUse()
		ctx, cancel := context.WithCancel(context.Background())
		var started, wg sync.WaitGroup
		for i := range subscribers {
			started.Add(1)
			wg.Go(func() {
				w, err := NewWriter(&discard{h: http.Header{}}, WriterConfig{})
				started.Done()
				if err != nil {
					panic(err)
				}
				w.Serve(ctx, logs[i%calls].Subscribe(0))
			})
		}
		started.Wait()
		time.Sleep(200 * time.Millisecond) // for every Serve to reach its wait
		perSub = float64(inUse()-before) / subscribers
		cancel()
		wg.Wait()
	}
	b.ReportMetric(perSub, "bytes/subscriber")
	b.ReportMetric(perSub*subscribers/(1<<20), "MiB/10k")

	for _, l := range logs {
		if _, err := l.Append("call.completed", time.Now(), json.RawMessage(`{"output":{"steps":1}}`)); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if got := rec.events; got != 2 {
		b.Fatalf("the subscriber wrote %d events, want 2 (started, completed)", got)
	}
}

// recorder counts the events written to it.
type recorder struct {
	discard
	mu     sync.Mutex
	events int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events += bytes.Count(p, []byte("\nevent: "))
	return len(p), nil
}

// inUse collects garbage twice (the second frees what the first one's
// finalizers let go) and returns HeapInuse+StackInuse: the spans of live
// objects with their fragmentation, and goroutine stacks. Sys would not do:
// the runtime keeps what it got from the OS, so it never goes down.
func inUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
