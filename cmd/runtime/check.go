package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/capstream/capstream/internal/egress"
	"github.com/capstream/capstream/internal/wasmcheck"
)

// runCheck checks a tool module against the ABI before anyone deploys it
// (docs/check.md) and prints what it found. It exits 0 when it found no
// errors (warnings allowed), 1 when it found some, and 2 for a usage error,
// such as a file it cannot read or an input that is not a JSON object.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "check [--json] [--input JSON] [--allow-http] FILE.wasm", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	input := fs.String("input", "", "make a sample call with this input, a JSON object (@FILE reads a file, - reads stdin)")
	allowHTTP := fs.Bool("allow-http", false, "let the sample call make the HTTP requests the manifest's needs allow, to public addresses, without secrets; without it, they are denied")
	cacheDir := fs.String("cache-dir", "", "compiled and pre-initialized tools, reused across runs, as serve's --cache-dir (default none)")
	// Flags may come before or after the file.
	var files []string
	for rest := args; ; rest = fs.Args()[1:] {
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
	}
	if len(files) != 1 {
		fs.Usage()
		return &exitError{2}
	}
	usageError := func(err error) error {
		fmt.Fprintln(stderr, "capstream check:", err)
		return &exitError{2}
	}
	file := files[0]
	wasm, err := os.ReadFile(file)
	if err != nil {
		return usageError(err)
	}
	opts := wasmcheck.Options{File: file, CacheDir: *cacheDir}
	if *input != "" {
		b, err := readInputArg(*input)
		if err != nil {
			return usageError(err)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil || obj == nil {
			return usageError(fmt.Errorf("--input is not a JSON object: %s", b))
		}
		opts.Input = b
	}
	if *allowHTTP {
		eg, err := egress.New(egress.Config{})
		if err != nil {
			return usageError(err)
		}
		defer eg.Close()
		opts.Egress = eg
	}

	r, err := wasmcheck.Check(ctx, wasm, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printCheck(stdout, r)
	}
	if r.Count(wasmcheck.Error) > 0 {
		return &exitError{1}
	}
	return nil
}

// printCheck prints a report for people: one line per finding, the sample
// call's events, and a summary.
func printCheck(w io.Writer, r *wasmcheck.Report) {
	for _, f := range r.Findings {
		fmt.Fprintln(w, indent(f.String(), "  "))
	}
	if s := r.Sample; s != nil {
		fmt.Fprintf(w, "\nsample call with %s:\n", s.Input)
		for _, e := range s.Events {
			switch e.Type {
			case "call.started", "call.completed", "call.failed":
			default:
				fmt.Fprintf(w, "  %s %s\n", e.Type, e.Data)
			}
		}
		if s.Failure != nil {
			fmt.Fprintf(w, "  failed (%s) in %.2f ms: %s\n", s.Failure.Code, s.DurationMs, indent(s.Failure.Message, "    "))
		} else {
			fmt.Fprintf(w, "  completed in %.2f ms: %s\n", s.DurationMs, s.Output)
		}
		fmt.Fprintln(w)
	}
	var counts []string
	for _, c := range []struct {
		s    wasmcheck.Severity
		name string
	}{{wasmcheck.Error, "error"}, {wasmcheck.Warning, "warning"}} {
		switch n := r.Count(c.s); n {
		case 0:
		case 1:
			counts = append(counts, "1 "+c.name)
		default:
			counts = append(counts, fmt.Sprintf("%d %ss", n, c.name))
		}
	}
	verdict := strings.Join(counts, ", ")
	switch {
	case r.Count(wasmcheck.Error) > 0:
	case len(counts) > 0:
		verdict = "ok, " + verdict
	default:
		verdict = "ok"
	}
	fmt.Fprintf(w, "%s %s: %s\n", r.File, r.Digest, verdict)
}

// indent indents every line of s but the first.
func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
