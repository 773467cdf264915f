// Command spin is a test guest: it loops forever without calling the host,
// so only the deadline can end it.
package main

import "github.com/capstream/capstream/sdk"

// spins keeps the loop observable, so the compiler keeps it.
var spins uint64

func init() {
	sdk.Register(sdk.Tool[struct{}, struct{}]{
		Name:        "spin",
		Description: "Test guest: loops forever with no host calls.",
		Run: func(*sdk.Call, struct{}) (struct{}, error) {
			for {
				spins++
			}
		},
	})
}

func main() {}
