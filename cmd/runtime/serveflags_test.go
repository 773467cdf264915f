package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRequiresAudience: with a public key or a JWKS, serve needs
// --jwt-audience, or --jwt-accept-any-audience to waive it knowingly; an
// HS256 secret needs none. Each case runs serve without a policy, so that
// a start that gets past the token flags stops at "no policy".
func TestServeRequiresAudience(t *testing.T) {
	dir, secret, pub := operatorKeys(t)
	jwks := "http://127.0.0.1:1/jwks.json" // never answers: the server would start and retry
	for _, tc := range []struct {
		name string
		args []string
		want []string // in the error
	}{
		{"JWKS without an audience", []string{"--jwks-url", jwks},
			[]string{"--jwks-url needs --jwt-audience", "another application would be accepted", "--jwt-accept-any-audience"}},
		{"public key without an audience", []string{"--jwt-public-key", pub}, []string{"--jwt-public-key needs --jwt-audience"}},
		{"JWKS with an audience", []string{"--jwks-url", jwks, "--jwt-audience", "capstream"}, []string{"no policy"}},
		{"JWKS, any audience", []string{"--jwks-url", jwks, "--jwt-accept-any-audience"}, []string{"no policy"}},
		{"public key, any audience", []string{"--jwt-public-key", pub, "--jwt-accept-any-audience"}, []string{"no policy"}},
		{"secret without an audience", []string{"--jwt-secret-file", secret}, []string{"no policy"}},
		{"any audience and an audience", []string{"--jwks-url", jwks, "--jwt-audience", "capstream", "--jwt-accept-any-audience"},
			[]string{"contradicts --jwt-audience"}},
		{"any audience with a secret", []string{"--jwt-secret-file", secret, "--jwt-accept-any-audience"},
			[]string{"applies to --jwt-public-key and --jwks-url only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--plugins", dir, "--data-dir", filepath.Join(t.TempDir(), "data")}, tc.args...)
			err := run(context.Background(), args, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("serve started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// TestServeRefusesBadShutdownFlags: the bounds of shutdown must be usable.
func TestServeRefusesBadShutdownFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shutdown-grace", "0s"}, "--shutdown-grace must be positive"},
		{[]string{"--drain-timeout", "-1s"}, "--drain-timeout must not be negative"},
		{[]string{"--metrics-addr", "127.0.0.1:8080", "--addr", "127.0.0.1:8080"}, "--metrics-addr is --addr"},
	} {
		err := run(context.Background(), append([]string{"serve", "--dev", "--data-dir", dir, "--plugins", dir}, tc.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// operatorKeys writes the key material an operator would give serve into a
// new directory: an HS256 secret and an Ed25519 public key in PEM.
func operatorKeys(t *testing.T) (dir, secret, pub string) {
	t.Helper()
	dir = t.TempDir()
	secret, pub = filepath.Join(dir, "secret"), filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, ed25519PublicPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, secret, pub
}

// TestServeRefusesBadMCPFlags: MCP's URLs must be absolute, its bounds
// positive. A good set gets past the flags and stops at "no policy".
func TestServeRefusesBadMCPFlags(t *testing.T) {
	dir, secret, _ := operatorKeys(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--public-url", "tools.example.com"}, "--public-url \"tools.example.com\": give the origin"},
		{[]string{"--public-url", "https://tools.example.com/api"}, "(no path)"},
		{[]string{"--mcp-resource", "/mcp"}, "--mcp-resource \"/mcp\": give the absolute URI"},
		{[]string{"--mcp-resource", "https://tools.example.com/mcp#x"}, "no fragment"},
		{[]string{"--mcp-authorization-server", "idp"}, "give the issuer URL"},
		{[]string{"--mcp-allowed-host", "a b"}, "give a host name, host:port, or *"},
		{[]string{"--mcp-session-timeout", "0s"}, "--mcp-session-timeout must be positive"},
		{[]string{"--mcp-max-sessions-per-principal", "0"}, "--mcp-max-sessions-per-principal must be positive"},
		{[]string{"--public-url", "https://tools.example.com/", "--mcp-resource", "https://tools.example.com/mcp",
			"--mcp-authorization-server", "https://idp.example.com", "--mcp-allowed-host", "internal:8080"}, "no policy"},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--plugins", dir, "--jwt-secret-file", secret,
			"--data-dir", filepath.Join(t.TempDir(), "data")}, tc.args...)
		err := run(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestMCPAuthServers(t *testing.T) {
	for _, tc := range []struct {
		f    serveFlags
		want []string
	}{
		{serveFlags{issuer: "https://idp.example.com/realms/x"}, []string{"https://idp.example.com/realms/x"}},
		{serveFlags{issuer: "capstream-dev"}, nil},
		{serveFlags{}, nil},
		{serveFlags{issuer: "https://idp.example.com", mcpAuthServers: stringList{"https://as.example.com"}}, []string{"https://as.example.com"}},
	} {
		if got := mcpAuthServers(tc.f); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%+v: %v, want %v", tc.f, got, tc.want)
		}
	}
}

// TestServeRefusesBadClusterFlags: cluster flags that could not work are
// refused before anything starts, saying what to change.
func TestServeRefusesBadClusterFlags(t *testing.T) {
	dir, secret, _ := operatorKeys(t)
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--node-id", "r1"}, "--node-id applies in a cluster only"},
		{[]string{"--cluster", "nats://127.0.0.1:1"}, "needs --cluster-secret-file"},
		{[]string{"--cluster", "http://x", "--cluster-secret-file", secret}, "is not a NATS URL"},
		{[]string{"--cluster-embed", "--cluster-secret-file", secret, "--node-id", "a.b"}, "--node-id \"a.b\""},
		{[]string{"--cluster-embed", "--cluster-secret-file", secret, "--cluster-routes", "nats://127.0.0.1:6222"}, "--cluster-routes needs --cluster-listen"},
		{[]string{"--cluster", "nats://127.0.0.1:1", "--cluster-secret-file", secret, "--cluster-listen", ":6222"}, "configure --cluster-embed"},
		{[]string{"--cluster-embed", "--cluster-secret-file", secret, "--cluster-lease", "500ms"}, "at least 1s"},
		{[]string{"--cluster-embed", "--cluster-secret-file", secret, "--dev"}, "--dev runs one node"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--plugins", dir, "--data-dir", filepath.Join(t.TempDir(), "data")}, tc.args...)
			err := run(context.Background(), args, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("serve started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the error lacks %q: %v", tc.want, err)
			}
		})
	}
}
