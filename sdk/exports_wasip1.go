//go:build wasip1

package sdk

import "github.com/capstream/capstream/sdk/abi"

// The module's exports (abi.ExportRun, abi.ExportManifest). The Go runtime
// provides memory and, with -buildmode=c-shared, _initialize, which runs
// every package's init functions, and so Register.

//go:wasmexport capstream_run
func capstreamRun() int32 { return invoke(wasmHost{}, nil, abi.ExportRun) }

//go:wasmexport capstream_manifest
func capstreamManifest() int32 { return invoke(wasmHost{}, nil, abi.ExportManifest) }
