package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certs is a test PKI: a CA, a certificate for 127.0.0.1 and a client's.
type certs struct {
	pool       *x509.CertPool
	caPEM      []byte
	serverCert []byte
	serverKey  []byte
	client     tls.Certificate
}

func newCerts(t *testing.T) *certs {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "federation CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	c := &certs{pool: x509.NewCertPool(), caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	c.pool.AddCert(ca)
	c.serverCert, c.serverKey = issue(2, "node", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cc, ck := issue(3, "orchestrator", x509.ExtKeyUsageClientAuth, nil)
	if c.client, err = tls.X509KeyPair(cc, ck); err != nil {
		t.Fatal(err)
	}
	return c
}

// startTLS starts a node whose API speaks TLS with c's certificate; with
// clientScope it also wants client certificates from c's CA, which grant that scope.
func startTLS(t *testing.T, c *certs, mutual bool, clientScope string) string {
	t.Helper()
	home := t.TempDir()
	cfg := DefaultConfig("local")
	cfg.P2PListen = "tcp://127.0.0.1:0"
	cfg.REST.TLSCertFile, cfg.REST.TLSKeyFile = "api.crt", "api.key"
	if mutual {
		cfg.REST.TLSClientCAFile, cfg.REST.TLSClientScope = "clients-ca.crt", clientScope
	}
	if _, err := Init(InitOptions{Home: home, Cloud: "local", Config: &cfg}); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"api.crt": c.serverCert, "api.key": c.serverKey, "clients-ca.crt": c.caPEM} {
		if err := os.WriteFile(filepath.Join(home, "config", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return "https://" + n.APIAddr()
}

func httpsClient(c *certs, withCert bool) *http.Client {
	cfg := &tls.Config{RootCAs: c.pool}
	if withCert {
		cfg.Certificates = []tls.Certificate{c.client}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
}

func post(t *testing.T, hc *http.Client, url, body string) int {
	t.Helper()
	resp, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAPIOverTLS: with a certificate the API speaks HTTPS; with a client CA,
// only callers holding a certificate it signed get in, and the certificate
// grants its configured scope without a token.
func TestAPIOverTLS(t *testing.T) {
	c := newCerts(t)
	base := startTLS(t, c, false, "")
	resp, err := httpsClient(c, false).Get(base + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status over TLS: %d", resp.StatusCode)
	}
	if code := post(t, httpsClient(c, false), base+"/v1/vms", `{"id":"vm-1","cpu":1,"mem_mib":1}`); code != 401 {
		t.Errorf("a write without a token over TLS: %d", code)
	}

	base = startTLS(t, c, true, "write")
	if _, err := httpsClient(c, false).Get(base + "/v1/status"); err == nil {
		t.Fatal("a caller without a client certificate got in")
	}
	if code := post(t, httpsClient(c, true), base+"/v1/vms", `{"id":"vm-1","cpu":1,"mem_mib":1}`); code != 200 {
		t.Fatalf("a write with a client certificate granted write: %d", code)
	}

	base = startTLS(t, c, true, "read")
	if code := post(t, httpsClient(c, true), base+"/v1/vms", `{"id":"vm-1","cpu":1,"mem_mib":1}`); code != 403 {
		t.Errorf("a write with a client certificate granted read: %d", code)
	}
}

// TestRESTConfigValidated: a node refuses to open with REST settings it cannot honour.
func TestRESTConfigValidated(t *testing.T) {
	for _, mutate := range []func(*RESTConfig){
		func(r *RESTConfig) { r.Reads = "everyone" },
		func(r *RESTConfig) { r.TLSCertFile = "api.crt" },
		func(r *RESTConfig) { r.TLSClientCAFile = "ca.crt" },
		func(r *RESTConfig) { r.TLSClientScope = "admin" },
		func(r *RESTConfig) { r.RateLimit = -1 },
		func(r *RESTConfig) { r.MaxConnections = -1 },
		func(r *RESTConfig) { r.MaxEventStreamsPerCaller = -1 },
		func(r *RESTConfig) { r.DescriptorReserve = -1 },
		func(r *RESTConfig) { r.MaxStreamDuration = -1 },
	} {
		r := DefaultRESTConfig()
		mutate(&r)
		if err := r.Validate(); err == nil {
			t.Errorf("%+v validates", r)
		}
	}
	r := DefaultRESTConfig()
	if err := r.Validate(); err != nil {
		t.Errorf("the default: %v", err)
	}
}

// TestStopEndsEventStreams: stopping a node ends its open event streams, so a
// graceful shutdown does not hang on them.
func TestStopEndsEventStreams(t *testing.T) {
	home := t.TempDir()
	cfg := DefaultConfig("local")
	cfg.P2PListen = "tcp://127.0.0.1:0"
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
	resp, err := http.Get("http://" + n.APIAddr() + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		ended <- err
	}()
	n.Stop()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the stream ended with %v, want its end", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the event stream outlived its node")
	}
}
