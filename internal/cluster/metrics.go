package cluster

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the cluster backend's Prometheus metrics.
type Metrics struct {
	appendSeconds prometheus.Histogram
	lease         prometheus.Gauge
	fences        prometheus.Counter
	reaped        prometheus.Counter
	capConflicts  prometheus.Counter
}

// NewMetrics registers the backend's metrics on reg. Nil: they are kept
// but not exported.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "capstream_cluster_append_seconds", Help: "Time to store one event of a call in JetStream, acknowledged, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 3, 12),
		}),
		lease: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "capstream_cluster_lease_held", Help: "1 while this replica holds its lease and admits calls, 0 while it is fenced.",
		}),
		fences: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstream_cluster_fences_total", Help: "Times this replica fenced itself: its lease lapsed, its calls were cancelled.",
		}),
		reaped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstream_cluster_reaped_calls_total", Help: "Calls of dead replicas this replica ended with call.failed node_lost.",
		}),
		capConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstream_cluster_cap_conflicts_total", Help: "Compare-and-set conflicts on the cluster-wide caps, retried.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.appendSeconds, m.lease, m.fences, m.reaped, m.capConflicts)
	}
	return m
}
