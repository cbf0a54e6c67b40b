package node

import (
	"io/fs"
	"path/filepath"
	"sync"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/ledger"
)

// nodeMetrics are a node's Prometheus series. They live in a registry of the
// node's own, with CometBFT's (cometbft_*), the API's and the Go runtime's,
// all served at the REST API's /metrics.
type nodeMetrics struct {
	reg     *prometheus.Registry
	txs     *prometheus.CounterVec
	latency prometheus.Histogram
}

func newNodeMetrics(n *Node) *nodeMetrics {
	m := &nodeMetrics{
		reg: prometheus.NewRegistry(),
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbus_txs_total",
			Help: "Transactions committed in blocks, by action type and result (ok, or the ledger's rejection code).",
		}, []string{"type", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bbus_submit_commit_seconds",
			Help:    "Time from a submission (POST /v1/txs or a node-signed write) to its commit, for submissions that wait for it.",
			Buckets: []float64{.005, .01, .015, .02, .025, .035, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	m.reg.MustRegister(n.app.Collectors()...)
	m.reg.MustRegister(newMemberCollector(n))
	m.reg.MustRegister(m.txs, m.latency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bbus_height",
			Help: "Height of the last block the node's state committed.",
		}, func() float64 { h, _, _ := n.store.Last(); return float64(h) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bbus_state_bytes",
			Help: "Size on disk of the node's ledger state (its goleveldb files).",
		}, func() float64 { return float64(DirSize(statePath(n.Home))) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bbus_expiry_backlog",
			Help: "Lapsing migration proposals and expired transaction ids due but not yet processed: BeginBlock processes at most ledger.MaxExpiriesPerBlock of each a block (counted up to 100,000).",
		}, func() float64 {
			_, _, t := n.store.Last()
			l, r := ledger.ExpiryBacklog(n.store.Committed(), t, 100_000)
			return float64(l + r)
		}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// block counts a committed block's transactions.
func (m *nodeMetrics) block(b *chain.Block) {
	for _, o := range b.Txs {
		typ, result := o.Result.Type, o.Result.Code
		if typ == "" {
			typ = "unknown"
		}
		if result == "" {
			result = "ok"
		}
		m.txs.WithLabelValues(typ, result).Inc()
	}
}

// DirSize returns the bytes of the files under dir: what a home's state or
// data takes on disk.
func DirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// promMu serialises the moments a node points Prometheus's default registerer
// at its own registry.
var promMu sync.Mutex

// metricsProvider returns CometBFT's metrics for a node: with rest.metrics on,
// its Prometheus series (cometbft_*), served by the REST API rather than on a
// port of their own; otherwise none. CometBFT registers them with Prometheus's
// default registerer when the node is built: build it within withRegistry.
func (n *Node) metricsProvider(cfg *cmtcfg.Config) cmtnode.MetricsProvider {
	cfg.Instrumentation.Prometheus = n.Config.REST.Metrics
	cfg.Instrumentation.PrometheusListenAddr = "" // no second port: /metrics of the REST API serves them
	return cmtnode.DefaultMetricsProvider(cfg.Instrumentation)
}

// withRegistry runs fn with Prometheus's default registerer pointed at the
// node's registry, which keeps two nodes in one process (tests, tools) from
// colliding.
func (n *Node) withRegistry(fn func()) {
	promMu.Lock()
	defer promMu.Unlock()
	prev := prometheus.DefaultRegisterer
	prometheus.DefaultRegisterer = n.rest.metrics.reg
	defer func() { prometheus.DefaultRegisterer = prev }()
	fn()
}
