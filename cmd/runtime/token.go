package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/capstream/capstream/internal/auth"
)

// runToken mints a token for development, signed with an HS256 secret or a
// PEM private key.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", "token --sub SUBJECT [--role ROLE]... (--secret-file FILE | --private-key FILE) [flags]", stderr)
	sub := fs.String("sub", "", "subject (sub) of the token")
	var roles stringList
	fs.Var(&roles, "role", "a role name (repeatable)")
	rolesClaim := fs.String("roles-claim", auth.DefaultRolesClaim, "claim that holds the roles")
	secretFile := fs.String("secret-file", "", "HS256 secret to sign with (as serve's --jwt-secret-file)")
	keyFile := fs.String("private-key", "", "PEM private key (RSA, EC or Ed25519) to sign with")
	issuer := fs.String("issuer", "", "iss claim")
	audience := fs.String("audience", "", "aud claim")
	kid := fs.String("kid", "", "kid header (for JWKS)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *sub == "" {
		fs.Usage()
		return errors.New("--sub is required")
	}
	var key any
	switch {
	case *secretFile != "" && *keyFile != "":
		return errors.New("give one of --secret-file and --private-key")
	case *secretFile != "":
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return err
		}
		key = b
	case *keyFile != "":
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		signer, err := auth.ParsePrivateKeyPEM(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *keyFile, err)
		}
		key = signer
	default:
		return errors.New("give --secret-file or --private-key (serve --dev keeps its secret in DATA_DIR/dev-secret)")
	}
	tok, err := auth.Mint(key, auth.MintClaims{
		Subject: *sub, Roles: roles, RolesClaim: *rolesClaim, Issuer: *issuer, Audience: *audience, TTL: *ttl, KeyID: *kid,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, strings.TrimSpace(tok))
	return nil
}
