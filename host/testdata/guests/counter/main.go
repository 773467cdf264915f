// Command counter is a test guest: it counts its runs in a package-level
// variable, so a fresh instance per call always answers {"count":1}.
package main

import "github.com/capstream/capstream/sdk"

// runs counts the runs this instance has seen.
var runs int

// Output is the number of runs.
type Output struct {
	Count int `json:"count"`
}

func init() {
	sdk.Register(sdk.Tool[struct{}, Output]{
		Name:        "counter",
		Description: "Test guest: counts the runs of its instance; a fresh instance says 1.",
		Run: func(*sdk.Call, struct{}) (Output, error) {
			runs++
			return Output{Count: runs}, nil
		},
	})
}

func main() {}
