package oracle

import "github.com/prometheus/client_golang/prometheus"

// metrics are the oracle's bbus_oracle_* series, labelled by VM.
type metrics struct {
	reg           *prometheus.Registry
	reports       *prometheus.CounterVec
	probes        *prometheus.CounterVec
	probeFailures *prometheus.CounterVec
	submitErrors  *prometheus.CounterVec
	lost          *prometheus.CounterVec
	conflicts     *prometheus.CounterVec
	lastEnd       *prometheus.GaugeVec
	pending       *prometheus.GaugeVec
}

func newMetrics() *metrics {
	vm := []string{"vm"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbus_oracle_reports_submitted_total",
			Help: "Windows the ledger recorded from this oracle."}, vm),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbus_oracle_probes_total",
			Help: "Probes sent."}, vm),
		probeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbus_oracle_probe_failures_total",
			Help: "Probes that found the VM not serving."}, vm),
		submitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbus_oracle_submit_errors_total",
			Help: "Submissions that failed and are retried (node unreachable, window not yet past on the ledger)."}, vm),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbus_oracle_windows_lost_total",
			Help: "Windows not committed before their transaction expired."}, vm),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbus_oracle_windows_conflicting_total",
			Help: "Windows another oracle had already reported."}, vm),
		lastEnd: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bbus_oracle_last_window_end_seconds",
			Help: "End (Unix seconds) of the last window settled."}, vm),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bbus_oracle_pending_windows",
			Help: "Completed windows not yet settled on the ledger."}, vm),
	}
	m.reg.MustRegister(m.reports, m.probes, m.probeFailures, m.submitErrors, m.lost, m.conflicts, m.lastEnd, m.pending)
	return m
}
