// Command capstream is the capstream runtime: it serves WebAssembly tools
// over HTTP, streaming each call's events as Server-Sent Events, and carries
// the tools around it (token, call, inspect, policy explain).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "capstream:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a code and nothing more to say.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

const usage = `capstream — a WebAssembly tool runtime with streaming output

Usage:
  capstream serve   [flags]            serve the tools in a directory over HTTP
  capstream call    TOOL [flags]       call a tool and show its events live
  capstream token   [flags]            mint a token for development
  capstream inspect FILE.wasm          show a tool's manifest and digest
  capstream check   FILE.wasm [flags]  check a tool module against the ABI before deploying it
  capstream policy  explain [flags]    show the capability a principal would get for a tool, and why
  capstream mcp     [flags]            an MCP server on stdin/stdout that bridges to a running server

Run "capstream COMMAND --help" for a command's flags.
`

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "call":
		return runCall(ctx, rest, stdout, stderr)
	case "token":
		return runToken(ctx, rest, stdout, stderr)
	case "inspect":
		return runInspect(ctx, rest, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, stdout, stderr)
	case "policy":
		return runPolicy(ctx, rest, stdout, stderr)
	case "mcp":
		return runMCP(ctx, rest, os.Stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "capstream: unknown command %q\n\n%s", cmd, usage)
		return &exitError{2}
	}
}

// buildVersion is the module version the binary was built from, or
// "devel" for a build from a working tree.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
