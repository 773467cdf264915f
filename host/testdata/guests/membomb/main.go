// Command membomb is a test guest: it allocates 1 MiB slices and keeps them
// all, until memory runs out.
package main

import "github.com/capstream/capstream/sdk"

// kept holds every slice, so none can be collected.
var kept [][]byte

func init() {
	sdk.Register(sdk.Tool[struct{}, struct{}]{
		Name:        "membomb",
		Description: "Test guest: allocates and keeps 1 MiB slices forever.",
		Run: func(*sdk.Call, struct{}) (struct{}, error) {
			for {
				b := make([]byte, 1<<20)
				b[len(b)-1] = 1 // touch it
				kept = append(kept, b)
			}
		},
	})
}

func main() {}
