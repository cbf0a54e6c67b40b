// Package httpapi serves a bbus node's REST API: JSON under /v1 over a Backend
// (the node), with every error in one shape, {"error":{"code":...,"message":...}},
// and one mapping from bbus error codes to HTTP statuses (Status).
//
// The handler reads the ledger only through the query functions of package
// ledger, inside Backend.View, so every response reflects one committed state.
package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bbusdev/bbus"
)

// DefaultMaxBodyBytes is the largest request body the API reads unless
// Options says otherwise.
const DefaultMaxBodyBytes = 1 << 20

// Options tunes the API. The zero value serves with the defaults.
type Options struct {
	// MaxBodyBytes bounds a request body; a larger one is refused with 413
	// (too_large). Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives faults of the node that the API answers with 500
	// (internal). Nil means slog.Default().
	Logger *slog.Logger

	// Access control (see access.go): Tokens checks bearer tokens (nil: none
	// is valid); Reads says who may read without one (ReadsLoopback when
	// empty); ClientCertScope is what a caller with a verified TLS client
	// certificate may do without a token ("" nothing, ScopeRead or ScopeWrite).
	Tokens          TokenChecker
	Reads           string
	ClientCertScope string
	// RateLimit is how many requests a second each caller (a token, a client
	// certificate, or an address other than the node's own machine) may make
	// on average, RateBurst how many at once; past it, 429 with Retry-After.
	// Zero RateLimit turns limiting off.
	RateLimit float64
	RateBurst int
	// CORSOrigins are the web origins whose pages may call the API ("*" any);
	// none by default, so browsers keep other sites' pages out.
	CORSOrigins []string
	// Registerer receives the API's Prometheus series; GET /metrics serves
	// Gatherer. Nil: a registry of the API's own.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// EventHeartbeat is how often an idle event stream gets a comment line
	// that keeps proxies from closing it. Zero means DefaultEventHeartbeat.
	EventHeartbeat time.Duration
	// Closing, once closed, ends every event stream, so that a server's
	// graceful shutdown need not wait for them (http.Server.RegisterOnShutdown).
	Closing <-chan struct{}

	// Hosts are the host names the API answers to besides IP addresses and
	// localhost ("*": any); a request for another name is refused with 403
	// (forbidden), which is what DNS rebinding would need.
	Hosts []string
	// MaxEventStreams bounds the event streams open at once, in all (past
	// it, 503 unavailable) and per caller, a token or else an address (429
	// rate_limited). Zero means no bound.
	MaxEventStreams          int
	MaxEventStreamsPerCaller int
	// MaxStreamDuration ends an event stream after this long; its client
	// resumes with Last-Event-ID. Zero means DefaultMaxStreamDuration.
	MaxStreamDuration time.Duration
	// AuthFailuresPerMinute is how many requests with a token that is not
	// valid one address may send a minute (and at once); past it every
	// request of that address that carries a token gets 429 with Retry-After
	// until the minute has refilled. Zero means DefaultAuthFailuresPerMinute,
	// negative no limit.
	AuthFailuresPerMinute int
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Reads == "" {
		o.Reads = ReadsLoopback
	}
	if o.Registerer == nil && o.Gatherer == nil {
		reg := prometheus.NewRegistry()
		o.Registerer, o.Gatherer = reg, reg
	} else if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	} else if g, ok := o.Registerer.(prometheus.Gatherer); ok && o.Gatherer == nil {
		o.Gatherer = g
	} else if o.Gatherer == nil {
		o.Gatherer = prometheus.NewRegistry()
	}
	if o.EventHeartbeat <= 0 {
		o.EventHeartbeat = DefaultEventHeartbeat
	}
	if o.MaxStreamDuration <= 0 {
		o.MaxStreamDuration = DefaultMaxStreamDuration
	}
	if o.AuthFailuresPerMinute == 0 {
		o.AuthFailuresPerMinute = DefaultAuthFailuresPerMinute
	}
	return o
}

// api is the handler New returns.
type api struct {
	b       Backend
	opts    Options
	mux     *routeMux
	limiter *limiter
	metrics *apiMetrics
	// authFails limits requests with bad tokens per address; streams counts
	// the event streams (limits.go).
	authFails *limiter
	streams   *streamSlots
}

// New returns the API's handler over b.
func New(b Backend, opts Options) http.Handler {
	a := &api{b: b, opts: opts.withDefaults()}
	a.mux = &routeMux{ServeMux: http.NewServeMux(), a: a}
	a.limiter = newLimiter(a.opts.RateLimit, a.opts.RateBurst)
	if n := a.opts.AuthFailuresPerMinute; n > 0 {
		a.authFails = newLimiter(float64(n)/60, n)
	}
	a.streams = newStreamSlots(a.opts.MaxEventStreams, a.opts.MaxEventStreamsPerCaller)
	a.metrics = newAPIMetrics(a.opts.Registerer)
	a.routes()
	return a
}

// Routes returns the pattern of every route h serves ("GET /v1/vms/{id}", ...),
// in the order they were registered; h must come from New.
func Routes(h http.Handler) []string {
	if a, ok := h.(*api); ok {
		return append([]string{}, a.mux.patterns...)
	}
	return nil
}

func (a *api) routes() {
	a.mux.HandleFunc("GET /healthz", a.health)
	a.mux.HandleFunc("GET /readyz", a.ready)
	a.mux.HandleFunc("GET /metrics", a.metricsHandler())
	a.mux.HandleFunc("GET /v1/openapi.json", a.openAPI)
	a.mux.HandleFunc("GET /v1/status", a.status)
	a.mux.HandleFunc("POST /v1/txs", a.submit)
	a.mux.HandleFunc("GET /v1/txs/{id}", a.tx)
	a.mux.HandleFunc("GET /v1/blocks/{height}", a.block)
	a.mux.HandleFunc("GET /v1/evidence", a.evidence)
	a.mux.HandleFunc("GET /v1/proofs", a.proofs)
	a.mux.HandleFunc("GET /v1/events", a.events)
	a.writeRoutes()
	a.mux.HandleFunc("GET /v1/clouds", a.clouds)
	a.mux.HandleFunc("GET /v1/clouds/{id}", a.cloud)
	a.mux.HandleFunc("GET /v1/vms", a.vms)
	a.mux.HandleFunc("GET /v1/vms/{id}", a.vm)
	a.mux.HandleFunc("GET /v1/vms/{id}/history", a.vmHistory)
	a.mux.HandleFunc("GET /v1/vms/{id}/intervals", a.vmIntervals)
	a.mux.HandleFunc("GET /v1/vms/{id}/windows", a.vmWindows)
	a.mux.HandleFunc("GET /v1/vms/{id}/host", a.hostAt)
	a.mux.HandleFunc("GET /v1/migrations", a.migrations)
	a.mux.HandleFunc("GET /v1/migrations/{id}", a.migration)
	a.marketRoutes()
	a.nodeRoutes()
	a.dashboardRoutes()
	// Everything no route above serves: 404, or 405 if another method would do.
	a.mux.HandleFunc("/", a.noRoute)
}

// ServeHTTP implements http.Handler.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.serve(w, r) }

// recoverPanic answers a request whose handler panicked with 500 (internal).
func (a *api) recoverPanic(w http.ResponseWriter, r *http.Request) {
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			panic(v)
		}
		a.opts.Logger.Error("httpapi: panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
		writeError(w, bbus.Errorf(bbus.EINTERNAL, "internal error; the node's log has the details"))
	}
}

// noRoute answers a request that matched no route: 405 with an Allow header if
// the path is served for other methods, 404 otherwise.
func (a *api) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeError(w, bbus.Errorf(bbus.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
		return
	}
	if allow[0] == http.MethodGet {
		allow = append(allow, http.MethodHead)
	}
	allowed := strings.Join(allow, ", ")
	w.Header().Set("Allow", allowed)
	writeJSON(w, http.StatusMethodNotAllowed, &bbus.ErrorResponse{Error: &bbus.Error{
		Code:    bbus.EINVALID,
		Message: "method " + r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + allowed,
	}})
}

// health serves GET /healthz: 200 while the process serves as a node, 503
// once its consensus has failed for good (Liveness.Err).
func (a *api) health(w http.ResponseWriter, r *http.Request) {
	if l, ok := a.b.(Liveness); ok {
		if err := l.Err(); err != nil {
			w.Header().Set("Cache-Control", "no-store")
			writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "%v", err))
			return
		}
	}
	writeJSON(w, http.StatusOK, &bbus.Health{Status: "ok"})
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	st, err := a.b.Status(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// writeJSON writes v as the JSON body of a response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(&bbus.ErrorResponse{Error: bbus.Errorf(bbus.EINTERNAL, "encoding the response: %v", err)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
