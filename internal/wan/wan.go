// Package wan puts a wide-area network between processes on one machine: a
// Proxy accepts TCP connections on a loopback address and forwards each to a
// target, every byte delivered a fixed one-way delay after it was read, in
// each direction, in order. It keeps at most a bounded number of bytes in
// flight per direction, so a fast sender is slowed as a real link would slow
// it (back-pressure through TCP). A proxy can also be cut, as a partition cuts
// a link, and healed.
//
// bbus's WAN benchmark (bbus bench --wan-delay) and its WAN tests put one
// proxy between every ordered pair of validators; the kernel's netem qdisc
// would do the same with network namespaces, but is not always there.
package wan

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// chunkSize is the most a proxy reads at once; queueChunks bound how many
// chunks wait in each direction of a connection (2 MiB at most).
const (
	chunkSize   = 32 << 10
	queueChunks = 64
)

// Proxy forwards the connections it accepts to its target with a delay.
type Proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration

	mu     sync.Mutex
	open   *sync.Cond // broadcast when cut becomes false or the proxy closes
	cut    bool
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// Listen starts a proxy on addr ("127.0.0.1:0" picks a port) that forwards
// to target, delaying each direction by delay.
func Listen(addr, target string, delay time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, delay: delay, conns: map[net.Conn]struct{}{}}
	p.open = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr returns the host:port the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Delay returns the one-way delay of each direction.
func (p *Proxy) Delay() time.Duration { return p.delay }

// Cut stops forwarding, as a partition would: the bytes of open connections
// stay where they are (neither end learns of the cut; a sender blocks once
// the buffers fill) and new connections are refused. Heal resumes them. An
// end that closes its connection during the cut is not passed on: the other
// end learns of it only when it next sends (and meets the closed socket), as
// across a real partition, where the closing end's FIN is lost.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
}

// Heal undoes Cut: open connections go on where they stopped (or end, if an
// end closed meanwhile) and new ones are forwarded again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.open.Broadcast()
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.open.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// wait blocks while the proxy is cut; it reports false once it is closed,
// and whether it waited.
func (p *Proxy) wait() (open, waited bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.cut && !p.closed {
		waited = true
		p.open.Wait()
	}
	return !p.closed, waited
}

func (p *Proxy) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// errLostEnd marks an end of stream that came while the proxy was cut.
var errLostEnd = errors.New("wan: the end of the stream was lost in a cut")

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.cut {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
	p.mu.Unlock()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		p.mu.Unlock()
		if refuse {
			down.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			up, err := net.DialTimeout("tcp", p.target, 3*time.Second)
			if err != nil {
				down.Close()
				return
			}
			if !p.track(down, up) {
				down.Close()
				up.Close()
				return
			}
			var dirs sync.WaitGroup
			dirs.Add(2)
			go func() { defer dirs.Done(); p.forward(up, down) }()
			go func() { defer dirs.Done(); p.forward(down, up) }()
			dirs.Wait()
			p.untrack(down, up)
		}()
	}
}

// chunk is bytes read from one end, due at the other at due.
type chunk struct {
	b   []byte
	due time.Time
	err error // the read's error (io.EOF at the end), with or without b
}

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// forward copies src to dst, each chunk delivered p.delay after it was read.
// The reader stops reading while the queue is full, which is what bounds the
// memory and slows the sender.
func (p *Proxy) forward(dst, src net.Conn) {
	q := make(chan chunk, queueChunks)
	go func() {
		defer close(q)
		for {
			open, waited := p.wait()
			if !open {
				return
			}
			b := *chunks.Get().(*[]byte)
			n, err := src.Read(b)
			if errors.Is(err, io.EOF) && (waited || p.isCut()) {
				err = errLostEnd
			}
			q <- chunk{b: b[:n], due: time.Now().Add(p.delay), err: err}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	fail := func() {
		if !failed {
			// A broken end breaks the whole connection, as TCP would; closing
			// both also stops the reader.
			failed = true
			dst.Close()
			src.Close()
		}
	}
	for c := range q {
		if failed {
			putChunk(c.b)
			continue
		}
		time.Sleep(time.Until(c.due))
		if open, _ := p.wait(); !open {
			fail()
		}
		if !failed && len(c.b) > 0 {
			if _, err := dst.Write(c.b); err != nil {
				fail()
			}
		}
		putChunk(c.b)
		switch {
		case failed || c.err == nil:
		case c.err == errLostEnd:
			// An end that closed across the cut: the other end learns of it
			// only when what it sends meets the closed socket, as after a
			// real partition (its FIN was lost).
		case errors.Is(c.err, io.EOF):
			// The sender closed its side: pass the end on and keep the other
			// direction going.
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			} else {
				fail()
			}
		default:
			fail()
		}
	}
}

// Mesh is a proxy for every ordered pair of n endpoints: Mesh[k][j] carries
// the connections k opens to j (nil where k == j).
type Mesh [][]*Proxy

// NewMesh starts the proxies between targets (host:port each), on loopback
// ports, each direction delayed by delay.
func NewMesh(targets []string, delay time.Duration) (Mesh, error) {
	m := make(Mesh, len(targets))
	for k := range targets {
		m[k] = make([]*Proxy, len(targets))
		for j, target := range targets {
			if j == k {
				continue
			}
			p, err := Listen("127.0.0.1:0", target, delay)
			if err != nil {
				m.Close()
				return nil, err
			}
			m[k][j] = p
		}
	}
	return m, nil
}

// Isolate cuts (or, with cut false, heals) every proxy to and from endpoint i.
func (m Mesh) Isolate(i int, cut bool) {
	for k := range m {
		for j, p := range m[k] {
			if p == nil || (k != i && j != i) {
				continue
			}
			if cut {
				p.Cut()
			} else {
				p.Heal()
			}
		}
	}
}

// Close stops every proxy of the mesh.
func (m Mesh) Close() {
	for _, row := range m {
		for _, p := range row {
			if p != nil {
				p.Close()
			}
		}
	}
}

// putChunk returns a chunk's buffer to the pool.
func putChunk(b []byte) {
	b = b[:cap(b)]
	chunks.Put(&b)
}
