package host

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// putChaCha8 writes at m[off:] the state of a ChaCha8 generator seeded with
// seed that has returned used of its first 32 words, as the Go runtime lays
// it out.
func putChaCha8(m []byte, off int, seed [32]byte, used uint32) {
	g := rand.NewChaCha8(seed)
	le := binary.LittleEndian
	for w := range 32 {
		le.PutUint64(m[off+chachaBuf+8*w:], g.Uint64())
	}
	copy(m[off+chachaSeed:], seed[:])
	le.PutUint32(m[off+chachaI:], used)
	le.PutUint32(m[off+chachaN:], 32)
	le.PutUint32(m[off+chachaC:], 0)
}

func TestFindRandomState(t *testing.T) {
	a, b := make([]byte, 8192), make([]byte, 8192)
	// Seeded from random_get: a different key in each initialization, and
	// a different word after it (the runtime's cheaprand).
	putChaCha8(a, 1024, [32]byte{1}, 3)
	putChaCha8(b, 1024, [32]byte{2}, 3)
	a[1024+chachaFollower] = 7
	// Seeded from random_get, the same word after it (globalRand.init).
	putChaCha8(a, 2048, [32]byte{3}, 0)
	putChaCha8(b, 2048, [32]byte{4}, 0)
	// Seeded with a constant: the same in both.
	putChaCha8(a, 4096, [32]byte{5}, 1)
	putChaCha8(b, 4096, [32]byte{5}, 1)
	// Not a generator: one output word is not what the key gives.
	putChaCha8(a, 6144, [32]byte{6}, 0)
	putChaCha8(b, 6144, [32]byte{7}, 0)
	a[6144+40] ^= 1

	got := findRandomState(a, b)
	want := []randomRange{{1024, 288}, {1024 + 304, 8}, {2048, 288}}
	if !slices.Equal(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}

	// The ranges travel in a custom section, checked against the image.
	mod := appendRandomSection([]byte("\x00asm\x01\x00\x00\x00"), got)
	back, err := readRandomSection(mod, len(a))
	if err != nil || !slices.Equal(back, want) {
		t.Fatalf("read back %v, %v; want %v", back, err, want)
	}
	if _, err := readRandomSection(mod, 2000); !errors.Is(err, errRandomSection) {
		t.Fatalf("a range outside the image: %v, want %v", err, errRandomSection)
	}
	if r, err := readRandomSection([]byte("\x00asm\x01\x00\x00\x00"), len(a)); r != nil || err != nil {
		t.Fatalf("no section: %v, %v", r, err)
	}

	// Each instance gets fresh bytes there, and nowhere else.
	m1, m2 := slices.Clone(a), slices.Clone(a)
	refresh(m1, got)
	refresh(m2, got)
	for _, r := range got {
		if string(m1[r.Offset:r.Offset+r.Len]) == string(m2[r.Offset:r.Offset+r.Len]) {
			t.Fatalf("range %v is the same in two instances", r)
		}
		clear(m1[r.Offset : r.Offset+r.Len])
		clear(a[r.Offset : r.Offset+r.Len])
	}
	if !slices.Equal(m1, a) {
		t.Fatal("refresh changed bytes outside its ranges")
	}
}

// BenchmarkRefresh measures what fresh random state adds to a call: a Go
// tool has two generators, one with a word after it.
func BenchmarkRefresh(b *testing.B) {
	m := make([]byte, 4<<20)
	ranges := []randomRange{{1868768, 288}, {1869072, 8}, {1923080, 288}}
	for b.Loop() {
		refresh(m, ranges)
	}
}
