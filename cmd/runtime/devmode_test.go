package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstream/capstream/internal/testwasm"
)

// TestServeDevRefuses: dev mode never mints tokens with an operator's key,
// and does not listen beyond loopback unless told so by name; each refusal
// says what to do, before anything is started.
func TestServeDevRefuses(t *testing.T) {
	dir, secret, pub := operatorKeys(t)
	base := []string{"serve", "--plugins", dir, "--data-dir", filepath.Join(dir, "data")}
	for _, tc := range []struct {
		name string
		args []string
		env  string // CAPSTREAM_DEV, if set
		want []string
	}{
		{"secret file", []string{"--dev", "--addr", "127.0.0.1:0", "--jwt-secret-file", secret},
			"", []string{"--jwt-secret-file", "never mint them with a real key", "drop --jwt-secret-file"}},
		{"public key", []string{"--dev", "--addr", "127.0.0.1:0", "--jwt-public-key", pub},
			"", []string{"--jwt-public-key"}},
		{"JWKS", []string{"--dev", "--addr", "127.0.0.1:0", "--jwks-url", "http://127.0.0.1:1/jwks.json", "--jwt-audience", "capstream"},
			"", []string{"--jwks-url"}},
		{"key, with dev mode from the environment", []string{"--addr", "127.0.0.1:0", "--jwt-secret-file", secret},
			"true", []string{"CAPSTREAM_DEV in the environment", "--jwt-secret-file", "Unset CAPSTREAM_DEV"}},
		{"every interface", []string{"--dev", "--addr", "0.0.0.0:0"},
			"", []string{"loopback only", `"0.0.0.0:0"`, "--dev-unsafe-listen-anywhere"}},
		{"no host", []string{"--dev", "--addr", ":0"}, "", []string{"loopback only"}},
		{"IPv6 any", []string{"--dev", "--addr", "[::]:0"}, "", []string{"loopback only"}},
		{"a host name", []string{"--dev", "--addr", "example.com:8080"}, "", []string{"loopback only"}},
		{"every interface, with dev mode from the environment", []string{"--addr", "0.0.0.0:0"},
			"true", []string{"CAPSTREAM_DEV in the environment", "loopback only"}},
		{"the waiver without dev mode", []string{"--addr", "127.0.0.1:0", "--dev-unsafe-listen-anywhere", "--jwt-secret-file", secret},
			"", []string{"applies to --dev only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("CAPSTREAM_DEV", tc.env)
			}
			err := run(context.Background(), append(base, tc.args...), io.Discard, io.Discard)
			if err == nil {
				t.Fatal("serve started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error lacks %q: %v", w, err)
				}
			}
			if _, statErr := os.Stat(filepath.Join(dir, "data")); statErr == nil {
				t.Errorf("serve created its data directory before refusing")
			}
		})
	}
}

// TestServeDevIsLoud: dev mode, here from CAPSTREAM_DEV, says so on stderr
// (naming the variable), in a log warning, in a header on every response
// and in the capstream_dev_mode gauge; /metrics is on the loopback API
// listener.
func TestServeDevIsLoud(t *testing.T) {
	t.Setenv("CAPSTREAM_DEV", "true")
	s := startServing(t, "--addr", "127.0.0.1:0", "--plugins", toolDir(t, "echo"), "--data-dir", t.TempDir(),
		"--cache-dir", testwasm.CacheDir())
	stderr := s.stderr.String()
	for _, want := range []string{"DEV MODE is on (from CAPSTREAM_DEV in the environment)", "unset CAPSTREAM_DEV", "dev mode is on"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr, "WARN") {
		t.Errorf("no warning in the log:\n%s", stderr)
	}
	for _, path := range []string{"/healthz", "/readyz", "/v1/tools", "/nowhere", "/metrics"} {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+s.alice)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Capstream-Dev-Mode"); got != "true" {
			t.Errorf("GET %s (%s): Capstream-Dev-Mode %q, want true", path, resp.Status, got)
		}
		if path == "/metrics" && !strings.Contains(string(body), "\ncapstream_dev_mode 1\n") {
			t.Errorf("GET /metrics (%s) has no capstream_dev_mode 1:\n%.2000s", resp.Status, body)
		}
	}

	resp := postJSON(t, s.url+"/v1/tools/echo/calls", s.alice, `{"text":"hi"}`)
	if resp.Header.Get("Capstream-Dev-Mode") != "true" {
		t.Errorf("a call's response has no Capstream-Dev-Mode header")
	}
}

// TestServeDevListenAnywhere: with --dev-unsafe-listen-anywhere, dev mode
// listens beyond loopback, and says so; /metrics is then not on the API.
func TestServeDevListenAnywhere(t *testing.T) {
	s := startServing(t, "--dev", "--dev-unsafe-listen-anywhere", "--addr", "0.0.0.0:0", "--plugins", toolDir(t, "echo"),
		"--data-dir", t.TempDir(), "--cache-dir", testwasm.CacheDir())
	if !strings.Contains(s.stderr.String(), "--dev-unsafe-listen-anywhere: listening on 0.0.0.0:0, beyond loopback") {
		t.Errorf("stderr does not warn of listening beyond loopback:\n%s", s.stderr.String())
	}
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on an API listening beyond loopback: %s, want 404", resp.Status)
	}
}

// postJSON posts body with token and returns the response, its body read.
func postJSON(t *testing.T, url, token, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", url, resp.Status)
	}
	return resp
}

// ed25519PublicPEM returns a new Ed25519 public key as PEM.
func ed25519PublicPEM(t *testing.T) []byte {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestDevBannerShowsMCP: the banner tells how to connect an MCP client as
// alice, over HTTP and through the stdio bridge, at the server's address.
func TestDevBannerShowsMCP(t *testing.T) {
	var b strings.Builder
	printDevBanner(&b, "http://127.0.0.1:9090", nil)
	for _, want := range []string{
		`claude mcp add --transport http capstream http://127.0.0.1:9090/mcp --header "Authorization: Bearer $ALICE"`,
		`CAPSTREAM_TOKEN=$ALICE capstream mcp --url http://127.0.0.1:9090`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, b.String())
		}
	}
}
