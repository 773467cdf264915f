// Command panic is a test guest: it panics with "boom", which the host
// reports as a trap.
package main

import "github.com/capstream/capstream/sdk"

func init() {
	sdk.Register(sdk.Tool[struct{}, struct{}]{
		Name:        "panic",
		Description: `Test guest: panics with "boom".`,
		Run: func(*sdk.Call, struct{}) (struct{}, error) {
			panic("boom")
		},
	})
}

func main() {}
