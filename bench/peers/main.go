// Command peers measures one call of the echo tool on capstream and on
// Extism, side by side in one process: each runtime's idiomatic path that
// gives every call a fresh instance. See README.md.
//
//	cd bench/peers && go run .
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// options are the command line of run.
type options struct {
	rounds    int
	calls     int
	input     string
	reference bool
	capWasm   string
	extWasm   string
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 9, "rounds; each round runs every path once, in turn")
	fs.IntVar(&o.calls, "calls", 300, "calls per path per round, each timed")
	fs.StringVar(&o.input, "input", `{"text":"hello"}`, "the input object of every timed call")
	fs.BoolVar(&o.reference, "reference", true, "also measure capstream with snapshots off (the Go runtime initialized per call), for reference")
	fs.StringVar(&o.capWasm, "capstream-wasm", "", "capstream's echo (plugins/wasm/echo.wasm); empty: build plugins/echo")
	fs.StringVar(&o.extWasm, "extism-wasm", "", "the Extism echo; empty: build extism-echo")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.rounds < 1 || o.calls < 1 {
		return o, fmt.Errorf("-rounds and -calls must be at least 1")
	}
	return o, nil
}

// run builds (or reads) both guests, checks that every path does the work,
// then measures the paths in interleaved rounds and prints the table, whose
// last line is the speedup.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	capWasm, extWasm, err := guests(ctx, o.capWasm, o.extWasm)
	if err != nil {
		return err
	}

	capPath, err := newCapstream(ctx, "capstream", capWasm, false)
	if err != nil {
		return err
	}
	defer capPath.close(ctx)
	extPath, err := newExtism(ctx, "extism", extWasm)
	if err != nil {
		return err
	}
	defer extPath.close(ctx)
	paths := []*path{capPath, extPath}
	if o.reference {
		ref, err := newCapstream(ctx, "capstream, no snapshot", capWasm, true)
		if err != nil {
			return err
		}
		defer ref.close(ctx)
		paths = append(paths, ref)
	}

	for _, p := range paths {
		if err := verify(ctx, p); err != nil {
			return err
		}
	}
	res, err := measure(ctx, paths, []byte(o.input), o.rounds, o.calls)
	if err != nil {
		return err
	}
	report(stdout, o, res)
	return nil
}
