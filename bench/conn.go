package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
)

// conn is one client's keep-alive HTTP/1.1 connection to one node. A client
// has one request in flight at a time, so it needs no pool: it writes the
// request in one write and reads the answer with net/http's response parser.
// The node sees what any HTTP client sends; the load generator spends less of
// the machine's two cores than net/http's pooled client does (its CPU is
// measured and reported apart from the nodes').
type conn struct {
	host string // host:port
	c    net.Conn
	br   *bufio.Reader
	buf  []byte
}

func newConn(base string) *conn {
	u, err := url.Parse(base)
	if err != nil {
		return &conn{host: base}
	}
	return &conn{host: u.Host}
}

func (k *conn) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// submit posts raw to /v1/txs and waits for the answer: the committed result,
// or the node's error (with the result when the ledger rejected it in a block).
func (k *conn) submit(ctx context.Context, raw []byte) (*bbus.TxResult, error) {
	for attempt := 0; ; attempt++ {
		res, err, retry := k.try(ctx, raw)
		// A keep-alive connection the server closed while idle fails without
		// an answer: dial again, once. (Should the node have taken the
		// transaction after all, the same bytes again just wait for its commit.)
		if err != nil && retry && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return res, err
	}
}

func (k *conn) try(ctx context.Context, raw []byte) (res *bbus.TxResult, err error, retry bool) {
	if k.c == nil {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err := d.DialContext(ctx, "tcp", k.host)
		if err != nil {
			return nil, bbus.Errorf(bbus.EUNAVAILABLE, "cannot reach the node at %s: %v", k.host, err), false
		}
		k.c, k.br = c, bufio.NewReaderSize(c, 4096)
	}
	k.buf = append(k.buf[:0], "POST /v1/txs HTTP/1.1\r\nHost: "...)
	k.buf = append(k.buf, k.host...)
	k.buf = append(k.buf, "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: "...)
	k.buf = strconv.AppendInt(k.buf, int64(len(raw)), 10)
	k.buf = append(k.buf, "\r\n\r\n"...)
	k.buf = append(k.buf, raw...)
	k.c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := k.c.Write(k.buf); err != nil {
		k.close()
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "sending to %s: %v", k.host, err), true
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		k.close()
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "reading the answer of %s: %v", k.host, err), err == io.EOF || err == io.ErrUnexpectedEOF
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		k.close()
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "reading the answer of %s: %v", k.host, err), false
	}
	if resp.Close {
		k.close()
	}
	if resp.StatusCode == http.StatusOK {
		var r bbus.TxResult
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, bbus.Errorf(bbus.EINTERNAL, "the answer is not a transaction result: %v", err), false
		}
		return &r, nil, false
	}
	var e bbus.ErrorResponse
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		return e.Result, e.Error, false
	}
	return nil, bbus.Errorf(client.CodeOfStatus(resp.StatusCode), "HTTP %s: %.200s", resp.Status, body), false
}

// conns is a client's connections, one per node, made when first used.
type conns []*conn

func (t *target) conns() conns {
	cs := make(conns, len(t.urls))
	for i, u := range t.urls {
		cs[i] = newConn(u)
	}
	return cs
}

func (cs conns) close() {
	for _, c := range cs {
		c.close()
	}
}
