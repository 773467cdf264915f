// Package wasmsnap pre-initializes WebAssembly modules, in the manner of
// Wizer: it turns a module and the state of an instance of it after its
// initialization into a new module whose initial state is that state, so
// that instances of the new module need no initialization.
//
// It exists for Go-built reactors (GOOS=wasip1, -buildmode=c-shared), whose
// _initialize export runs the Go runtime's start-up and every package's
// init, and whose tens of thousands of data segments make each instance
// slow to set up. The steps are:
//
//  1. Instrument the module, so that an instance exports its mutable globals.
//  2. Instantiate the instrumented module with the host functions and module
//     configuration every call will have, and call _initialize.
//  3. Capture the instance's memory and globals, then close it.
//  4. Build the snapshot module from the original module and that state, and
//     compile it in place of the original. Instances of the snapshot start
//     where the initialized instance was, and must not be initialized again:
//     Build removes the _initialize export.
//
// A snapshot holds everything the initialization computed, so it is only
// as good as that initialization was deterministic and call-independent.
// In particular every instance of a snapshot starts with the same random
// seeds the runtime drew while initializing (map hash seeds, math/rand),
// and with the clock readings it took then. What it does not hold is the
// state of tables, passive data segments that were dropped, and anything
// kept outside the instance (files, the host's own state): initializations
// that change those are not reproduced.
//
// The package parses only the sections it rewrites and copies every other
// one byte for byte; it trusts the engine that compiles its output to
// validate the rest.
package wasmsnap

import (
	"errors"

	"github.com/capstream/capstream/internal/wasmbin"
)

// Errors of this package; the errors it returns wrap one of them.
var (
	// ErrMalformed is a module that is not a well-formed WebAssembly binary.
	ErrMalformed = wasmbin.ErrMalformed
	// ErrUnsupported is a module that cannot be snapshotted: an imported,
	// shared or 64-bit memory, several memories, an imported mutable
	// global, or a mutable global that is not a number.
	ErrUnsupported = errors.New("wasmsnap: module cannot be snapshotted")
	// ErrState is a state that does not fit the module: a memory size that
	// is not a whole number of pages or is outside the memory's limits, or
	// global values that are not exactly one for each mutable global.
	ErrState = errors.New("wasmsnap: state does not fit the module")
	// ErrNotInstrumented is an instance, given to Capture, that does not
	// export what Instrument adds.
	ErrNotInstrumented = errors.New("wasmsnap: instance is not instrumented")
)

// InitializeExport is the export Build removes: a WASI reactor's
// initializer, which must not run again in a snapshot.
const InitializeExport = "_initialize"

// GlobalExportPrefix begins the name of each export Instrument adds; the
// global's index follows in decimal.
const GlobalExportPrefix = "capstream.snapshot.global."

// Global is a mutable global defined by a module, as Instrument reports it.
type Global struct {
	// Index is the global's index in the module's global index space, which
	// counts imported globals first.
	Index uint32
	// Type is the global's value type: 0x7f i32, 0x7e i64, 0x7d f32 or
	// 0x7c f64 (api.ValueTypeI32 and so on in wazero).
	Type byte
	// Export is the name under which the instrumented module exports it.
	Export string
}

// GlobalValue is the value of a mutable global after initialization.
type GlobalValue struct {
	// Index is the global's index in the module's global index space.
	Index uint32
	// Bits holds the value as wazero's api.Global.Get returns it: an i32 or
	// f32 in the low 32 bits, an i64 or f64 in all 64.
	Bits uint64
}
