package node

import (
	"sort"
	"strconv"
	"sync"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/ledger"
)

// eventRing holds the most recent ledger events for event streams: a bounded
// ring, so memory stays flat however long the node runs. A stream that falls
// further behind than the ring reaches, or resumes from before the node
// started, is told of the gap (httpapi.EventSource).
type eventRing struct {
	mu   sync.Mutex
	buf  []bbus.Event // circular; the oldest is at start
	pos  []httpapi.EventPos
	size int
	// start and n locate the held events in buf.
	start, n int
	// dropped is the newest position the ring does not hold: events at or
	// before it are gone (or were never seen). end is past every held event.
	dropped httpapi.EventPos
	end     httpapi.EventPos
	wake    chan struct{}
}

func newEventRing(size int, height int64) *eventRing {
	if size <= 0 {
		size = 1
	}
	return &eventRing{
		buf:     make([]bbus.Event, size),
		pos:     make([]httpapi.EventPos, size),
		size:    size,
		dropped: httpapi.EventPos{Height: height, N: httpapi.AllOfHeight},
		end:     httpapi.EventPos{Height: height, N: httpapi.AllOfHeight},
		wake:    make(chan struct{}),
	}
}

// add appends a committed block's events: what the ledger did by itself first,
// then each applied transaction's, in block order.
func (r *eventRing) add(b *chain.Block) {
	var evs []bbus.Event
	add := func(typ string, attrs map[string]string, tx string) {
		evs = append(evs, bbus.Event{
			ID: strconv.FormatInt(b.Height, 10) + "-" + strconv.Itoa(len(evs)), Height: b.Height, Time: b.Time,
			Type: typ, Tx: tx, Attrs: attrs,
		})
	}
	for _, e := range b.Begin {
		add(e.Type, attrMap(e.Attrs), "")
	}
	for _, o := range b.Txs {
		if o.Result.OK() {
			for _, e := range o.Result.Events {
				add(e.Type, attrMap(e.Attrs), o.Result.TxID)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range evs {
		p := httpapi.EventPos{Height: b.Height, N: i}
		if r.n == r.size {
			r.dropped = r.pos[r.start]
			r.start = (r.start + 1) % r.size
			r.n--
		}
		j := (r.start + r.n) % r.size
		r.buf[j], r.pos[j] = e, p
		r.n++
	}
	r.end = httpapi.EventPos{Height: b.Height, N: httpapi.AllOfHeight}
	if len(evs) > 0 {
		close(r.wake)
		r.wake = make(chan struct{})
	}
}

func attrMap(attrs []ledger.Attr) map[string]string {
	m := make(map[string]string, len(attrs))
	for _, a := range attrs {
		m[a.Key] = a.Value
	}
	return m
}

// after is httpapi.EventSource.Events.
func (r *eventRing) after(after *httpapi.EventPos, max int) ([]bbus.Event, httpapi.EventPos, bool, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if after == nil {
		return nil, r.end, false, r.wake
	}
	gap := after.Less(r.dropped)
	// The first held event past after.
	i := sort.Search(r.n, func(i int) bool { return after.Less(r.pos[(r.start+i)%r.size]) })
	var out []bbus.Event
	for ; i < r.n && len(out) < max; i++ {
		out = append(out, r.buf[(r.start+i)%r.size])
	}
	next := *after
	if len(out) > 0 {
		next = r.pos[(r.start+i-1)%r.size]
	} else if next.Less(r.end) {
		next = r.end
	}
	return out, next, gap, r.wake
}
