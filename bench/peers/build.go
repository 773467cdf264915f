package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// guests returns the two echo modules: read from capFile and extFile, or,
// where a name is empty, built from source for wasip1 into a temporary
// directory that is removed afterwards (so nothing built lands in the work
// tree). Building needs the go command and a working directory inside this
// module.
func guests(ctx context.Context, capFile, extFile string) (capWasm, extWasm []byte, err error) {
	if capFile == "" || extFile == "" {
		tmp, err := os.MkdirTemp("", "capstream-peers-")
		if err != nil {
			return nil, nil, err
		}
		defer os.RemoveAll(tmp)
		benchDir, rootDir, err := moduleDirs(ctx)
		if err != nil {
			return nil, nil, err
		}
		if capFile == "" {
			capFile = filepath.Join(tmp, "echo.wasm")
			if err := buildWasip1(ctx, rootDir, "./plugins/echo", capFile); err != nil {
				return nil, nil, err
			}
		}
		if extFile == "" {
			extFile = filepath.Join(tmp, "extism-echo.wasm")
			if err := buildWasip1(ctx, filepath.Join(benchDir, "extism-echo"), ".", extFile); err != nil {
				return nil, nil, err
			}
		}
	}
	if capWasm, err = os.ReadFile(capFile); err != nil {
		return nil, nil, err
	}
	if extWasm, err = os.ReadFile(extFile); err != nil {
		return nil, nil, err
	}
	return capWasm, extWasm, nil
}

// moduleDirs returns the directories of this module and of capstream's
// (which go.mod's replace directive points at).
func moduleDirs(ctx context.Context) (bench, root string, err error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}",
		"github.com/capstream/capstream/bench/peers", "github.com/capstream/capstream")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("locating the sources (run from bench/peers, or pass -capstream-wasm and -extism-wasm): %w\n%s", err, stderr.String())
	}
	dirs := strings.Fields(string(out))
	if len(dirs) != 2 {
		return "", "", fmt.Errorf("locating the sources: go list printed %q", out)
	}
	return dirs[0], dirs[1], nil
}

// buildWasip1 builds the Go package pkg, from dir, as a WASI reactor
// (-buildmode=c-shared), the way both runtimes expect Go guests.
func buildWasip1(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s in %s for wasip1: %w\n%s", pkg, filepath.Base(dir), err, msg)
	}
	return nil
}
