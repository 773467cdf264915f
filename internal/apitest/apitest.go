// Package apitest serves the HTTP API in-process for tests and examples:
// a real HTTP server (httptest) in front of an engine the caller has
// loaded, with an HS256 secret to mint tokens and a fresh signing key.
package apitest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/internal/policy"
	"github.com/capstream/capstream/internal/testwasm"
)

// Serve serves engine under policies until the test ends, and returns the
// server and the secret its tokens are signed with (auth.Mint). It shuts
// the API down (draining calls) before the test's earlier cleanups run, so
// register the engine's Close before calling it.
func Serve(t testing.TB, engine *host.Engine, policies *policy.Store) (*httptest.Server, []byte) {
	t.Helper()
	ctx := context.Background()
	secret := auth.GenerateSecret()
	authn, err := auth.New(ctx, auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	api, err := httpapi.New(httpapi.Config{Engine: engine, Auth: authn, Policies: policies, SigningKey: key})
	if err != nil {
		authn.Close()
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		api.Shutdown(sctx)
		srv.Close()
		authn.Close()
	})
	return srv, secret
}

// ServeTool serves the bundled tool plugins/<tool> alone, to alice, an
// analyst who may call it, until the test ends, and returns the server and
// alice's token. The tool is loaded without a snapshot: calls start slower,
// and it loads much faster.
func ServeTool(t testing.TB, tool string) (*httptest.Server, string) {
	t.Helper()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte("roles:\n  analyst:\n    tools: ["+tool+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policies, err := policy.NewStore(file)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := host.New(ctx, host.Config{CacheDir: testwasm.CacheDir(), DisableSnapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close(ctx) })
	if _, err := engine.Load(ctx, tool+".wasm", testwasm.Go(t, "plugins/"+tool)); err != nil {
		t.Fatal(err)
	}
	srv, secret := Serve(t, engine, policies)
	token, err := auth.Mint(secret, auth.MintClaims{Subject: "alice", Roles: []string{"analyst"}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, token
}
