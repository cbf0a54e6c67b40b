package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// TestCharts draws each chart of a small report and reads the files back:
// PNGs of the chart's size in which the series' colours show, and SVGs.
func TestCharts(t *testing.T) {
	q := quantiles([]time.Duration{12 * time.Millisecond, 15 * time.Millisecond, 40 * time.Millisecond}, 200)
	r := &Report{Options: OptionsJS{Validators: 1}, Runs: []*AppRun{
		{App: AppKV, Phases: []*Phase{{Name: "saturation", Seconds: 1, BucketS: .5, Timeline: []float64{10, 20}, Quantiles: q}}, RSS: [][2]float64{{0, 30}, {1, 40}}},
		{App: AppBBUS, Phases: []*Phase{{Name: "moderate", Seconds: 1, Quantiles: q}, {Name: "saturation", Seconds: 1, BucketS: .5, Timeline: []float64{5, 8}, Quantiles: q}}, RSS: [][2]float64{{0, 50}, {1, 45}}},
	}}
	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	near := func(a, b color.RGBA) bool {
		d := func(x, y uint8) int { return max(int(x), int(y)) - min(int(x), int(y)) }
		return d(a.R, b.R)+d(a.G, b.G)+d(a.B, b.B) < 30
	}
	for _, name := range []string{"latency", "throughput", "memory"} {
		f, err := os.Open(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s.png: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != chartW || b.Dy() != chartH {
			t.Errorf("%s.png is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), chartW, chartH)
		}
		bbus, kv := 0, 0
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
				c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
				if near(c, colBBUS) {
					bbus++
				}
				if near(c, colKV) {
					kv++
				}
			}
		}
		if bbus < 50 || kv < 50 {
			t.Errorf("%s.png: %d pixels of bbus's colour and %d of the baseline's", name, bbus, kv)
		}
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			XMLName xml.Name
			Width   string `xml:"width,attr"`
		}
		if err := xml.Unmarshal(svg, &doc); err != nil || doc.XMLName.Local != "svg" {
			t.Errorf("%s.svg is not an SVG document: %v", name, err)
		}
	}
	// A report read back draws the same charts (bbus bench --replot).
	back, err := ReadReport(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := back.WriteFiles(t.TempDir()); err != nil {
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

// TestMedianRound: the round shown is the one whose throughput ratio is the
// median (the lower middle of an even number of rounds).
func TestMedianRound(t *testing.T) {
	for _, c := range []struct {
		ratios []float64
		want   int
	}{
		{[]float64{0.30}, 1},
		{[]float64{0.30, 0.40, 0.35}, 3},
		{[]float64{0.40, 0.30}, 2},
		{[]float64{0.36, 0.33, 0.41, 0.29, 0.37}, 1},
	} {
		var rounds []*Compare
		for _, r := range c.ratios {
			rounds = append(rounds, &Compare{TxPerSec: r})
		}
		if got := medianRound(rounds); got != c.want {
			t.Errorf("ratios %v: round %d, want %d", c.ratios, got, c.want)
		}
	}
}
