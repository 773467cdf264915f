package wasmcheck

import (
	"encoding/json"
	"fmt"

	"github.com/capstream/capstream/host"
)

// Report is what Check found out about a module.
type Report struct {
	File     string `json:"file"`
	Size     int    `json:"size"`     // bytes
	Digest   string `json:"digest"`   // "sha256:<hex>", as the host names modules
	Language string `json:"language"` // Go, Rust, C, C++, Zig or AssemblyScript; "" if unknown

	Imports []Import `json:"imports"`
	Exports []Export `json:"exports"`
	Memory  *Memory  `json:"memory,omitempty"` // nil: the module has no memory
	Stack   *Stack   `json:"stack,omitempty"`  // nil: the module shows none
	// DataBytes is the size of the module's data segments.
	DataBytes uint64 `json:"dataBytes"`
	// Preinitialized says the module exports _initialize: the host runs
	// it once, at load time, and starts every call from its result.
	Preinitialized bool `json:"preinitialized"`

	// Manifest is what capstream_manifest pushed, if it could be read:
	// as the host holds it when the host loads the module, as it was
	// pushed otherwise.
	Manifest json.RawMessage `json:"manifest,omitempty"`

	Findings []Finding `json:"findings"`

	// Sample is the sample call, if Options.Input asked for one and the
	// host loads the module.
	Sample *SampleResult `json:"sample,omitempty"`
}

// Count returns how many findings have severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Import is one import of the module.
type Import struct {
	Module string `json:"module"`
	Name   string `json:"name"`
	Kind   string `json:"kind"` // func, table, memory, global or tag
	// Signature is a function's type, as "(i32, i32) -> (i32)".
	Signature string `json:"signature,omitempty"`
}

// Export is one export of the module.
type Export struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Signature string `json:"signature,omitempty"`
}

// Memory is the module's linear memory, in 64 KiB pages.
type Memory struct {
	InitialPages uint64  `json:"initialPages"`
	MaxPages     *uint64 `json:"maxPages,omitempty"` // nil: no maximum
	Imported     bool    `json:"imported,omitempty"`
}

// SampleResult is one call of the tool, made as capstream serve would
// make it.
type SampleResult struct {
	Input  json.RawMessage `json:"input"`
	Events []SampleEvent   `json:"events"` // call.started first, the terminal event last
	// Output is the result of a call that completed.
	Output json.RawMessage `json:"output,omitempty"`
	// Failure is why a call failed.
	Failure    *host.Failure `json:"failure,omitempty"`
	DurationMs float64       `json:"durationMs"`
	Usage      host.Usage    `json:"usage"`
}

// SampleEvent is an event of the sample call.
type SampleEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Severity ranks findings.
type Severity int

// Severities, from least to most severe.
const (
	// Info is worth knowing; nothing needs changing.
	Info Severity = iota
	// Warning is something to change: the module works, at a cost.
	Warning
	// Error is something the host refuses, or a sample call that failed.
	Error
)

var severityNames = [...]string{Info: "info", Warning: "warning", Error: "error"}

// String returns the severity's name: "info", "warning" or "error".
func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText encodes s as its name: "info", "warning" or "error".
func (s Severity) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(severityNames) {
		return nil, fmt.Errorf("wasmcheck: unknown severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if string(b) == n {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("wasmcheck: unknown severity %q", b)
}

// Finding is one thing Check found, with what to change, if anything.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"` // one of the Code constants: stable, for programs
	Message  string   `json:"message"`
}

// String formats f as capstream check prints it: "warning: …".
func (f Finding) String() string { return f.Severity.String() + ": " + f.Message }

// Codes of findings. Messages may change; codes do not.
const (
	// The module.
	CodeInvalid      = "module.invalid"      // not a module the host can compile
	CodeRefused      = "module.refused"      // the host refuses it, for a reason no other finding gives
	CodeLayoutUnread = "module.layout"       // info: the module, or its memory layout, could not be read
	CodeCost         = "module.cost"         // info: its size, memory, stack and data
	CodeGo           = "module.go"           // info: a Go module, large by nature
	CodeMemory       = "module.memory"       // a large initial memory makes every call slow
	CodeMemoryLimit  = "module.memory-limit" // the initial memory exceeds the default limit

	// Imports.
	CodeImportModule    = "import.module"    // from a module the host does not provide
	CodeImportUnknown   = "import.unknown"   // a function capstream_v1 or WASI does not have
	CodeImportSignature = "import.signature" // a function with the wrong signature
	CodeImportAbort     = "import.abort"     // AssemblyScript's env.abort (or env.trace, env.seed)
	CodeImportEnv       = "import.env"       // another env.* function: an undefined symbol
	CodeImportMemory    = "import.memory"    // an imported memory
	CodeImportTable     = "import.table"     // an imported table
	CodeImportGlobal    = "import.global"    // an imported global
	CodeImportTag       = "import.tag"       // an imported exception tag

	// Exports.
	CodeExportMemory     = "export.memory"     // no memory exported as "memory"
	CodeExportRun        = "export.run"        // capstream_run missing or of the wrong type
	CodeExportManifest   = "export.manifest"   // capstream_manifest missing or of the wrong type
	CodeExportInitialize = "export.initialize" // _initialize of the wrong type; info if right
	CodeExportStart      = "export.start"      // _start: a WASI command, not a reactor

	// The manifest.
	CodeManifestRun          = "manifest.run"          // capstream_manifest failed, or pushed nothing
	CodeManifestUnread       = "manifest.unread"       // info: not read, as the module cannot be instantiated
	CodeManifestJSON         = "manifest.json"         // not a JSON object
	CodeManifestName         = "manifest.name"         // an invalid name
	CodeManifestInputSchema  = "manifest.inputSchema"  // an invalid input schema
	CodeManifestOutputSchema = "manifest.outputSchema" // an invalid output schema
	CodeManifestNeeds        = "manifest.needs"        // invalid needs
	CodeManifestField        = "manifest.field"        // an unknown field; manifest.<field> for the other known ones
	CodeManifestDescription  = "manifest.description"  // no description

	// The sample call.
	CodeSampleInput     = "sample.input"      // the input does not satisfy the input schema
	CodeSampleFailed    = "sample.failed"     // the call failed: trap, limit, ABI violation
	CodeSampleToolError = "sample.tool-error" // the tool returned an error
	CodeSampleOutput    = "sample.output"     // the output does not satisfy the output schema
	CodeSampleDenied    = "sample.denied"     // a host call the manifest's needs do not cover was denied
	CodeSampleHTTP      = "sample.http"       // info: HTTP was off for the call
	CodeSampleSkipped   = "sample.skipped"    // info: no sample call, as the host refuses the module
)
