package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeMetricsListener: outside dev mode /metrics is not on the API
// listener; with --metrics-addr it is on that listener, alone.
func TestServeMetricsListener(t *testing.T) {
	get := func(t *testing.T, url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("by default, nowhere", func(t *testing.T) {
		s := startServing(t, prodFlags(t)...)
		if code, _ := get(t, s.url+"/metrics"); code != http.StatusNotFound {
			t.Errorf("GET /metrics on the API: %d, want 404", code)
		}
		if s.metricsURL != "" {
			t.Errorf("a metrics listener at %s without --metrics-addr", s.metricsURL)
		}
		if !strings.Contains(s.stderr.String(), "metrics are not served: give --metrics-addr") {
			t.Errorf("the log does not say where the metrics are:\n%s", s.stderr.String())
		}
	})

	t.Run("with --metrics-addr, there", func(t *testing.T) {
		s := startServing(t, append(prodFlags(t), "--metrics-addr", "127.0.0.1:0")...)
		if s.metricsURL == "" {
			t.Fatalf("no \"serving metrics\" log line:\n%s", s.stderr.String())
		}
		if code, _ := get(t, s.url+"/metrics"); code != http.StatusNotFound {
			t.Errorf("GET /metrics on the API: %d, want 404", code)
		}
		code, body := get(t, s.metricsURL)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", s.metricsURL, code)
		}
		for _, want := range []string{"capstream_calls_in_flight ", "\ncapstream_dev_mode 0\n", "go_goroutines "} {
			if !strings.Contains(body, want) {
				t.Errorf("the metrics lack %q", want)
			}
		}
		base := strings.TrimSuffix(s.metricsURL, "/metrics")
		for _, path := range []string{"/", "/v1/tools", "/healthz"} {
			if code, _ := get(t, base+path); code != http.StatusNotFound {
				t.Errorf("GET %s on the metrics listener: %d, want 404", path, code)
			}
		}
	})
}
