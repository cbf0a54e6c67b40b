package agent

import "github.com/prometheus/client_golang/prometheus"

// metrics are the agent's bbus_agent_* series.
type metrics struct {
	events      *prometheus.CounterVec
	steps       *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	differences prometheus.Counter
	failures    prometheus.Counter
	pending     prometheus.Gauge
	latency     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbus_agent_events_total", Help: "Events the virtualisation layer reported, by kind.",
		}, []string{"kind"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbus_agent_steps_total", Help: "Ledger steps the agent committed, by transaction type.",
		}, []string{"step"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbus_agent_refusals_total", Help: "Steps the ledger refused, by the ledger's code.",
		}, []string{"code"}),
		differences: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bbus_agent_differences_total", Help: "Disagreements between the layer and the ledger the agent reported.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bbus_agent_node_failures_total", Help: "Requests to the node that failed (unreachable, timed out); retried.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bbus_agent_pending", Help: "Steps waiting for the other cloud or the node.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bbus_agent_step_latency_seconds", Help: "From the layer's event to the commit of the step it caused.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"step"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.steps, m.refusals, m.differences, m.failures, m.pending, m.latency)
	}
	return m
}
