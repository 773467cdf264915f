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
// Natively the package compiles too, without a host: package sdktest runs
// tools in plain go test against an in-memory one.
package sdk
