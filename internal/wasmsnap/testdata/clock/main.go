// Command clock is a test guest for snapshots: it reports what it read of
// the clocks and of the random sources while it was initialized, and again
// while it runs, so a test can see what a snapshot instance inherits.
package main

import (
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"time"

	"github.com/capstream/capstream/sdk"
)

// Read during initialization, so kept in a snapshot.
var (
	initTime = time.Now()
	initRand = rand.Uint64()
)

// Output is what the guest read.
type Output struct {
	SinceInitNs int64  `json:"sinceInitNs"` // monotonic time since initTime
	InitWallNs  int64  `json:"initWallNs"`
	WallNs      int64  `json:"wallNs"`
	SleptNs     int64  `json:"sleptNs"` // how long time.Sleep(time.Millisecond) took
	InitRand    uint64 `json:"initRand"`
	RunRand     uint64 `json:"runRand"` // math/rand/v2, drawn in the run
	MapOrder    string `json:"mapOrder"`
	Crypto      string `json:"crypto"` // crypto/rand, drawn in the run
}

func run(*sdk.Call, struct{}) (Output, error) {
	now := time.Now()
	time.Sleep(time.Millisecond)
	slept := time.Since(now)
	b := make([]byte, 16)
	crand.Read(b)
	order := ""
	for k := range map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true, "f": true, "g": true, "h": true} {
		order += k
	}
	return Output{
		SinceInitNs: now.Sub(initTime).Nanoseconds(),
		InitWallNs:  initTime.UnixNano(),
		WallNs:      now.UnixNano(),
		SleptNs:     slept.Nanoseconds(),
		InitRand:    initRand,
		RunRand:     rand.Uint64(),
		MapOrder:    order,
		Crypto:      hex.EncodeToString(b),
	}, nil
}

func init() {
	sdk.Register(sdk.Tool[struct{}, Output]{
		Name:        "clock",
		Description: "Test guest: reports clocks and random numbers read at initialization and in the run.",
		Run:         run,
	})
}

func main() {}
