package node

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
)

// capsNode starts a node whose REST API has small caps: 12 connections in
// all, 8 per address, 4 event streams in all, 2 per caller.
func capsNode(t *testing.T, tune func(*RESTConfig)) (*Node, string) {
	t.Helper()
	home := t.TempDir()
	cfg := DefaultConfig("local")
	cfg.P2PListen = "tcp://127.0.0.1:0"
	r := &cfg.REST
	r.MaxConnections, r.MaxConnectionsPerAddr = 12, 8
	r.MaxEventStreams, r.MaxEventStreamsPerCaller = 4, 2
	// Held connections must not time out while the test holds them.
	r.ReadHeaderTimeout, r.IdleTimeout = Duration(5*time.Minute), Duration(5*time.Minute)
	if tune != nil {
		tune(r)
	}
	if _, err := Init(InitOptions{Home: home, Cloud: "local", Config: &cfg}); err != nil {
		t.Fatal(err)
	}
	n, err := Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n, n.APIAddr()
}

// dialFrom connects to addr from the loopback address local (127.0.0.N:
// every 127/8 address is this machine on Linux), standing for one client.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ask sends one request on c and reads the answer's head (the body too
// unless it is an event stream).
func ask(t *testing.T, c net.Conn, path string) (*http.Response, []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	c.SetDeadline(time.Time{})
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, b
}

// hold opens a connection from local that has been served once and stays
// open, idle.
func hold(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	c := dialFrom(t, local, addr)
	if resp, b := ask(t, c, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("a connection under the caps: %d %s", resp.StatusCode, b)
	}
	return c
}

// refused wants a connection from local to be answered with status and code
// and then closed by the node.
func refused(t *testing.T, local, addr, path string, status int, code string) {
	t.Helper()
	c := dialFrom(t, local, addr)
	resp, b := ask(t, c, path)
	var e bbus.ErrorResponse
	if resp.StatusCode != status || json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Code != code {
		t.Fatalf("from %s, GET %s: %d %s, want %d %s", local, path, resp.StatusCode, b, status, code)
	}
	if status == 429 && resp.Header.Get("Retry-After") == "" {
		t.Errorf("a 429 without Retry-After")
	}
	t.Logf("from %s: %d %s", local, resp.StatusCode, strings.TrimSpace(string(b)))
	if path != "/v1/events" {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("a refused connection stays open (read %d bytes)", n)
		}
	}
}

// commits submits a transaction to the node itself and wants it applied.
func commits(t *testing.T, n *Node, vm string) {
	t.Helper()
	sign := signer(t, n.Home, "local", "bbus-local")
	res, err := n.Submit(context.Background(), sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}), true)
	if err != nil || res.Code != "" || res.Height == 0 {
		t.Fatalf("commit of %s: %+v %v", vm, res, err)
	}
}

// TestConnectionCaps: clients holding idle connections cannot take every
// descriptor. Past the per-address cap a client's new connections are
// answered 429 and closed; past the total cap everyone's are answered 503 and
// closed; clients under the caps are still served, the node goes on
// committing, and a connection closed gives its place back.
func TestConnectionCaps(t *testing.T) {
	n, addr := capsNode(t, nil)
	const a, b, c = "127.0.0.1", "127.0.0.2", "127.0.0.3"
	var heldA []net.Conn
	for range 8 {
		heldA = append(heldA, hold(t, a, addr))
	}
	for range 3 {
		refused(t, a, addr, "/v1/status", 429, bbus.ERATELIMITED)
	}
	// Another client is under its cap: served.
	var heldB []net.Conn
	for range 4 {
		heldB = append(heldB, hold(t, b, addr))
	}
	// 12 held in all: nobody gets a new one.
	refused(t, c, addr, "/v1/status", 503, bbus.EUNAVAILABLE)
	refused(t, b, addr, "/v1/status", 503, bbus.EUNAVAILABLE)
	commits(t, n, "vm-held")
	if resp, body := ask(t, heldA[0], "/v1/vms/vm-held"); resp.StatusCode != 200 {
		t.Fatalf("a held connection is still served: %d %s", resp.StatusCode, body)
	}
	for _, k := range heldB {
		k.Close()
	}
	waitOpen(t, n, 8)
	if resp, body := ask(t, dialFrom(t, c, addr), "/v1/status"); resp.StatusCode != 200 {
		t.Fatalf("once connections closed, a new client: %d %s", resp.StatusCode, body)
	}
	if got := n.rest.ln.Refused(); got != 5 {
		t.Errorf("the listener counts %d refusals, want 5", got)
	}
	resp, body := ask(t, dialFrom(t, c, addr), "/metrics")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "bbus_api_connections_refused_total 5") {
		t.Errorf("GET /metrics: %d, no bbus_api_connections_refused_total 5", resp.StatusCode)
	}
}

// waitOpen waits until the API holds at most want connections.
func waitOpen(t *testing.T, n *Node, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.rest.ln.Open() > want {
		if time.Now().After(deadline) {
			t.Fatalf("the API still holds %d connections, want %d", n.rest.ln.Open(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEventStreamCaps: event streams are capped per caller (429) and in all
// (503); refused streams leave the node committing and the streams it serves
// flowing.
func TestEventStreamCaps(t *testing.T) {
	n, addr := capsNode(t, nil)
	const a, b, c = "127.0.0.1", "127.0.0.2", "127.0.0.3"
	var streams []*bufio.Reader
	open := func(local string) {
		k := dialFrom(t, local, addr)
		resp, _ := ask(t, k, "/v1/events?type=vm")
		if resp.StatusCode != 200 {
			t.Fatalf("a stream under the caps from %s: %d", local, resp.StatusCode)
		}
		streams = append(streams, bufio.NewReader(resp.Body))
	}
	open(a)
	open(a)
	refused(t, a, addr, "/v1/events", 429, bbus.ERATELIMITED)
	open(b)
	open(b)
	refused(t, c, addr, "/v1/events", 503, bbus.EUNAVAILABLE)
	// Not a stream: served.
	if resp, body := ask(t, dialFrom(t, c, addr), "/v1/status"); resp.StatusCode != 200 {
		t.Fatalf("a read while the streams are full: %d %s", resp.StatusCode, body)
	}
	commits(t, n, "vm-streamed")
	for i, s := range streams {
		for {
			line, err := s.ReadString('\n')
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			if strings.Contains(line, "vm-streamed") {
				break
			}
		}
	}
}

// TestEventStreamLifetime: a stream ends after max_stream_duration, even one
// that is sent events, and its client resumes it with Last-Event-ID.
func TestEventStreamLifetime(t *testing.T) {
	n, addr := capsNode(t, func(r *RESTConfig) { r.MaxStreamDuration = Duration(time.Second) })
	k := dialFrom(t, "127.0.0.1", addr)
	resp, _ := ask(t, k, "/v1/events?type=vm")
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	commits(t, n, "vm-1")
	k.SetReadDeadline(time.Now().Add(30 * time.Second))
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the stream did not end by itself: %v", err)
	}
	var last string
	for _, line := range strings.Split(string(body), "\n") {
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			last = id
		}
	}
	if last == "" || !strings.Contains(string(body), "Last-Event-ID") {
		t.Fatalf("the stream's events: %q", body)
	}
	commits(t, n, "vm-2")
	k2 := dialFrom(t, "127.0.0.1", addr)
	k2.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(k2, "GET /v1/events?type=vm HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: "+last+"\r\n\r\n")
	resp2, err := http.ReadResponse(bufio.NewReader(k2), nil)
	if err != nil || resp2.StatusCode != 200 {
		t.Fatalf("resume: %v %v", resp2, err)
	}
	br := bufio.NewReader(resp2.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("resumed stream: %v", err)
		}
		if strings.Contains(line, "vm-1") {
			t.Fatalf("the resumed stream repeats vm-1: %s", line)
		}
		if strings.Contains(line, "vm-2") {
			break
		}
	}
}

// TestDescriptorLimits: the node raises its descriptor limit, keeps the
// reserve for consensus and derives the caps from what remains.
func TestDescriptorLimits(t *testing.T) {
	before, now, hard, ok := raiseFileLimit()
	if ok && (now != hard || before > now) {
		t.Errorf("descriptor limit %d (was %d), hard %d", now, before, hard)
	}
	r := DefaultRESTConfig()
	l := r.deriveLimits(20000)
	if l.reserve != DefaultDescriptorReserve || l.conns != 20000-DefaultDescriptorReserve || l.perAddr != l.conns/4 ||
		l.streams != l.conns/4 || l.perKey != 32 {
		t.Errorf("derived from 20000: %+v", l)
	}
	if l := r.deriveLimits(1024); l.reserve != 512 || l.conns != 512 {
		t.Errorf("derived from 1024: %+v", l)
	}
	r.MaxConnections, r.MaxEventStreamsPerCaller = 50000, 3
	if l := r.deriveLimits(20000); l.conns != 20000-DefaultDescriptorReserve || l.perKey != 3 {
		t.Errorf("a cap over what the descriptors allow: %+v", l)
	}
}
