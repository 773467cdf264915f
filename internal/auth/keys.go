package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// minSecretBytes is the shortest HS256 secret accepted: RFC 7518 §3.2
// requires a key at least as long as the hash output.
const minSecretBytes = 32

// minRSABits is the smallest RSA modulus accepted, for verifying and signing.
const minRSABits = 2048

var (
	rsaAlgs        = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// algsFor returns the JWS algorithms a public key may verify: the allowed
// algorithms follow from the key type, never from the token.
func algsFor(pub crypto.PublicKey) ([]string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, at least %d required", k.N.BitLen(), minRSABits)
		}
		return rsaAlgs, nil
	case *ecdsa.PublicKey:
		alg := ecAlg(k.Curve)
		if alg == "" {
			return nil, fmt.Errorf("unsupported elliptic curve %s", k.Curve.Params().Name)
		}
		return []string{alg}, nil
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	default:
		return nil, fmt.Errorf("unsupported public key type %T", pub)
	}
}

// ecAlg returns the one JWS algorithm of an elliptic curve, or "".
func ecAlg(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// keyFitsAlg reports whether the public key may verify a token signed with
// alg. Symmetric keys never fit: they are only for a configured secret.
func keyFitsAlg(pub any, alg string) bool {
	algs, err := algsFor(pub)
	return err == nil && slices.Contains(algs, alg)
}

// publicOf returns the public half of a private key, or the key itself.
func publicOf(key any) any {
	if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		return k.Public()
	}
	return key
}

// parsePublicKeyPEM reads the first key or certificate of PEM data: a PKIX
// public key ("PUBLIC KEY"), a PKCS #1 RSA public key ("RSA PUBLIC KEY") or
// a certificate, whose public key is used. Private keys are refused, so a
// secret never ends up in a file meant to be public.
func parsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM public key or certificate found")
		}
		switch block.Type {
		case "PUBLIC KEY":
			return x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			return x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, err
			}
			return cert.PublicKey, nil
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
			return nil, fmt.Errorf("PEM block %q is a private key; give the public key", block.Type)
		}
		// Other blocks ("EC PARAMETERS", comments of other tools) are skipped.
	}
}

// ParsePrivateKeyPEM reads a private key for Mint from PEM data: PKCS #8
// ("PRIVATE KEY"), PKCS #1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
// It returns an *rsa.PrivateKey, an *ecdsa.PrivateKey or an
// ed25519.PrivateKey; encrypted keys and other key types wrap
// ErrUnsupportedKey.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("auth: no PEM private key found")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
			return nil, fmt.Errorf("%w: PEM block %q", ErrUnsupportedKey, block.Type)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("auth: parsing %s: %w", block.Type, err)
		}
		if _, err := algsFor(publicOf(key)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
		}
		return key.(crypto.Signer), nil
	}
}
