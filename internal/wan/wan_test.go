package wan

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer echoes every connection back; it returns its address.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func proxy(t *testing.T, target string, d time.Duration) *Proxy {
	t.Helper()
	p, err := Listen("127.0.0.1:0", target, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// A round trip through the proxy takes at least twice its delay, and what
// goes through arrives whole and in order.
func TestProxyDelaysBothWays(t *testing.T) {
	const d = 30 * time.Millisecond
	p := proxy(t, echoServer(t), d)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("echo %q, %v", buf, err)
		}
		if rtt := time.Since(t0); rtt < 2*d {
			t.Fatalf("a round trip took %s, less than twice the delay %s", rtt, d)
		} else {
			t.Logf("round trip %s", rtt)
		}
	}
	// 8 MiB both ways, more than the proxy buffers: back-pressure, no loss.
	want := make([]byte, 8<<20)
	rand.Read(want)
	go c.Write(want)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("8 MiB came back altered (err %v)", err)
	}
}

// A cut proxy forwards nothing and refuses new connections; healed, it
// delivers what waited, in order.
func TestProxyCutAndHeal(t *testing.T) {
	p := proxy(t, echoServer(t), 5*time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 3)
	c.Write([]byte("one"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "one" {
		t.Fatalf("before the cut: %q %v", buf, err)
	}
	p.Cut()
	c.Write([]byte("two"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(buf); n > 0 || err == nil {
		t.Fatalf("a cut proxy forwarded %q", buf[:n])
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c2.Read(buf); err == nil {
		t.Fatalf("a cut proxy took a new connection (read %q)", buf[:n])
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a cut proxy held a new connection open instead of refusing it")
	}
	c2.Close()
	p.Heal()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("333"))
	got := make([]byte, 6)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "two333" {
		t.Fatalf("after healing: %q %v", got, err)
	}
}

// Closing the proxy ends its connections.
func TestProxyClose(t *testing.T) {
	p := proxy(t, echoServer(t), time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("a connection outlived its proxy")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a connection stayed open after its proxy closed")
	}
}

// An end that closes during a cut is not passed on at the heal: the other
// end learns of it only when what it sends meets the closed socket.
func TestProxyCutLosesTheEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	server := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			server <- c
		}
	}()
	p := proxy(t, ln.Addr().String(), time.Millisecond)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hi"))
	s := <-server
	defer s.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	c.Close()
	time.Sleep(50 * time.Millisecond)
	p.Heal()
	s.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := s.Read(buf); n > 0 || err == nil || !isTimeout(err) {
		t.Fatalf("the server learnt of a close made during the cut: %d bytes, %v", n, err)
	}
	// Each write goes to the closed socket, which answers with a reset; the
	// proxy then closes the server's side.
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("the server's writes never met the closed end")
		}
		if _, err := s.Write([]byte("ping")); err != nil {
			break
		}
		s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := s.Read(buf); err != nil && !isTimeout(err) {
			break
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
