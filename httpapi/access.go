package httpapi

import (
	"context"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bbusdev/bbus"
)

// Who may read. Writes always need a write token (or a client certificate
// granted the write scope).
const (
	// ReadsLoopback lets callers on the node's own machine read without a
	// token; others need one. The default. Behind a reverse proxy on the same
	// machine every caller looks local: use ReadsToken there.
	ReadsLoopback = "loopback"
	// ReadsOpen lets anyone who reaches the API read.
	ReadsOpen = "open"
	// ReadsToken wants a token (read or write) for every read.
	ReadsToken = "token"
)

// Token scopes. A write token may also read.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// TokenChecker resolves bearer tokens. Package tokens implements it.
type TokenChecker interface {
	// Check returns the id and scope of the token whose secret is secret.
	Check(secret string) (id, scope string, ok bool)
}

// access is what a route asks of its caller.
type access int

const (
	accessPublic access = iota // anyone: health, readiness, the API's description
	accessRead                 // reads, and POST /v1/txs (its signature is its authority)
	accessWrite                // node-signed writes: the node signs for the caller
)

// publicRoutes are answered for anyone.
var publicRoutes = []string{"GET /healthz", "GET /readyz", "GET /v1/openapi.json", "/"}

func accessOf(pattern string) access {
	method, path, _ := strings.Cut(pattern, " ")
	switch {
	case slices.Contains(publicRoutes, pattern):
		return accessPublic
	case method == http.MethodPost && path != "/v1/txs":
		return accessWrite
	}
	return accessRead
}

// caller is who sent a request, as far as the API can tell.
type caller struct {
	scope string // "", read or write
	// limitKey names the caller for rate limiting; "" for a caller on the
	// node's own machine without a token, which is not limited.
	limitKey string
}

// authenticate finds the caller's scope from its bearer token and client
// certificate. A token that is present but not valid is an error, even where
// none is needed: a caller should learn that its token is wrong.
func (a *api) authenticate(r *http.Request) (caller, *bbus.Error) {
	var c caller
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, secret, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			return c, bbus.Errorf(bbus.EUNAUTHENTICATED, "the Authorization header must be \"Bearer <token>\"")
		}
		var id, scope string
		ok := false
		if a.opts.Tokens != nil {
			id, scope, ok = a.opts.Tokens.Check(strings.TrimSpace(secret))
		}
		if !ok {
			return c, bbus.Errorf(bbus.EUNAUTHENTICATED, "the bearer token is not valid here: revoked, mistyped or made for another node")
		}
		c.scope, c.limitKey = scope, "token:"+id
	}
	if s := a.opts.ClientCertScope; s != "" && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		if c.scope != ScopeWrite {
			c.scope = s
		}
		if c.limitKey == "" {
			c.limitKey = "cert:" + r.TLS.VerifiedChains[0][0].Subject.String()
		}
	}
	if c.limitKey == "" && !isLoopback(r) {
		c.limitKey = "addr:" + remoteIP(r)
	}
	return c, nil
}

// authorize checks that c may use a route that asks for acc.
func (a *api) authorize(c caller, acc access, r *http.Request) *bbus.Error {
	switch acc {
	case accessRead:
		if c.scope != "" || a.opts.Reads == ReadsOpen || a.opts.Reads == ReadsLoopback && isLoopback(r) {
			return nil
		}
		return bbus.Errorf(bbus.EUNAUTHENTICATED, "this node wants a token for reads: send Authorization: Bearer <token> (bbus token create --scope read)")
	case accessWrite:
		switch c.scope {
		case ScopeWrite:
			return nil
		case ScopeRead:
			return bbus.Errorf(bbus.EFORBIDDEN, "a read token may not write: use a token made with --scope write")
		}
		return bbus.Errorf(bbus.EUNAUTHENTICATED, "writes the node signs need a write token: send Authorization: Bearer <token> (bbus token create --scope write)")
	}
	return nil
}

func isLoopback(r *http.Request) bool {
	ip := net.ParseIP(remoteIP(r))
	return ip != nil && ip.IsLoopback()
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter is a token bucket per caller: rate requests a second on average,
// burst at once.
type limiter struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory; past it, full buckets are forgotten.
const maxBuckets = 10000

func newLimiter(rate float64, burst int) *limiter {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if b < 1 {
		b = math.Max(1, math.Ceil(rate))
	}
	return &limiter{rate: rate, burst: b, now: time.Now, buckets: map[string]*bucket{}}
}

// allow takes one request from key's bucket, or says how long until it may.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil || key == "" {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// guard wraps the handler of a route: it records the route for the metrics,
// then checks the caller's access and rate before the handler runs.
func (a *api) guard(pattern string, h http.HandlerFunc) http.HandlerFunc {
	acc := accessOf(pattern)
	return func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
			info.route = pattern
		}
		if acc != accessPublic {
			if r.Method == http.MethodPost {
				if err := checkContentType(r); err != nil {
					writeError(w, err)
					return
				}
			}
			// An address that sent too many bad tokens gets no token checked
			// until its allowance refills: guessing is slow.
			failKey := "addr:" + remoteIP(r)
			hasToken := r.Header.Get("Authorization") != ""
			if hasToken {
				if blocked, wait := a.authFails.blocked(failKey); blocked {
					secs := retryAfter(w, wait)
					writeError(w, bbus.Errorf(bbus.ERATELIMITED, "too many requests with a token that is not valid from this address (at most %d a minute); retry after %d s", a.opts.AuthFailuresPerMinute, secs))
					return
				}
			}
			c, err := a.authenticate(r)
			if err != nil && hasToken && err.Code == bbus.EUNAUTHENTICATED {
				a.authFails.allow(failKey)
			}
			if err == nil {
				err = a.authorize(c, acc, r)
			}
			if err != nil {
				if err.Code == bbus.EUNAUTHENTICATED {
					w.Header().Set("WWW-Authenticate", `Bearer realm="bbus"`)
				}
				writeError(w, err)
				return
			}
			if ok, wait := a.limiter.allow(c.limitKey); !ok {
				secs := retryAfter(w, wait)
				writeError(w, bbus.Errorf(bbus.ERATELIMITED, "too many requests from this caller: at most %g a second (bursts of %g); retry after %d s", a.limiter.rate, a.limiter.burst, secs))
				return
			}
			if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
				info.caller = c.streamKey(r)
			}
		}
		h(w, r)
	}
}

// routeMux is the API's ServeMux: it remembers every pattern (for Routes) and
// guards every handler.
type routeMux struct {
	*http.ServeMux
	a        *api
	patterns []string
}

// HandleFunc registers h for pattern, guarded.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, m.a.guard(pattern, h))
}

// requestInfo is what the route's guard tells the request's middleware and
// handler: the route, and who the caller is for the event stream caps.
type requestInfo struct{ route, caller string }

// streamKey names c for the event stream caps: its token or certificate, or
// else its address (loopback included).
func (c caller) streamKey(r *http.Request) string {
	if c.limitKey != "" {
		return c.limitKey
	}
	return "addr:" + remoteIP(r)
}

type infoKey struct{}

// cors answers a CORS preflight and adds the CORS headers to a request from
// an allowed origin. It reports whether it answered the request.
func (a *api) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !a.corsAllowed(origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// recorder remembers the status a handler answered with.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (to flush events).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// serve is what ServeHTTP does for every request: the Host and Origin checks
// (origin.go), CORS, the body limit, the route, and the request's metrics.
func (a *api) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	info := &requestInfo{}
	defer func() { a.metrics.observe(info.route, rec.status, time.Since(start)) }()
	defer a.recoverPanic(rec, r)
	if err := a.checkHost(r); err != nil {
		writeError(rec, err)
		return
	}
	if err := a.checkOrigin(r); err != nil {
		writeError(rec, err)
		return
	}
	if a.cors(rec, r) {
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
	a.mux.ServeHTTP(rec, r)
}
