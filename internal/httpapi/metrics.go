package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the API's Prometheus metrics.
type Metrics struct {
	reg             *prometheus.Registry
	calls           *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	hostCalls       *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	callsInFlight   prometheus.Gauge
	streamsOpen     prometheus.Gauge
	unauthenticated prometheus.Counter
}

// NewMetrics registers the API's metrics, and the Go runtime's and the
// process's, on reg. Nil: a new registry of its own.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstream_calls_total", Help: "Calls ended, by tool and outcome (completed, failed, cancelled).",
		}, []string{"tool", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "capstream_call_duration_seconds", Help: "Duration of calls, by tool.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"tool"}),
		hostCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstream_host_calls_total", Help: "Host calls made by guests, by function and decision (allowed, denied, error).",
		}, []string{"function", "decision"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstream_calls_rejected_total", Help: "Calls refused with 429, by the cap that was reached (global, principal).",
		}, []string{"cap"}),
		callsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "capstream_calls_in_flight", Help: "Calls running now.",
		}),
		streamsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "capstream_streams_open", Help: "SSE streams open now.",
		}),
		unauthenticated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstream_unauthenticated_total", Help: "Requests refused with 401.",
		}),
	}
	reg.MustRegister(m.calls, m.duration, m.hostCalls, m.rejected, m.callsInFlight, m.streamsOpen, m.unauthenticated,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
