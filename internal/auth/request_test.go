package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFromRequest(t *testing.T) {
	tests := []struct {
		name        string
		url         string
		headers     []string // Authorization values
		cookie      *http.Cookie
		allowCookie bool
		cookieName  string
		token       string
		source      string
	}{
		{name: "bearer", headers: []string{"Bearer abc.def.ghi"}, token: "abc.def.ghi", source: SourceHeader},
		{name: "lower-case scheme", headers: []string{"bearer abc"}, token: "abc", source: SourceHeader},
		{name: "upper-case scheme", headers: []string{"BEARER abc"}, token: "abc", source: SourceHeader},
		{name: "extra spaces", headers: []string{"  Bearer   abc  "}, token: "abc", source: SourceHeader},
		{name: "no token", headers: []string{"Bearer "}},
		{name: "scheme only", headers: []string{"Bearer"}},
		{name: "two tokens", headers: []string{"Bearer abc def"}},
		{name: "Basic", headers: []string{"Basic YWxpY2U6c2VjcmV0"}},
		{name: "scheme prefix", headers: []string{"Bearerabc"}},
		{name: "two headers", headers: []string{"Bearer abc", "Bearer def"}},
		{name: "two headers and a cookie", headers: []string{"Bearer abc", "Bearer def"},
			cookie: &http.Cookie{Name: DefaultCookieName, Value: "c"}, allowCookie: true},
		{name: "nothing"},
		{name: "cookie allowed", cookie: &http.Cookie{Name: DefaultCookieName, Value: "c.o.k"}, allowCookie: true,
			token: "c.o.k", source: SourceCookie},
		{name: "cookie not allowed", cookie: &http.Cookie{Name: DefaultCookieName, Value: "c.o.k"}},
		{name: "cookie of another name", cookie: &http.Cookie{Name: "session", Value: "c"}, allowCookie: true},
		{name: "cookie of a set name", cookie: &http.Cookie{Name: "session", Value: "c"}, allowCookie: true,
			cookieName: "session", token: "c", source: SourceCookie},
		{name: "empty cookie", cookie: &http.Cookie{Name: DefaultCookieName, Value: ""}, allowCookie: true},
		{name: "header wins over cookie", headers: []string{"Bearer h"},
			cookie: &http.Cookie{Name: DefaultCookieName, Value: "c"}, allowCookie: true, token: "h", source: SourceHeader},
		{name: "Basic header, cookie allowed", headers: []string{"Basic YWxpY2U6c2VjcmV0"},
			cookie: &http.Cookie{Name: DefaultCookieName, Value: "c"}, allowCookie: true, token: "c", source: SourceCookie},
		{name: "query ignored", url: "/v1/calls/1/events?access_token=q&token=q&jwt=q&" + DefaultCookieName + "=q", allowCookie: true},
		{name: "query ignored with header", url: "/?access_token=q", headers: []string{"Bearer h"}, token: "h", source: SourceHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if url == "" {
				url = "/v1/tools"
			}
			r := httptest.NewRequest(http.MethodGet, url, nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			if tt.cookie != nil {
				r.AddCookie(tt.cookie)
			}
			token, source := FromRequest(r, tt.allowCookie, tt.cookieName)
			if token != tt.token || source != tt.source {
				t.Errorf("FromRequest = %q, %q; want %q, %q", token, source, tt.token, tt.source)
			}
		})
	}
}
