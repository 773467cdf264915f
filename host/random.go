package host

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	randv2 "math/rand/v2"
)

// Random state in pre-initialized memory.
//
// A Go runtime seeds its generators from WASI random_get while it starts,
// and a snapshot keeps what they hold then: without more, every instance of
// a pre-initialized Go tool would draw the same math/rand and math/rand/v2
// numbers and visit maps in the same order, call after call, user after
// user. A guest cannot reseed them itself (math/rand.Seed does nothing
// since Go 1.24, and the runtime's state is not reachable from a package),
// so the engine does it: it finds the generators' state in the snapshot's
// memory and gives every instance fresh random bytes there.
//
// The state sought is that of Go's ChaCha8 generator (internal/chacha8rand,
// the one behind runtime.rand, math/rand/v2 and math/rand's top-level
// functions): 32 output words, a 4-word key, then three uint32 counters.
// It is recognized by content, not by symbol (a Go module names no data):
// the output words must be exactly what the key produces at the position
// the counters give, which a region of 256 bytes matches by chance with
// probability 2^-2048. The snapshot's initialization is run twice, with
// different random sources; a generator at the same address in both whose
// key differs was seeded from random_get, and only those are refreshed, so
// a generator that a package seeded with a constant keeps its sequence.
// Where the eight bytes after such a generator differ between the two
// runs too, they are refreshed with it: in the runtime's per-thread state
// they are the seed of its cheap generator (which orders select's cases),
// in a math/rand/v2.ChaCha8 the buffer of a partial Read.
//
// What cannot be refreshed is listed in sdk/ABI.md: above all the hash
// seeds of maps made during initialization, which their contents depend on.

// chacha8 layout (internal/chacha8rand.State on 64-bit wasm).
const (
	chachaBuf      = 0   // [32]uint64: output words
	chachaSeed     = 256 // [4]uint64: the key of the next block
	chachaI        = 288 // uint32: the next output word
	chachaN        = 292 // uint32: the output words available
	chachaC        = 296 // uint32: the block counter: 0, 4, 8 or 12
	chachaRandom   = 288 // bytes of buf and seed, which fresh random bytes may replace
	chachaFollower = 304 // the 8 bytes after the state (after padding)
	chachaSize     = 312 // what a match needs in memory: the state and its follower
)

// randomRange is a range of a tool's memory image that holds random state,
// rewritten with fresh random bytes in every instance.
type randomRange struct {
	Offset, Len uint32
}

// findRandomState returns the ranges of random state in a and b, the
// memories of two initializations of the same module with different random
// sources (see above).
func findRandomState(a, b []byte) []randomRange {
	var out []randomRange
	n := min(len(a), len(b))
	for off := 0; off+chachaSize <= n; off += 8 {
		if !isChaCha8(a[off:]) || !isChaCha8(b[off:]) {
			continue
		}
		if string(a[off+chachaSeed:off+chachaI]) == string(b[off+chachaSeed:off+chachaI]) {
			continue // seeded with a constant: not ours to change
		}
		out = append(out, randomRange{uint32(off), chachaRandom})
		f := off + chachaFollower
		if string(a[f:f+8]) != string(b[f:f+8]) {
			out = append(out, randomRange{uint32(f), 8})
		}
		off += chachaRandom - 8
	}
	return out
}

// isChaCha8 reports whether m starts with the state of a ChaCha8
// generator: counters in range, and output words that are the ones its key
// produces at that counter.
func isChaCha8(m []byte) bool {
	le := binary.LittleEndian
	i, n, c := le.Uint32(m[chachaI:]), le.Uint32(m[chachaN:]), le.Uint32(m[chachaC:])
	switch {
	case c%4 != 0 || c > 12:
		return false
	case c == 12 && n != 28, c != 12 && n != 32:
		return false
	case i > n:
		return false
	}
	// math/rand/v2's ChaCha8 is the same generator, and takes a state as
	// "chacha8:", the number of words used, and the key.
	enc := make([]byte, 0, 48)
	enc = append(enc, "chacha8:"...)
	enc = binary.BigEndian.AppendUint64(enc, uint64(c/4*32))
	enc = append(enc, m[chachaSeed:chachaI]...)
	var g randv2.ChaCha8
	if g.UnmarshalBinary(enc) != nil {
		return false
	}
	for w := range n {
		if g.Uint64() != le.Uint64(m[chachaBuf+8*w:]) {
			return false
		}
	}
	return true
}

// randomSection is the custom section in which a snapshot carries its
// ranges of random state, so that a cached snapshot brings them along.
const randomSection = "capstream.random"

// appendRandomSection appends the custom section that lists ranges to a
// module: a count, then an offset and a length for each, all unsigned
// LEB128.
func appendRandomSection(wasm []byte, ranges []randomRange) []byte {
	p := binary.AppendUvarint(nil, uint64(len(randomSection)))
	p = append(p, randomSection...)
	p = binary.AppendUvarint(p, uint64(len(ranges)))
	for _, r := range ranges {
		p = binary.AppendUvarint(p, uint64(r.Offset))
		p = binary.AppendUvarint(p, uint64(r.Len))
	}
	out := append(wasm[:len(wasm):len(wasm)], 0) // custom section
	out = binary.AppendUvarint(out, uint64(len(p)))
	return append(out, p...)
}

var errRandomSection = errors.New("malformed " + randomSection + " section")

// readRandomSection returns the ranges a module's randomSection lists, nil
// if it has none, and checks that they lie within an image of size bytes.
func readRandomSection(wasm []byte, size int) ([]randomRange, error) {
	if len(wasm) < 8 {
		return nil, nil
	}
	rest := wasm[8:]
	for len(rest) > 0 {
		id := rest[0]
		n, k := binary.Uvarint(rest[1:])
		if k <= 0 || n > uint64(len(rest)-1-k) {
			return nil, nil // not for this function to judge: the compiler does
		}
		payload := rest[1+k : 1+k+int(n)]
		rest = rest[1+k+int(n):]
		if id != 0 {
			continue
		}
		nameLen, k := binary.Uvarint(payload)
		if k <= 0 || nameLen > uint64(len(payload)-k) || string(payload[k:k+int(nameLen)]) != randomSection {
			continue
		}
		return decodeRanges(payload[k+int(nameLen):], size)
	}
	return nil, nil
}

func decodeRanges(p []byte, size int) ([]randomRange, error) {
	next := func() (uint64, bool) {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			return 0, false
		}
		p = p[k:]
		return v, true
	}
	count, ok := next()
	if !ok || count > uint64(len(p)) {
		return nil, errRandomSection
	}
	ranges := make([]randomRange, 0, count)
	for range count {
		off, ok1 := next()
		n, ok2 := next()
		if !ok1 || !ok2 || off+n > uint64(size) {
			return nil, fmt.Errorf("%w: a range outside the %d bytes of memory", errRandomSection, size)
		}
		ranges = append(ranges, randomRange{uint32(off), uint32(n)})
	}
	if len(p) != 0 {
		return nil, errRandomSection
	}
	return ranges, nil
}

// refresh writes fresh random bytes over the ranges of b, a new instance's
// memory: one read of crypto/rand for the usual two generators.
func refresh(b []byte, ranges []randomRange) {
	var buf [2 * chachaSize]byte
	fresh := buf[:0]
	for _, r := range ranges {
		if int(r.Len) > len(fresh) {
			fresh = buf[:]
			if int(r.Len) > len(fresh) {
				fresh = make([]byte, r.Len)
			}
			rand.Read(fresh)
		}
		copy(b[r.Offset:r.Offset+r.Len], fresh)
		fresh = fresh[r.Len:]
	}
}
