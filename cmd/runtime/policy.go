package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/policy"
)

// runPolicy is "capstream policy explain": the capability a principal would
// get for a tool under a policy file, and why.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "explain" {
		fmt.Fprintln(stderr, "Usage: capstream policy explain --policy FILE --sub SUBJECT --role ROLE... --tool NAME [--plugins DIR] [--json]")
		return &exitError{2}
	}
	fs := newFlagSet("policy explain", "policy explain --policy FILE --sub SUBJECT --role ROLE... --tool NAME [flags]", stderr)
	file := fs.String("policy", "", "policy file (YAML)")
	sub := fs.String("sub", "someone", "subject of the principal")
	var roles stringList
	fs.Var(&roles, "role", "a role of the principal (repeatable)")
	toolName := fs.String("tool", "", "tool name")
	plugins := fs.String("plugins", "plugins/wasm", "directory of .wasm tools, for the tool's declared needs")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *file == "" || *toolName == "" {
		fs.Usage()
		return errors.New("--policy and --tool are required")
	}
	p, err := policy.Load(*file)
	if err != nil {
		return err
	}
	needs, err := toolNeeds(ctx, *plugins, *toolName)
	if err != nil {
		return err
	}
	ex := p.Explain(capability.Principal{Subject: *sub, Roles: roles}, *toolName, needs)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	fmt.Fprint(stdout, ex.String())
	return nil
}

// toolNeeds reads the declared needs of one tool from the plugin directory.
func toolNeeds(ctx context.Context, dir, name string) (capability.Needs, error) {
	if _, err := os.Stat(dir); err != nil {
		return capability.Needs{}, fmt.Errorf("reading the tool's needs: %w", err)
	}
	e, err := host.New(ctx, host.Config{DisableSnapshots: true}) // needs only the manifests
	if err != nil {
		return capability.Needs{}, err
	}
	defer e.Close(ctx)
	if _, _, err := e.LoadDir(ctx, dir); err != nil {
		return capability.Needs{}, err
	}
	t, ok := e.Tool(name)
	if !ok {
		return capability.Needs{}, fmt.Errorf("no tool %q in %s", name, dir)
	}
	return t.Needs, nil
}
