package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) { testwasm.Main(m, false) }

func TestInspect(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notes.wasm")
	os.WriteFile(file, testwasm.Go(t, "plugins/notes"), 0o644)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"inspect", file}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"notes — Notes", "digest  sha256:", `"op"`, `"write": true`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out.String())
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	os.WriteFile(bad, []byte("nope"), 0o644)
	if err := run(context.Background(), []string{"inspect", bad}, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "bad.wasm") {
		t.Fatalf("inspecting a bad file: %v", err)
	}
}

func TestToken(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	key := bytes.Repeat([]byte("s"), 32)
	os.WriteFile(secret, key, 0o600)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "--sub", "carol", "--role", "analyst", "--role", "ops", "--secret-file", secret}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(context.Background(), auth.Config{Secret: key})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	id, err := a.Authenticate(strings.TrimSpace(out.String()))
	if err != nil || id.Subject != "carol" || strings.Join(id.Roles("roles"), ",") != "analyst,ops" {
		t.Fatalf("minted token: %+v %v", id, err)
	}
}

func TestPolicyExplain(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	os.Mkdir(plugins, 0o755)
	os.WriteFile(filepath.Join(plugins, "fetch.wasm"), testwasm.Go(t, "plugins/fetch"), 0o644)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(`roles:
  analyst:
    tools: [fetch]
    http:
      - url: "https://api.example.com/v1/"
        methods: [GET]
  guest:
    tools: [echo]
`), 0o600)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"policy", "explain", "--policy", pol, "--plugins", plugins, "--sub", "alice", "--role", "analyst", "--tool", "fetch"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "https://api.example.com") || !strings.Contains(out.String(), "analyst") {
		t.Fatalf("explain for analyst:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"policy", "explain", "--policy", pol, "--plugins", plugins, "--role", "guest", "--tool", "fetch"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(out.String()), "not permitted") {
		t.Fatalf("explain for guest:\n%s", out.String())
	}
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "capstream serve") {
		t.Fatalf("help: %v %s", err, out.String())
	}
	if err := run(context.Background(), []string{"bogus"}, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
	for _, cmd := range []string{"serve", "call", "token", "inspect"} {
		var errOut bytes.Buffer
		err := run(context.Background(), []string{cmd, "--help"}, io.Discard, &errOut)
		if ee, ok := err.(*exitError); !ok || ee.code != 0 || !strings.Contains(errOut.String(), "Usage: capstream "+cmd) {
			t.Errorf("%s --help: %v %q", cmd, err, errOut.String())
		}
	}
}
