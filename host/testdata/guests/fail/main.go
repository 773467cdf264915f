// Command fail is a test guest: it returns the error "nope", which the host
// reports as a tool_error.
package main

import (
	"errors"

	"github.com/capstream/capstream/sdk"
)

func init() {
	sdk.Register(sdk.Tool[struct{}, struct{}]{
		Name:        "fail",
		Description: `Test guest: fails with the tool error "nope".`,
		Run: func(*sdk.Call, struct{}) (struct{}, error) {
			return struct{}{}, errors.New("nope")
		},
	})
}

func main() {}
