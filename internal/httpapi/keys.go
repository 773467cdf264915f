package httpapi

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// jwk is the public half of the capability signing key as a JSON Web Key.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func publicJWK(key ed25519.PrivateKey) jwk {
	pub := key.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return jwk{
		Kty: "OKP", Crv: "Ed25519", Alg: "EdDSA", Use: "sig",
		X:   base64.RawURLEncoding.EncodeToString(pub),
		Kid: base64.RawURLEncoding.EncodeToString(sum[:12]),
	}
}

// keys is GET /v1/keys: the JWKS that verifies the capability tokens the
// runtime signs (call.started's capability.token), so that audit records
// can be checked by anyone. Public, like any JWKS.
func (s *Server) keys(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string][]jwk{"keys": {publicJWK(s.cfg.SigningKey)}})
}
