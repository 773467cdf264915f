// Package apitest serves the HTTP API in-process for tests and examples:
// a real HTTP server (httptest) in front of an engine the caller has
// loaded, with an HS256 secret to mint tokens and a fresh signing key.
package apitest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/httpapi"
	"github.com/capstream/capstream/internal/policy"
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
