package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/tokens"
)

// RESTConfig is how a node serves its REST API: who may call it, its limits,
// TLS, and what it keeps for event streams. It is the "rest" object of
// HOME/config/bbus.json; docs/API.md explains each setting.
type RESTConfig struct {
	// Reads: "loopback" (callers on this machine read without a token; the
	// default), "open" (anyone may read) or "token" (every read needs one).
	// Writes the node signs always need a write token.
	Reads string `json:"reads"`
	// RateLimit is the requests a second each token (or client certificate,
	// or address other than this machine's) may make on average, RateBurst
	// how many at once. 0 turns limiting off.
	RateLimit    float64 `json:"rate_limit"`
	RateBurst    int     `json:"rate_burst"`
	MaxBodyBytes int64   `json:"max_body_bytes"`
	// CORSOrigins are web origins whose pages may call the API ("*": any).
	CORSOrigins []string `json:"cors_origins,omitempty"`
	// TLS: with a certificate and key the API speaks HTTPS only. With a client
	// CA every caller must present a certificate it signed (mutual TLS), and
	// TLSClientScope ("read" or "write") is what such a caller may do without a
	// token. Relative paths are taken from HOME/config.
	TLSCertFile     string `json:"tls_cert_file,omitempty"`
	TLSKeyFile      string `json:"tls_key_file,omitempty"`
	TLSClientCAFile string `json:"tls_client_ca_file,omitempty"`
	TLSClientScope  string `json:"tls_client_scope,omitempty"`
	// EventBuffer is how many recent ledger events the node holds for event
	// streams to resume from.
	EventBuffer int `json:"event_buffer"`
	// Metrics serves Prometheus series, bbus's and CometBFT's, at /metrics.
	Metrics bool `json:"metrics"`
	// Server timeouts. WriteTimeout bounds an answer (a submission waits up to
	// SubmitTimeout for its commit); event streams are exempt.
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	ReadTimeout       Duration `json:"read_timeout"`
	WriteTimeout      Duration `json:"write_timeout"`
	IdleTimeout       Duration `json:"idle_timeout"`

	// What callers may hold (docs/API.md, "Limits"). The node raises its
	// descriptor limit to the hard limit at start, keeps DescriptorReserve
	// descriptors for consensus (its WAL, databases and peers), and derives
	// each cap left at 0 from what remains.
	DescriptorReserve        int `json:"descriptor_reserve"`
	MaxConnections           int `json:"max_connections"`
	MaxConnectionsPerAddr    int `json:"max_connections_per_addr"`
	MaxEventStreams          int `json:"max_event_streams"`
	MaxEventStreamsPerCaller int `json:"max_event_streams_per_caller"`
	// MaxStreamDuration ends an event stream after this long (the client
	// resumes with Last-Event-ID), so every connection has a bounded life.
	MaxStreamDuration Duration `json:"max_stream_duration"`
	// AuthFailuresPerMinute: requests with a token that is not valid one
	// address may send a minute; past it, 429. Negative: no limit.
	AuthFailuresPerMinute int `json:"auth_failures_per_minute"`
	// Hosts are host names the API answers to besides IP addresses,
	// localhost and this machine's name ("*": any name).
	Hosts []string `json:"hosts,omitempty"`
}

// DefaultRESTConfig returns the REST settings of a new home.
func DefaultRESTConfig() RESTConfig {
	return RESTConfig{
		Reads:             httpapi.ReadsLoopback,
		RateLimit:         1000,
		RateBurst:         2000,
		MaxBodyBytes:      httpapi.DefaultMaxBodyBytes,
		EventBuffer:       50000,
		Metrics:           true,
		ReadHeaderTimeout: Duration(10 * time.Second),
		ReadTimeout:       Duration(30 * time.Second),
		WriteTimeout:      Duration(SubmitTimeout + 10*time.Second),
		IdleTimeout:       Duration(2 * time.Minute),

		DescriptorReserve:     DefaultDescriptorReserve,
		MaxStreamDuration:     Duration(httpapi.DefaultMaxStreamDuration),
		AuthFailuresPerMinute: httpapi.DefaultAuthFailuresPerMinute,
	}
}

// Validate checks the settings.
func (c *RESTConfig) Validate() error {
	switch {
	case c.Reads != httpapi.ReadsLoopback && c.Reads != httpapi.ReadsOpen && c.Reads != httpapi.ReadsToken:
		return bbus.Errorf(bbus.EINVALID, "rest.reads must be loopback, open or token, not %q", c.Reads)
	case c.TLSClientScope != "" && c.TLSClientScope != httpapi.ScopeRead && c.TLSClientScope != httpapi.ScopeWrite:
		return bbus.Errorf(bbus.EINVALID, "rest.tls_client_scope must be empty, read or write, not %q", c.TLSClientScope)
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return bbus.Errorf(bbus.EINVALID, "rest.tls_cert_file and rest.tls_key_file go together")
	case c.TLSClientCAFile != "" && c.TLSCertFile == "":
		return bbus.Errorf(bbus.EINVALID, "rest.tls_client_ca_file needs rest.tls_cert_file and rest.tls_key_file")
	case c.RateLimit < 0 || c.RateBurst < 0 || c.MaxBodyBytes < 0 || c.EventBuffer < 0:
		return bbus.Errorf(bbus.EINVALID, "rest: rate_limit, rate_burst, max_body_bytes and event_buffer must not be negative")
	case c.DescriptorReserve < 0 || c.MaxConnections < 0 || c.MaxConnectionsPerAddr < 0 || c.MaxEventStreams < 0 ||
		c.MaxEventStreamsPerCaller < 0 || c.MaxStreamDuration < 0:
		return bbus.Errorf(bbus.EINVALID, "rest: descriptor_reserve, max_connections, max_connections_per_addr, max_event_streams, max_event_streams_per_caller and max_stream_duration must not be negative")
	}
	return nil
}

// restState is what the node keeps for its REST API.
type restState struct {
	key     *keys.Key
	events  *eventRing
	metrics *nodeMetrics
	logs    io.Writer
	limits  restLimits
	ln      *httpapi.Listener
}

// DefaultDescriptorReserve is how many descriptors a new home keeps for
// consensus: CometBFT's WAL, its databases' files and its peers' connections.
const DefaultDescriptorReserve = 4096

// maxDerivedConnections bounds the connection cap derived from a large
// descriptor limit: past it memory, not descriptors, runs out.
const maxDerivedConnections = 32768

// restLimits are the caps the REST API runs with, as the node derived them.
type restLimits struct {
	descriptors     uint64 // the soft limit after raising it; 0 unknown
	before, hard    uint64
	reserve         int
	conns, perAddr  int
	streams, perKey int
}

// deriveLimits works out the API's caps from c and a descriptor limit
// (0: unknown): every cap c leaves at 0 comes from what the reserve leaves.
func (c *RESTConfig) deriveLimits(descriptors uint64) restLimits {
	l := restLimits{descriptors: descriptors, reserve: c.DescriptorReserve}
	avail := maxDerivedConnections
	if descriptors > 0 {
		fds := int(min(descriptors, 1<<30))
		l.reserve = min(l.reserve, fds/2)
		avail = fds - l.reserve
	}
	l.conns = c.MaxConnections
	if l.conns == 0 || l.conns > avail {
		l.conns = min(avail, maxDerivedConnections)
	}
	l.perAddr = cmp.Or(c.MaxConnectionsPerAddr, max(1, l.conns/4))
	l.streams = cmp.Or(c.MaxEventStreams, max(1, l.conns/4))
	l.perKey = cmp.Or(c.MaxEventStreamsPerCaller, min(l.streams, 32))
	return l
}

// String says what the limits are, for the node's log at start.
func (l restLimits) String() string {
	fds := "unknown"
	if l.descriptors > 0 {
		fds = fmt.Sprintf("%d (soft limit was %d, hard limit %d)", l.descriptors, l.before, l.hard)
	}
	return fmt.Sprintf("descriptors %s, %d kept for consensus; REST API: at most %d connections (%d per address), %d event streams (%d per caller)",
		fds, l.reserve, l.conns, l.perAddr, l.streams, l.perKey)
}

// initREST prepares the API's state and watches the application's blocks for
// events and metrics. Open calls it before consensus starts, so no block is missed.
func (n *Node) initREST(logs io.Writer) error {
	k, err := keys.Load(n.Home, n.Config.Cloud)
	if err != nil {
		return err
	}
	rc := &n.Config.REST
	if err := rc.Validate(); err != nil {
		return err
	}
	before, fds, hard, _ := raiseFileLimit()
	limits := rc.deriveLimits(fds)
	limits.before, limits.hard = before, hard
	h, _, _ := n.store.Last()
	n.rest = restState{key: k, events: newEventRing(rc.EventBuffer, h), metrics: newNodeMetrics(n), logs: logs, limits: limits}
	n.app.Watch(func(b *chain.Block) {
		n.rest.events.add(b)
		n.rest.metrics.block(b)
	})
	return nil
}

// apiListen listens for the REST API on addr, holding at most the
// connections the limits allow, and logs the limits.
func (n *Node) apiListen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := n.rest.limits
	n.rest.ln = httpapi.LimitListener(ln, httpapi.ConnLimits{Max: l.conns, MaxPerAddr: l.perAddr, HTTP: n.Config.REST.TLSCertFile == ""})
	if n.rest.metrics != nil && n.rest.metrics.reg != nil {
		n.rest.ln.Register(n.rest.metrics.reg)
	}
	if n.rest.logs != nil {
		fmt.Fprintf(n.rest.logs, "bbus: %s\n", l)
	}
	return n.rest.ln, nil
}

// apiServer returns the REST API's server, with TLS if the config asks.
func (n *Node) apiServer() (*http.Server, error) {
	rc := n.Config.REST
	opts := httpapi.Options{
		MaxBodyBytes: rc.MaxBodyBytes,
		Tokens:       tokens.Open(n.Home),
		Reads:        rc.Reads,
		RateLimit:    rc.RateLimit,
		RateBurst:    rc.RateBurst,
		CORSOrigins:  rc.CORSOrigins,
		Registerer:   n.rest.metrics.reg,
		Gatherer:     n.rest.metrics.reg,

		Hosts:                    rc.Hosts,
		MaxEventStreams:          n.rest.limits.streams,
		MaxEventStreamsPerCaller: n.rest.limits.perKey,
		MaxStreamDuration:        time.Duration(rc.MaxStreamDuration),
		AuthFailuresPerMinute:    rc.AuthFailuresPerMinute,
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		opts.Hosts = append(opts.Hosts[:len(opts.Hosts):len(opts.Hosts)], name)
	}
	srv := &http.Server{
		ReadHeaderTimeout: time.Duration(rc.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(rc.ReadTimeout),
		WriteTimeout:      time.Duration(rc.WriteTimeout),
		IdleTimeout:       time.Duration(rc.IdleTimeout),
	}
	if rc.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(n.configFile(rc.TLSCertFile), n.configFile(rc.TLSKeyFile))
		if err != nil {
			return nil, bbus.Errorf(bbus.EINVALID, "REST API TLS certificate: %v", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if rc.TLSClientCAFile != "" {
			pem, err := os.ReadFile(n.configFile(rc.TLSClientCAFile))
			if err != nil {
				return nil, bbus.Errorf(bbus.EINVALID, "REST API client CA: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, bbus.Errorf(bbus.EINVALID, "REST API client CA %s holds no PEM certificate", rc.TLSClientCAFile)
			}
			srv.TLSConfig.ClientCAs = pool
			srv.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
			opts.ClientCertScope = rc.TLSClientScope
		}
	}
	closing := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(closing) })
	opts.Closing = closing
	srv.Handler = httpapi.New(n, opts)
	return srv, nil
}

// configFile resolves a path of the config against HOME/config.
func (n *Node) configFile(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(n.Home, "config", p)
}

// nodeTxTTL is how long a transaction the node signs stays valid.
const nodeTxTTL = 10 * time.Minute

// SignAndSubmit implements httpapi.NodeSigner: it signs action as the node's
// cloud, with a random nonce and an expiry nodeTxTTL ahead, and submits it.
func (n *Node) SignAndSubmit(ctx context.Context, action bbus.Action, wait bool) (*bbus.TxResult, error) {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	raw, _, err := bbus.SignTx(&bbus.Body{
		ChainID: ledger.ChainID(n.store.Committed()),
		Signer:  n.Config.Cloud,
		Nonce:   binary.BigEndian.Uint64(nonce[:]) & (1<<53 - 1),
		Expires: time.Now().Add(nodeTxTTL).Unix(),
		Action:  action,
	}, n.rest.key.PrivKey)
	if err != nil {
		return nil, err
	}
	return n.Submit(ctx, raw, wait)
}

// Block implements httpapi.ChainReader.
func (n *Node) Block(ctx context.Context, height int64) (*bbus.Block, error) {
	if last, _, _ := n.store.Last(); height > last {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no block at height %d: the chain is at %d", height, last)
	}
	if base := n.cmt.BlockStore().Base(); height < base {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no block at height %d: this node keeps blocks from %d", height, base)
	}
	rb, err := n.rpc.Block(ctx, &height)
	if err != nil || rb.Block == nil {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "block %d: %v", height, err)
	}
	b := rb.Block
	out := &bbus.Block{
		Height: b.Height, Time: b.Time.UTC(), Hash: rb.BlockID.Hash.String(), LastHash: b.LastBlockID.Hash.String(),
		AppHash: b.AppHash.String(), Proposer: b.ProposerAddress.String(), Txs: []bbus.TxResult{},
	}
	for i, raw := range b.Txs {
		out.Txs = append(out.Txs, n.txResult(raw, b.Height, i))
	}
	return out, nil
}

// Tx implements httpapi.ChainReader.
func (n *Node) Tx(ctx context.Context, id string) (*bbus.CommittedTx, error) {
	id = strings.ToLower(id)
	loc, ok := chain.LookupTx(n.store.Committed(), id)
	if !ok {
		// CometBFT's hash of the bytes, as POST /v1/txs answers with it.
		if txid, found := chain.TxIDOfHash(n.store.Committed(), id); found {
			loc, ok = chain.LookupTx(n.store.Committed(), txid)
		}
	}
	if !ok {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no committed transaction %s is known to this node", id)
	}
	rb, err := n.rpc.Block(ctx, &loc.Height)
	if err != nil || rb.Block == nil || loc.Index >= len(rb.Block.Txs) {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "transaction %s in block %d: %v", id, loc.Height, err)
	}
	raw := []byte(rb.Block.Txs[loc.Index])
	out := &bbus.CommittedTx{TxResult: n.txResult(raw, loc.Height, loc.Index), Time: rb.Block.Time.UTC(), Raw: raw}
	if tx, err := bbus.DecodeTx(raw); err == nil {
		out.Body = &tx.Body
	}
	return out, nil
}

// txResult describes the transaction raw at position index of block height,
// with what the ledger made of it as the index recorded.
func (n *Node) txResult(raw []byte, height int64, index int) bbus.TxResult {
	hash := sha256.Sum256(raw)
	r := bbus.TxResult{Hash: strings.ToUpper(hex.EncodeToString(hash[:])), Height: height, Index: index}
	if chain.IsTick(raw) {
		r.Type, r.Message = chain.TickType, "a node asked for this block: the ledger had work due by time (a lapse, an expiry); the tick itself changes nothing"
		return r
	}
	tx, err := bbus.DecodeTx(raw)
	if err != nil {
		r.Code, r.Message = bbus.ErrorCode(err), bbus.ErrorMessage(err)
		return r
	}
	r.TxID, r.Type, r.Signer = tx.ID, tx.Action.Type(), tx.Signer
	loc, ok := chain.LookupTx(n.store.Committed(), tx.ID)
	switch {
	case !ok:
		r.Message = "this node has no record of the outcome (the block predates its index)"
	case loc.Height != height || loc.Index != index:
		r.Code = bbus.EREPLAY
		r.Message = fmt.Sprintf("a copy of the transaction at height %d, index %d", loc.Height, loc.Index)
	default:
		r.Code, r.ID = loc.Code, loc.ID
	}
	return r
}

// Events implements httpapi.EventSource.
func (n *Node) Events(after *httpapi.EventPos, max int) ([]bbus.Event, httpapi.EventPos, bool, <-chan struct{}) {
	return n.rest.events.after(after, max)
}

var (
	_ httpapi.NodeSigner  = (*Node)(nil)
	_ httpapi.ChainReader = (*Node)(nil)
	_ httpapi.EventSource = (*Node)(nil)
)
