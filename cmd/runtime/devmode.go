package main

import (
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// devModeHeader is on every response of a server in dev mode, so that a
// client, a proxy's log or a scanner sees what it is talking to.
const devModeHeader = "Capstream-Dev-Mode"

// devSource says where --dev came from: the flag, or CAPSTREAM_DEV.
func devSource(f serveFlags) string {
	if env, ok := f.fromEnv["dev"]; ok {
		return env + " in the environment"
	}
	return "--dev"
}

// dropDev says how to turn dev mode off, from where it was turned on.
func dropDev(f serveFlags) string {
	if env, ok := f.fromEnv["dev"]; ok {
		return "Unset " + env
	}
	return "Drop --dev"
}

// checkDev refuses the dev-mode settings that would hand out working
// tokens: dev tokens minted with an operator's key, and a dev server on an
// address beyond loopback without --dev-unsafe-listen-anywhere.
func checkDev(f serveFlags) error {
	if !f.dev {
		if f.devListenAnywhere {
			return fmt.Errorf("--dev-unsafe-listen-anywhere applies to --dev only; drop it")
		}
		return nil
	}
	for _, key := range []struct{ flag, value string }{
		{"jwt-secret-file", f.secretFile}, {"jwt-public-key", f.publicKey}, {"jwks-url", f.jwksURL},
	} {
		if key.value != "" {
			return fmt.Errorf("dev mode (from %s) cannot be used with --%s: dev mode prints tokens for sample users "+
				"and must never mint them with a real key. %s to serve with your key, or drop --%s "+
				"to let dev mode generate a secret of its own", devSource(f), key.flag, dropDev(f), key.flag)
		}
	}
	if f.devListenAnywhere {
		return nil
	}
	if !loopbackHost(f.addr) {
		return fmt.Errorf("dev mode (from %s) listens on loopback only, and --addr is %q: anyone who reaches it "+
			"would get the sample users' tokens from the demo page. Use --addr 127.0.0.1:PORT (or [::1]:PORT, "+
			"localhost:PORT), or add --dev-unsafe-listen-anywhere if every host that reaches this address may "+
			"call tools as alice", devSource(f), f.addr)
	}
	return nil
}

// loopbackHost reports whether addr (host:port) names a loopback host:
// localhost or a loopback IP. An empty host is every interface.
func loopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackAddr reports whether a listener's address is a loopback one;
// it checks what "localhost" resolved to.
func loopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// printDevWarning tells, on stderr, that dev mode is on, where the setting
// came from, and what it exposes.
func printDevWarning(w io.Writer, f serveFlags) {
	fmt.Fprintf(w, `
  ************************************************************************
  capstream: DEV MODE is on (from %s).
  Tokens for sample users are minted with a generated secret and printed,
  the demo page at / carries them, and /metrics needs no token.
  Never run dev mode where others can reach it.
  ************************************************************************

`, devSource(f))
	if _, ok := f.fromEnv["dev"]; ok {
		fmt.Fprintf(w, "  To serve for real, unset %s.\n\n", f.fromEnv["dev"])
	}
	if f.devListenAnywhere {
		fmt.Fprintf(w, "  --dev-unsafe-listen-anywhere: listening on %s, beyond loopback.\n\n", f.addr)
	}
}

// withDevHeader sets devModeHeader on every response of h. It leaves the
// ResponseWriter as it is, so streams still flush.
func withDevHeader(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(devModeHeader, "true")
		h.ServeHTTP(w, r)
	})
}

// devModeGauge is capstream_dev_mode: 1 in dev mode, 0 otherwise, so that
// an alert can catch a dev server where there should be none.
func devModeGauge(dev bool) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "capstream_dev_mode", Help: "1 if the server runs in dev mode (sample users' tokens are printed and served), 0 if not.",
	})
	if dev {
		g.Set(1)
	}
	return g
}
