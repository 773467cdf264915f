package main

import (
	"fmt"
	"net"
	"net/http"

	"go.uber.org/zap"

	"github.com/capstream/capstream/internal/httpapi"
)

// serveMetrics serves GET /metrics, and nothing else, on a listener of its
// own at addr, apart from the API: the metrics need no token and name
// every tool, so they go where only the operator's scraper reaches. It
// returns the server, for Close, and the channel of its Serve's result.
func serveMetrics(addr string, m *httpapi.Metrics, log *zap.Logger) (*http.Server, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := httpapi.NewHTTPServer(mux, zap.NewStdLog(log.Named("net/http")))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving metrics", zap.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return srv, served, nil
}
