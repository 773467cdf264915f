package httpapi

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/julienschmidt/httprouter"
	"go.uber.org/zap"
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
// In a cluster it lists every replica's key, this one's first; no private
// key leaves its replica.
func (s *Server) keys(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	own := publicJWK(s.cfg.SigningKey)
	keys := []any{own}
	others, err := s.cluster.Keys(r.Context())
	if err != nil {
		s.log.Warn("listing the replicas' keys", zap.Error(err))
		writeError(w, errStoreUnavailable)
		return
	}
	for _, k := range others {
		var j jwk
		if json.Unmarshal(k, &j) == nil && j.Kid != own.Kid {
			keys = append(keys, k)
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string][]any{"keys": keys})
}

// PublicJWK returns the kid and the JWK of the public half of a signing
// key, as GET /v1/keys lists it: what a replica publishes for the others.
func PublicJWK(key ed25519.PrivateKey) (string, json.RawMessage) {
	j := publicJWK(key)
	b, _ := json.Marshal(j)
	return j.Kid, b
}
