package httpapi

import (
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"
	"go.uber.org/zap"

	"github.com/capstream/capstream/internal/auth"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/internal/policy"
)

// viewer is an authenticated requester: who they are, until when their
// credential is good (a viewer of a stream is ended then), and the policy
// in force when the request came. The policy is read once per request, and
// the viewer's roles and every grant of the request come from that one
// snapshot, so that a reload in between cannot mix old roles with new
// grants.
type viewer struct {
	capability.Principal
	Expires time.Time
	Source  string // "header", "cookie" or "ticket"
	Policy  *policy.Policy
}

type handle func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, v viewer)

// authed authenticates a request once, before its handler writes anything.
// headerOnly endpoints (POST, DELETE) take the token from the Authorization
// header alone, so a cross-site form cannot use a cookie; GET endpoints also
// take the cookie, and the endpoints of one call take a stream ticket for
// that call.
func (s *Server) authed(headerOnly bool, h handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		v, ok := s.authenticate(r, ps, headerOnly)
		if !ok {
			s.metrics.unauthenticated.Inc()
			writeError(w, errUnauthenticated)
			return
		}
		h(w, r, ps, v)
	}
}

func (s *Server) authenticate(r *http.Request, ps httprouter.Params, headerOnly bool) (viewer, bool) {
	if t := r.URL.Query().Get("ticket"); t != "" && !headerOnly && ps.ByName("id") != "" {
		sub, exp, err := s.tickets.Check(t, ps.ByName("id"), time.Now())
		if err != nil {
			s.log.Info("ticket refused", zap.String("path", r.URL.Path), zap.Error(err))
			return viewer{}, false
		}
		return viewer{Principal: capability.Principal{Subject: sub}, Expires: exp, Source: "ticket", Policy: s.cfg.Policies.Current()}, true
	}
	token, source := auth.FromRequest(r, !headerOnly, s.cfg.CookieName)
	if token == "" {
		return viewer{}, false
	}
	id, err := s.cfg.Auth.Authenticate(token)
	if err != nil {
		// The reason is for operators only; the client learns nothing of it.
		s.log.Info("token refused", zap.String("path", r.URL.Path), zap.String("source", source), zap.Error(err))
		return viewer{}, false
	}
	return s.viewerOf(id, source), true
}

// viewerOf is the viewer an identity makes, under the policy in force now.
func (s *Server) viewerOf(id auth.Identity, source string) viewer {
	pol := s.cfg.Policies.Current()
	roles := pol.RolesOf(id.Claims)
	return viewer{Principal: capability.Principal{Subject: id.Subject, Roles: roles}, Expires: id.ExpiresAt, Source: source, Policy: pol}
}
