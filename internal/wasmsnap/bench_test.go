package wasmsnap

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/capstream/capstream/internal/testwasm"
)

// benchCalls measures one call of echo in a fresh instance of c:
// instantiate, initialize if init, capstream_run, close.
func benchCalls(b *testing.B, rt wazero.Runtime, c wazero.CompiledModule, init bool) {
	benchCallsCtx(b, context.Background(), rt, c, init)
}

func benchCallsCtx(b *testing.B, ctx context.Context, rt wazero.Runtime, c wazero.CompiledModule, init bool) {
	cfg := sysConfig()
	b.ReportAllocs()
	for b.Loop() {
		rc, st, err := call(ctx, rt, c, cfg, init, `{"text":"hi"}`)
		if err != nil || rc != 0 || string(st.output) != `{"text":"hi"}` {
			b.Fatalf("returned %d, %v: %s", rc, err, st.output)
		}
	}
}

// BenchmarkInstantiate measures a call of the Go-built echo tool with and
// without a snapshot.
func BenchmarkInstantiate(b *testing.B) {
	rt := newGoRuntime(b)
	original := testwasm.Go(b, "plugins/echo")
	snap, err := Snapshot(context.Background(), rt, original, sysConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("original+init", func(b *testing.B) { benchCalls(b, rt, compile(b, rt, original), true) })
	b.Run("snapshot", func(b *testing.B) { benchCalls(b, rt, compile(b, rt, snap), false) })
	// As the engine can run it: linear memories reused, cleared on release.
	b.Run("snapshot+pooled-memory", func(b *testing.B) {
		ctx := experimental.WithMemoryAllocator(context.Background(), &memoryPool{})
		benchCallsCtx(b, ctx, rt, compile(b, rt, snap), false)
	})
}

// memoryPool is a wazero memory allocator that reuses the memories of
// closed instances, cleared.
type memoryPool struct{ pool sync.Pool }

func (p *memoryPool) Allocate(_, max uint64) experimental.LinearMemory {
	return &pooledMemory{pool: p, max: max}
}

// pooledMemory is a linear memory whose bytes past its length are zero.
type pooledMemory struct {
	pool *memoryPool
	buf  []byte
	max  uint64
}

func (m *pooledMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if m.buf == nil {
		if b, ok := m.pool.pool.Get().(*[]byte); ok {
			m.buf = *b
		}
	}
	if uint64(cap(m.buf)) < size {
		b := make([]byte, size, max(size, 2*uint64(cap(m.buf))))
		copy(b, m.buf)
		m.buf = b
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *pooledMemory) Free() {
	clear(m.buf)
	b := m.buf[:0]
	m.buf = nil
	m.pool.pool.Put(&b)
}

// BenchmarkMergeGap measures calls of echo snapshots built with different
// merge gaps (see mergeGap), reporting their data segments and size.
func BenchmarkMergeGap(b *testing.B) {
	ctx := context.Background()
	rt := newGoRuntime(b)
	original := testwasm.Go(b, "plugins/echo")
	instrumented, globals, err := Instrument(original)
	if err != nil {
		b.Fatal(err)
	}
	mod, err := rt.InstantiateModule(ctx, compile(b, rt, instrumented), sysConfig())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := mod.ExportedFunction(InitializeExport).Call(ctx); err != nil {
		b.Fatal(err)
	}
	memory, values, err := Capture(mod, globals)
	if err != nil {
		b.Fatal(err)
	}
	mod.Close(ctx)
	nonZero := 0
	for _, c := range memory {
		if c != 0 {
			nonZero++
		}
	}
	b.Logf("memory after initialization: %d bytes, %d of them non-zero", len(memory), nonZero)
	for _, gap := range []int{1, 8, 16, 32, 64, 128, 256, 512, 1024, 4096} {
		snap, err := build(original, memory, values, gap)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint("gap=", gap), func(b *testing.B) {
			benchCalls(b, rt, compile(b, rt, snap), false)
			rs := runs(memory, gap)
			data := 0
			for _, r := range rs {
				data += r.end - r.start
			}
			b.ReportMetric(float64(len(rs)), "segments")
			b.ReportMetric(float64(data), "data-bytes")
			b.ReportMetric(float64(len(snap)), "module-bytes")
		})
	}
}

// BenchmarkBuild measures building echo's snapshot from its state, the
// load-time cost besides compiling.
func BenchmarkBuild(b *testing.B) {
	ctx := context.Background()
	rt := newGoRuntime(b)
	original := testwasm.Go(b, "plugins/echo")
	instrumented, globals, err := Instrument(original)
	if err != nil {
		b.Fatal(err)
	}
	mod, err := rt.InstantiateModule(ctx, compile(b, rt, instrumented), sysConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer mod.Close(ctx)
	if _, err := mod.ExportedFunction(InitializeExport).Call(ctx); err != nil {
		b.Fatal(err)
	}
	memory, values, err := Capture(mod, globals)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(memory)))
	for b.Loop() {
		if _, err := Build(original, memory, values); err != nil {
			b.Fatal(err)
		}
	}
}
