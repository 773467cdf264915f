// Command random is a test guest: it reports what its random sources
// produce, so that tests can check that pre-initialized instances do not
// repeat them from call to call.
package main

import (
	crand "crypto/rand"
	"encoding/hex"
	randv1 "math/rand"
	"math/rand/v2"
	"strings"

	"github.com/capstream/capstream/sdk"
)

// Output holds one draw of each source.
type Output struct {
	V2       uint64 `json:"v2"`       // math/rand/v2
	V1       int64  `json:"v1"`       // math/rand
	Crypto   string `json:"crypto"`   // crypto/rand, hex
	MapOrder string `json:"mapOrder"` // the order in which ranging over a new map visits its keys
	InitMap  string `json:"initMap"`  // the same for a map made during initialization
	Select   string `json:"select"`   // which of two ready cases select takes, 32 times
	Fixed    uint64 `json:"fixed"`    // a ChaCha8 generator seeded with a constant during initialization
}

// fixed is seeded with a constant: its sequence must not change.
var fixed = rand.NewChaCha8([32]byte{'c', 'a', 'p', 's', 't', 'r', 'e', 'a', 'm'})

var initMap = newMap()

func newMap() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Split("abcdefghijklmnop", "") {
		m[k] = true
	}
	return m
}

func order(m map[string]bool) string {
	var b strings.Builder
	for k := range m {
		b.WriteString(k)
	}
	return b.String()
}

func init() {
	sdk.Register(sdk.Tool[struct{}, Output]{
		Name:        "random",
		Description: "Test guest: reports what its random sources produce.",
		Run: func(*sdk.Call, struct{}) (Output, error) {
			b := make([]byte, 8)
			crand.Read(b)
			a, c := make(chan struct{}, 1), make(chan struct{}, 1)
			var sel strings.Builder
			for range 32 {
				a <- struct{}{}
				c <- struct{}{}
				select {
				case <-a:
					sel.WriteByte('a')
					<-c
				case <-c:
					sel.WriteByte('c')
					<-a
				}
			}
			return Output{
				V2: rand.Uint64(), V1: randv1.Int63(), Crypto: hex.EncodeToString(b),
				MapOrder: order(newMap()), InitMap: order(initMap), Select: sel.String(),
				Fixed: fixed.Uint64(),
			}, nil
		},
	})
}

func main() {}
