package chat_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/capstream/capstream/examples/chat"
)

func TestHandler(t *testing.T) {
	users := []chat.User{
		{Name: "alice", Role: "analyst", Token: "tok-a"},
		{Name: "bob", Role: "guest", Token: `</script><script>alert(1)</script>`},
	}
	srv := httptest.NewServer(chat.Handler(chat.Config{Users: users}))
	defer srv.Close()

	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="/static/app.js" defer></script>`},
		{"GET", "/static/app.js", 200, "text/javascript; charset=utf-8", "new EventSource("},
		{"GET", "/static/style.css", 200, "text/css; charset=utf-8", ".progress"},
		{"HEAD", "/static/app.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/static/", 404, "", ""},
		{"GET", "/index.html", 404, "", ""},
		{"GET", "/static/chat.go", 404, "", ""},
		{"GET", "/static/../chat.go", 404, "", ""},
		{"POST", "/", 405, "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if resp.Header.Get("ETag") == "" || resp.Header.Get("Content-Security-Policy") == "" {
				t.Errorf("no ETag or Content-Security-Policy: %v", resp.Header)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
		})
	}

	t.Run("the users are in the page as JSON, and cannot end its script element", func(t *testing.T) {
		page := get(t, srv.URL+"/")
		m := regexp.MustCompile(`(?s)<script type="application/json" id="users">(.*?)</script>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no users block in\n%s", page)
		}
		var got []chat.User
		if err := json.Unmarshal([]byte(m[1]), &got); err != nil {
			t.Fatalf("users block %q: %v", m[1], err)
		}
		if len(got) != 2 || got[0] != users[0] || got[1] != users[1] {
			t.Fatalf("users %+v, want %+v", got, users)
		}
	})

	t.Run("no users: an empty list, and the page asks for a token", func(t *testing.T) {
		srv := httptest.NewServer(chat.Handler(chat.Config{}))
		defer srv.Close()
		if page := get(t, srv.URL+"/"); !strings.Contains(page, `<script type="application/json" id="users">[]</script>`) {
			t.Fatalf("page:\n%s", page)
		}
	})

	t.Run("a revalidation with the ETag is 304", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/static/style.css")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		req, _ := http.NewRequest("GET", srv.URL+"/static/style.css", nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("status %d, want 304", resp.StatusCode)
		}
	})
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
