package host

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// Linear memories.
//
// A pre-initialized Go tool starts every instance with megabytes of memory
// that are the same each time: the state its runtime reached at load time.
// Having wazero make each instance's memory (a fresh zeroed allocation, then
// a copy of every data segment) was most of the cost of a call, most of it
// the page faults of fresh memory. Instead the engine keeps those bytes once
// per tool, as a memory image, with a pool of memories already faulted in:
// a call takes one, copies the image over it and, when it ends, clears what
// it grew beyond the image and gives it back. A call never sees another's
// bytes: everything up to the image's length is overwritten by the image,
// everything after it is zero.
//
// Mapping the image copy-on-write (a memfd mapped privately per instance)
// was measured too: each page a call touched cost a fault of tens of
// microseconds on virtual machines, more than copying the whole image.

// memoryImage is the initial memory of every instance of a tool, shared by
// all of them and never written, and the pool of memories for them.
type memoryImage struct {
	bytes  []byte
	random []randomRange // random state, fresh in every instance (random.go)
	pool   sync.Pool     // *[]byte, cap >= len(bytes), zero past len(bytes)
}

// A pool keeps memories of up to maxPooled times its image, and of up to
// minPooled bytes whatever the image: one that grew further is left to the
// garbage collector, since clearing it would cost more than it saves.
const (
	maxPooled = 4
	minPooled = 1 << 20
)

// get returns a memory of size bytes (at least the image's) starting as the
// image, with fresh random state, zero after it.
func (im *memoryImage) get(size uint64) []byte {
	var b []byte
	if p, ok := im.pool.Get().(*[]byte); ok && uint64(cap(*p)) >= size {
		b = (*p)[:size]
	} else {
		b = make([]byte, size, max(size, uint64(len(im.bytes))))
	}
	copy(b, im.bytes)
	refresh(b, im.random)
	return b
}

// put gives back a memory that get returned, perhaps grown since.
func (im *memoryImage) put(b []byte) {
	if cap(b) > max(maxPooled*len(im.bytes), minPooled) || len(b) < len(im.bytes) {
		return
	}
	clear(b[len(im.bytes):]) // the image covers the rest on the next get
	b = b[:len(im.bytes)]
	im.pool.Put(&b)
}

// memoryLimit is the experimental.MemoryAllocator and the memory of one
// instance. It refuses to grow past the call's limit, so memory.grow returns
// -1, and remembers that it did so the call can end with memory_limit.
//
// wazero calls Free when it closes the instance, possibly from another
// goroutine (Engine.Close) while the guest still runs; so Free releases
// nothing, and the goroutine that ran the call calls release once the
// instance is closed.
type memoryLimit struct {
	limit   uint64
	image   *memoryImage // what the memory starts as; never nil
	refused bool
	buf     []byte // from image's pool
}

// Allocate implements experimental.MemoryAllocator.
func (m *memoryLimit) Allocate(_, _ uint64) experimental.LinearMemory { return m }

// Reallocate implements experimental.LinearMemory: it returns the memory at
// its new size, new bytes zero.
func (m *memoryLimit) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		return nil
	}
	if m.buf == nil && size >= uint64(len(m.image.bytes)) {
		m.buf = m.image.get(size)
		return m.buf
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size] // bytes past the old length were never written: zero
		return m.buf
	}
	grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.limit))
	copy(grown, m.buf)
	if m.buf != nil {
		m.image.put(m.buf) // wazero lets go of it
	}
	m.buf = grown
	return m.buf
}

// Free implements experimental.LinearMemory. See release.
func (m *memoryLimit) Free() {}

// release gives the memory back. Call it once the instance is closed, on
// the goroutine that ran the guest.
func (m *memoryLimit) release() {
	if m.buf != nil {
		m.image.put(m.buf)
	}
	m.buf = nil
}

var (
	_ experimental.MemoryAllocator = (*memoryLimit)(nil)
	_ experimental.LinearMemory    = (*memoryLimit)(nil)
)
