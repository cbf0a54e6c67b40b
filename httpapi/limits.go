package httpapi

import (
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bbusdev/bbus"
)

// The API's bounds on what a caller can hold: connections (LimitListener),
// event streams (streamSlots, MaxStreamDuration) and guesses at tokens
// (AuthFailuresPerMinute). Each descriptor the API holds is one consensus
// cannot open: a node that runs out of them cannot write its WAL.

// DefaultMaxStreamDuration is how long an event stream lasts unless Options
// says otherwise; the client then resumes it with Last-Event-ID.
const DefaultMaxStreamDuration = 30 * time.Minute

// DefaultAuthFailuresPerMinute is how many requests with a token that is not
// valid one address may make a minute unless Options says otherwise.
const DefaultAuthFailuresPerMinute = 30

// ConnLimits bounds the connections LimitListener lets through.
type ConnLimits struct {
	// Max is how many may be open at once in all; MaxPerAddr how many from
	// one IP address. Zero means no bound.
	Max, MaxPerAddr int
	// HTTP says the listener's connections speak plain HTTP, so a refused one
	// gets a short answer (503 unavailable past Max, 429 rate_limited past
	// MaxPerAddr) before it is closed. Under TLS a refused connection is only
	// closed.
	HTTP bool
}

// maxRefusing bounds the refused connections being answered at once; past
// it, a refused connection is closed without an answer.
const maxRefusing = 64

// refuseTimeout bounds how long a refused connection is held for its answer.
const refuseTimeout = time.Second

// Listener is a net.Listener that holds at most so many connections.
type Listener struct {
	net.Listener
	lim ConnLimits

	mu       sync.Mutex
	open     int
	perAddr  map[string]int
	refusing atomic.Int32
	refused  atomic.Int64
}

// LimitListener returns ln with the connections it accepts bounded by lim.
// A connection over a bound is accepted and, at once, answered and closed, so
// it holds no descriptor beyond that (refuseTimeout at most).
func LimitListener(ln net.Listener, lim ConnLimits) *Listener {
	return &Listener{Listener: ln, lim: lim, perAddr: map[string]int{}}
}

// Accept returns the next connection within the bounds.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := connAddr(c)
		l.mu.Lock()
		var refuse *bbus.Error
		switch {
		case l.lim.Max > 0 && l.open >= l.lim.Max:
			refuse = bbus.Errorf(bbus.EUNAVAILABLE, "the node holds as many connections as it serves (%d); retry later", l.lim.Max)
		case l.lim.MaxPerAddr > 0 && l.perAddr[addr] >= l.lim.MaxPerAddr:
			refuse = bbus.Errorf(bbus.ERATELIMITED, "this address holds as many connections as the node serves one address (%d): reuse them, or close some", l.lim.MaxPerAddr)
		default:
			l.open++
			l.perAddr[addr]++
		}
		l.mu.Unlock()
		if refuse != nil {
			l.refuse(c, refuse)
			continue
		}
		return &limitedConn{Conn: c, l: l, addr: addr}, nil
	}
}

// Open returns how many connections are held now; Refused how many were
// refused since the listener was made.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Refused returns how many connections the listener refused.
func (l *Listener) Refused() int64 { return l.refused.Load() }

func (l *Listener) release(addr string) {
	l.mu.Lock()
	l.open--
	if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
		delete(l.perAddr, addr)
	}
	l.mu.Unlock()
}

// refuse answers c with e, if it can without holding it long, and closes it.
func (l *Listener) refuse(c net.Conn, e *bbus.Error) {
	l.refused.Add(1)
	if !l.lim.HTTP || l.refusing.Add(1) > maxRefusing {
		if l.lim.HTTP {
			l.refusing.Add(-1)
		}
		c.Close()
		return
	}
	go func() {
		defer l.refusing.Add(-1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(refuseTimeout))
		body, _ := json.Marshal(&bbus.ErrorResponse{Error: e})
		status := Status(e.Code)
		head := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
			"Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nRetry-After: 1\r\nConnection: close\r\n" +
			"Content-Length: " + strconv.Itoa(len(body)+1) + "\r\n\r\n"
		if _, err := io.WriteString(c, head+string(body)+"\n"); err != nil {
			return
		}
		// Read what the client sent before closing, so that closing does not
		// reset the connection before the client reads the answer.
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(c, 1<<16))
	}()
}

// limitedConn gives its place back to its listener when closed.
type limitedConn struct {
	net.Conn
	l    *Listener
	addr string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

func connAddr(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// streamSlots counts the event streams open, in all and per caller.
type streamSlots struct {
	max, perCaller int

	mu      sync.Mutex
	open    int
	callers map[string]int
}

func newStreamSlots(max, perCaller int) *streamSlots {
	return &streamSlots{max: max, perCaller: perCaller, callers: map[string]int{}}
}

// take holds a slot for caller, or says why it cannot; release gives it back.
func (s *streamSlots) take(caller string) (release func(), err *bbus.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.max > 0 && s.open >= s.max:
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "the node serves as many event streams as it can (%d); retry later", s.max)
	case s.perCaller > 0 && s.callers[caller] >= s.perCaller:
		return nil, bbus.Errorf(bbus.ERATELIMITED, "this caller holds as many event streams as the node serves one caller (%d): close one first", s.perCaller)
	}
	s.open++
	s.callers[caller]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.open--
			if s.callers[caller]--; s.callers[caller] <= 0 {
				delete(s.callers, caller)
			}
			s.mu.Unlock()
		})
	}, nil
}

// blocked reports whether key's bucket is empty, without taking from it, and
// how long until it is not.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	if l == nil || key == "" {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return false, 0
	}
	tokens := math.Min(l.burst, b.tokens+l.now().Sub(b.last).Seconds()*l.rate)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / l.rate * float64(time.Second))
}

// retryAfter sets Retry-After to wait, in whole seconds (at least 1), and
// returns them.
func retryAfter(w http.ResponseWriter, wait time.Duration) int {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}

// Register adds the listener's series to reg: bbus_api_connections (held
// now) and bbus_api_connections_refused_total.
func (l *Listener) Register(reg prometheus.Registerer) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bbus_api_connections",
			Help: "Connections the REST API holds now.",
		}, func() float64 { return float64(l.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bbus_api_connections_refused_total",
			Help: "Connections the REST API refused because a cap (in all, or per address) was reached.",
		}, func() float64 { return float64(l.Refused()) }))
}
