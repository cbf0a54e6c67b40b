package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
)

func TestFastSignIsSignTx(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	b := &bbus.Body{ChainID: ChainID, Signer: "cloud0", Nonce: 7, Expires: 1 << 40,
		Action: bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "peer"}}}
	want, _, err := bbus.SignTx(b, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fastSign(b, key)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("fastSign made\n%s\nbbus.SignTx made\n%s", got, want)
	}
}

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	l := summarize(lat)
	if l.N != 100 || l.P50 != 50 || l.P95 != 95 || l.P99 != 99 || l.Max != 100 || l.Mean != 50.5 {
		t.Fatalf("summary of 1..100 ms: %+v", l)
	}
	if q := quantiles(lat, 4); len(q) != 5 || q[0] != 1 || q[1] != 25 || q[2] != 50 || q[3] != 75 || q[4] != 100 {
		t.Fatalf("quartiles of 1..100 ms: %v", q)
	}
	if (summarize(nil) != Latency{}) {
		t.Fatal("summary of nothing is not zero")
	}
	tl := timeline([]time.Duration{0, 100 * time.Millisecond, 600 * time.Millisecond, 2 * time.Second}, time.Second, 500*time.Millisecond)
	if len(tl) != 2 || tl[0] != 4 || tl[1] != 2 {
		t.Fatalf("timeline: %v, want [4 2] (per second)", tl)
	}
}

func TestGlyphs(t *testing.T) {
	for r, g := range glyphs {
		for _, row := range g {
			if len(row) != glyphW {
				t.Fatalf("glyph %q has a row %q of %d columns", r, row, len(row))
			}
		}
	}
}

func TestChartsRender(t *testing.T) {
	q := quantiles([]time.Duration{12 * time.Millisecond, 15 * time.Millisecond, 40 * time.Millisecond}, 200)
	r := &Report{Options: OptionsJS{Validators: 1}, Runs: []*AppRun{
		{App: AppKV, Phases: []*Phase{{Name: "saturation", Seconds: 1, BucketS: .5, Timeline: []float64{10, 20}, Quantiles: q}}, RSS: [][2]float64{{0, 30}, {1, 40}}},
		{App: AppBBUS, Phases: []*Phase{{Name: "moderate", Seconds: 1, Quantiles: q}, {Name: "saturation", Seconds: 1, BucketS: .5, Timeline: []float64{5, 8}, Quantiles: q}}},
	}}
	for _, c := range []*chart{r.latencyChart("1 node", 23.6), r.throughputChart("1 node"), r.memoryChart("1 node")} {
		img := c.render()
		if b := img.Bounds(); b.Dx() != chartW || b.Dy() < chartH {
			t.Fatalf("%s: %v", c.title, b)
		}
		colored := 0
		for y := 0; y < chartH; y++ {
			for x := 0; x < chartW; x++ {
				if c := img.RGBAAt(x, y); c == colBBUS || c == colKV {
					colored++
				}
			}
		}
		if colored < 50 {
			t.Errorf("%s: the series drew %d pixels", c.title, colored)
		}
	}
	if err := r.WriteFiles(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// The load generator's connection: results, the node's errors, and a
// keep-alive connection the server closed.
func TestConnSubmit(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/txs" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", 400)
			return
		}
		if n.Add(1)%3 == 0 {
			w.Header().Set("Connection", "close")
		}
		switch string(body) {
		case "ok":
			json.NewEncoder(w).Encode(&bbus.TxResult{TxID: "t", Height: 7, ID: "mig-1"})
		default:
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]any{"error": &bbus.Error{Code: bbus.ESTATE, Message: "no"},
				"result": &bbus.TxResult{TxID: "t", Height: 8}})
		}
	}))
	defer srv.Close()
	k := newConn(srv.URL)
	defer k.close()
	for i := 0; i < 10; i++ {
		res, err := k.submit(context.Background(), []byte("ok"))
		if err != nil || res.Height != 7 || res.ID != "mig-1" {
			t.Fatalf("submit %d: %+v, %v", i, res, err)
		}
		res, err = k.submit(context.Background(), []byte("bad"))
		if bbus.ErrorCode(err) != bbus.ESTATE || res == nil || res.Height != 8 {
			t.Fatalf("rejected %d: %+v, %v", i, res, err)
		}
	}
	srv.CloseClientConnections() // the server drops an idle keep-alive connection
	if res, err := k.submit(context.Background(), []byte("ok")); err != nil || res.Height != 7 {
		t.Fatalf("after the server closed the connection: %+v, %v", res, err)
	}
}
