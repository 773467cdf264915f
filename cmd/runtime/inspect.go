package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/capstream/capstream/host"
)

// runInspect prints a tool's manifest and digest, loading it as serve would.
func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", "inspect [--json] FILE.wasm", stderr)
	asJSON := fs.Bool("json", false, "print the manifest as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{2}
	}
	file := fs.Arg(0)
	wasm, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// The manifest is all inspect needs: no snapshot.
	e, err := host.New(ctx, host.Config{DisableSnapshots: true})
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	t, err := e.Load(ctx, file, wasm)
	if err != nil {
		return err
	}
	m := map[string]any{
		"name": t.Name, "title": t.Title, "description": t.Description, "digest": t.Digest,
		"inputSchema": t.InputSchema, "needs": t.Needs,
	}
	if t.OutputSchema != nil {
		m["outputSchema"] = t.OutputSchema
	}
	if t.Annotations != nil {
		m["annotations"] = t.Annotations
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	schema, _ := json.MarshalIndent(json.RawMessage(t.InputSchema), "  ", "  ")
	needs, _ := json.MarshalIndent(t.Needs, "  ", "  ")
	fmt.Fprintf(stdout, "%s — %s\n  %s\n\ndigest  %s\nfile    %s\n\ninput schema:\n  %s\n\nneeds:\n  %s\n",
		t.Name, t.Title, t.Description, t.Digest, file, schema, needs)
	return nil
}
