// Package chat is capstream's demo page: a plain HTML page (no framework,
// no build step) that lists a user's tools, builds a form from each tool's
// input schema, runs calls and shows their events live, with cancel and a
// resumable reconnect. `capstream serve --dev` serves it at /.
//
// The page's files are embedded; Handler serves them. The sample users'
// tokens are written into the page, so serve it in development only: anyone
// who can load the page can act as those users.
package chat

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"time"
)

//go:embed index.html app.js style.css
var files embed.FS

// usersMarker is the placeholder in index.html that Handler replaces with
// the users, as JSON.
const usersMarker = "[/*users*/]"

// User is a sample user the page offers. Token is a bearer token for the
// API; the page sends it in the Authorization header.
type User struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Token string `json:"token"`
}

// Config configures Handler.
type Config struct {
	// Users are offered on the page, with their tokens filled in — for
	// development only. Empty: the page asks for a token.
	Users []User
}

// asset is one file as Handler serves it.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler returns a handler that serves the page at / and its assets at
// /static/<file> (app.js, style.css), with Cache-Control: no-cache and an
// ETag, so a browser revalidates instead of running a stale page. Every
// other path is 404.
func Handler(cfg Config) http.Handler {
	users := cfg.Users
	if users == nil {
		users = []User{}
	}
	// json.Marshal escapes <, > and &, so the JSON cannot close the
	// <script> element it is written into.
	usersJSON, err := json.Marshal(users)
	if err != nil {
		panic(fmt.Sprintf("chat: encoding users: %v", err)) // strings only: cannot fail
	}
	index := bytes.Replace(mustRead("index.html"), []byte(usersMarker), usersJSON, 1)
	assets := map[string]asset{
		"/":                 newAsset(index, "text/html; charset=utf-8"),
		"/static/app.js":    newAsset(mustRead("app.js"), "text/javascript; charset=utf-8"),
		"/static/style.css": newAsset(mustRead("style.css"), "text/css; charset=utf-8"),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[path.Clean(r.URL.Path)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
			"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("chat: " + err.Error()) // embedded: cannot fail
	}
	return b
}
