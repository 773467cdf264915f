// Package sdk is the Go SDK for capstream tools: WebAssembly modules the
// capstream runtime runs, one fresh instance per call, under a capability
// derived from the caller's identity.
//
// A tool is a package main that registers one Tool from an init function:
//
//	package main
//
//	import "github.com/capstream/capstream/sdk"
//
//	type Input struct {
//		Text string `json:"text" jsonschema:"description=Text to echo back"`
//	}
//
//	type Output struct {
//		Text string `json:"text"`
//	}
//
//	func init() {
//		sdk.Register(sdk.Tool[Input, Output]{
//			Name: "echo", Title: "Echo", Description: "Returns its input.",
//			Run: func(c *sdk.Call, in Input) (Output, error) {
//				c.Log(sdk.LevelInfo, "echoing")
//				return Output{Text: in.Text}, nil
//			},
//		})
//	}
//
//	func main() {}
//
// and is built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm .
//
// The SDK provides the module's exports (capstream_run, capstream_manifest)
// and calls the host through the imports of sdk/ABI.md: the tool's input
// type is decoded from the call's input and its JSON Schema derived from
// the type (see Schema); Run's result is encoded as the call's result, its
// error becomes the call's tool_error. Inside Run, the *Call's methods log,
// report progress, stream output chunks, make HTTP requests, use the KV
// namespace and read the capability, each returning a refusal as an *Error.
//
// The runtime runs a tool's start-up (the Go runtime and every init) once,
// when it loads the tool, and starts every call from the state that left:
// what init computes is the same in every call, for every user. Only the
// runtime's random state is fresh in each call (math/rand/v2, math/rand's
// top-level functions, map iteration order, select), and crypto/rand reads
// the host on every call; a generator seeded, an ID or key made, or a time
// taken during init repeats, and so does the hash seed of a map made then.
// Make those in Run. sdk/ABI.md ("Randomness") has the details.
//
// Natively the package compiles too, without a host: package sdktest runs
// tools in plain go test against an in-memory one.
package sdk
