package httpapi

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capstream/capstream/stream"
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
	streamsRejected prometheus.Counter
	unauthenticated prometheus.Counter

	registry atomic.Pointer[stream.Registry] // the calls kept, for the retention metrics
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
			Name: "capstream_streams_open", Help: "SSE streams open now: subscriptions and POSTs that stream.",
		}),
		streamsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstream_streams_rejected_total", Help: "Streams refused with 429 because their principal had as many open as it may.",
		}),
		unauthenticated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstream_unauthenticated_total", Help: "Requests refused with 401.",
		}),
	}
	retained := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "capstream_calls_retained", Help: "Finished calls kept for replay.",
	}, func() float64 { return float64(m.stats().Retained) })
	retainedBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "capstream_calls_retained_bytes", Help: "Bytes of the finished calls kept for replay, as the retention budgets count them.",
	}, func() float64 { return float64(m.stats().RetainedBytes) })
	evicted := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "capstream_calls_evicted_total", Help: "Finished calls dropped before their retention ended, to keep within the retention budgets.",
	}, func() float64 { return float64(m.stats().Evicted) })
	reg.MustRegister(m.calls, m.duration, m.hostCalls, m.rejected, m.callsInFlight, m.streamsOpen, m.streamsRejected, m.unauthenticated,
		retained, retainedBytes, evicted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch makes the retention metrics report r.
func (m *Metrics) watch(r *stream.Registry) { m.registry.Store(r) }

func (m *Metrics) stats() stream.RegistryStats {
	if r := m.registry.Load(); r != nil {
		return r.Stats()
	}
	return stream.RegistryStats{}
}

// Registerer is where other parts of the process (the cluster backend)
// register their metrics, served with these.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
