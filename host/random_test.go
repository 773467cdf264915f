package host_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/testwasm"
)

// randomOutput is what host/testdata/guests/random reports.
type randomOutput struct {
	V2       uint64 `json:"v2"`
	V1       int64  `json:"v1"`
	Crypto   string `json:"crypto"`
	MapOrder string `json:"mapOrder"`
	InitMap  string `json:"initMap"`
	Select   string `json:"select"`
	Fixed    uint64 `json:"fixed"`
}

// TestPreinitializedRandomness: a pre-initialized Go tool does not repeat
// its random numbers from call to call: math/rand/v2, math/rand, crypto/rand,
// the order of map iteration and of select are fresh in every instance,
// at a first start and at a restart, which reads the snapshot from the
// cache; a generator seeded with a constant keeps its sequence.
func TestPreinitializedRandomness(t *testing.T) {
	ctx := context.Background()
	cache := testwasm.CacheDir() // the snapshot is made here once: slow under -race
	wasm := testwasm.Go(t, "host/testdata/guests/random")
	want := rand.NewChaCha8([32]byte{'c', 'a', 'p', 's', 't', 'r', 'e', 'a', 'm'}).Uint64()
	for _, start := range []string{"first start", "restart"} {
		t.Run(start, func(t *testing.T) {
			e, err := host.New(ctx, host.Config{CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			tool, err := e.Load(ctx, "random.wasm", wasm)
			if err != nil {
				t.Fatal(err)
			}
			if len(host.RandomRanges(tool)) == 0 {
				t.Fatal("no random state found in the snapshot")
			}
			const calls = 4
			var outs []randomOutput
			for range calls {
				c := &capability.Capability{ID: "x", Subject: "alice", Tool: tool.Name, Limits: defaultLimits}
				res := e.Call(ctx, host.Invocation{Tool: tool, Capability: c, Input: json.RawMessage(`{}`)})
				var out randomOutput
				if res.Failure != nil || json.Unmarshal(res.Output, &out) != nil {
					t.Fatalf("output %s, failure %v", res.Output, res.Failure)
				}
				outs = append(outs, out)
			}
			// Numbers of 63 and 64 bits: two calls never draw the same.
			for i := 1; i < calls; i++ {
				a, b := outs[i-1], outs[i]
				if a.V2 == b.V2 || a.V1 == b.V1 || a.Crypto == b.Crypto {
					t.Fatalf("calls %d and %d drew the same numbers: %+v, %+v", i-1, i, a, b)
				}
			}
			// Orders may coincide now and then, but not in every call.
			same := func(field func(randomOutput) string) bool {
				for _, o := range outs[1:] {
					if field(o) != field(outs[0]) {
						return false
					}
				}
				return true
			}
			for name, field := range map[string]func(randomOutput) string{
				"a new map":               func(o randomOutput) string { return o.MapOrder },
				"a map made at init time": func(o randomOutput) string { return o.InitMap },
				"select":                  func(o randomOutput) string { return o.Select },
			} {
				if same(field) {
					t.Errorf("%s: the same order in %d calls: %q", name, calls, field(outs[0]))
				}
			}
			for i, o := range outs {
				if o.Fixed != want {
					t.Fatalf("call %d: a generator seeded with a constant drew %d, want %d", i, o.Fixed, want)
				}
			}
		})
	}
}
