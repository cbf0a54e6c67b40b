package bench

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Charts drawn with the standard library only: a frame, ticks, a legend and
// polylines on an RGBA image, saved as PNG.

var (
	colBBUS    = color.RGBA{31, 100, 180, 255}
	colKV      = color.RGBA{230, 120, 10, 255}
	colAxis    = color.RGBA{60, 60, 60, 255}
	colGrid    = color.RGBA{225, 225, 225, 255}
	colMark    = color.RGBA{200, 30, 30, 255}
	colMarkAlt = color.RGBA{40, 140, 60, 255}
	colText    = color.RGBA{20, 20, 20, 255}
	colBG      = color.RGBA{255, 255, 255, 255}
)

type series struct {
	name  string
	col   color.RGBA
	dash  bool
	width int
	pts   [][2]float64
}

type marker struct {
	at    float64
	label string
	col   color.RGBA
}

type chart struct {
	title, xlabel, ylabel  string
	logX                   bool
	xmin, xmax, ymin, ymax float64
	series                 []series
	vmarks                 []marker
	hmarks                 []marker
}

const (
	chartW, chartH = 1000, 600
	padL, padR     = 100, 30
	padT, padB     = 60, 80
	textScale      = 2
	legendRow      = 24
)

func (c *chart) render() *image.RGBA {
	// The legend goes in a band under the chart, two entries a row if they fit.
	cols, colW := 2, (chartW-padL-padR)/2
	for _, s := range c.series {
		if 40+textWidth(s.name, textScale)+20 > colW {
			cols = 1
		}
	}
	rows := (len(c.series) + cols - 1) / cols
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH+rows*legendRow+8))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBG}, image.Point{}, draw.Src)
	x0, x1, y0, y1 := padL, chartW-padR, chartH-padB, padT // plot area; y grows down
	fx := func(v float64) int {
		if c.logX {
			v, lo, hi := math.Log10(math.Max(v, c.xmin)), math.Log10(c.xmin), math.Log10(c.xmax)
			return x0 + int(float64(x1-x0)*(v-lo)/(hi-lo))
		}
		return x0 + int(float64(x1-x0)*(v-c.xmin)/(c.xmax-c.xmin))
	}
	fy := func(v float64) int { return y0 - int(float64(y0-y1)*(v-c.ymin)/(c.ymax-c.ymin)) }

	// grid and ticks
	for _, t := range c.xticks() {
		x := fx(t.v)
		if x < x0 || x > x1 {
			continue
		}
		vline(img, x, y1, y0, colGrid)
		vline(img, x, y0, y0+6, colAxis)
		if t.label != "" {
			drawText(img, x-textWidth(t.label, textScale)/2, y0+12, t.label, textScale, colText)
		}
	}
	for _, v := range ticks(c.ymin, c.ymax, 6) {
		y := fy(v)
		hline(img, x0, x1, y, colGrid)
		hline(img, x0-6, x0, y, colAxis)
		l := fmtNum(v)
		drawText(img, x0-10-textWidth(l, textScale), y-glyphH*textScale/2, l, textScale, colText)
	}
	// frame
	hline(img, x0, x1, y0, colAxis)
	hline(img, x0, x1, y1, colAxis)
	vline(img, x0, y1, y0, colAxis)
	vline(img, x1, y1, y0, colAxis)
	// markers
	type label struct {
		x, y int
		text string
		col  color.RGBA
	}
	var labels []label
	for i, m := range c.vmarks {
		x := fx(m.at)
		if x < x0 || x > x1 {
			continue
		}
		for y := y1; y < y0; y += 8 {
			vline(img, x, y, min(y+4, y0), m.col)
			vline(img, x+1, y, min(y+4, y0), m.col)
		}
		lx := x + 6
		if lx+textWidth(m.label, textScale) > x1 {
			lx = x - 6 - textWidth(m.label, textScale)
		}
		labels = append(labels, label{lx, y1 + 8 + i*20, m.label, m.col})
	}
	for _, m := range c.hmarks {
		y := fy(m.at)
		if y < y1 || y > y0 {
			continue
		}
		for x := x0; x < x1; x += 8 {
			hline(img, x, min(x+4, x1), y, m.col)
			hline(img, x, min(x+4, x1), y+1, m.col)
		}
		labels = append(labels, label{x1 - 6 - textWidth(m.label, textScale), y - 6 - glyphH*textScale, m.label, m.col})
	}
	// series
	clip := image.Rect(x0, y1, x1+1, y0+1)
	for _, s := range c.series {
		w := max(s.width, 2)
		var px, py int
		dist := 0.0
		for i, p := range s.pts {
			x, y := fx(p[0]), fy(p[1])
			if i > 0 {
				dist = line(img, clip, px, py, x, y, w, s.col, s.dash, dist)
			}
			px, py = x, y
		}
		if len(s.pts) == 1 {
			line(img, clip, px, py, px, py, w+2, s.col, false, 0)
		}
	}
	// the markers' labels, over the series on a white ground
	for _, l := range labels {
		fill(img, image.Rect(l.x-3, l.y-3, l.x+textWidth(l.text, textScale)+3, l.y+glyphH*textScale+3), colBG)
		drawText(img, l.x, l.y, l.text, textScale, l.col)
	}
	// legend
	for i, s := range c.series {
		lx, ly := padL+(i%cols)*colW, chartH+(i/cols)*legendRow
		line(img, img.Bounds(), lx, ly+7, lx+30, ly+7, 3, s.col, s.dash, 0)
		drawText(img, lx+40, ly, s.name, textScale, colText)
	}
	// title and axis labels
	drawText(img, (chartW-textWidth(c.title, textScale))/2, 20, c.title, textScale, colText)
	drawText(img, x0+(x1-x0-textWidth(c.xlabel, textScale))/2, chartH-30, c.xlabel, textScale, colText)
	drawTextUp(img, 16, y1+(y0-y1+textWidth(c.ylabel, textScale))/2, c.ylabel, textScale, colText)
	return img
}

type tick struct {
	v     float64
	label string
}

func (c *chart) xticks() []tick {
	var out []tick
	if !c.logX {
		for _, v := range ticks(c.xmin, c.xmax, 10) {
			out = append(out, tick{v, fmtNum(v)})
		}
		return out
	}
	for d := math.Floor(math.Log10(c.xmin)); d <= math.Ceil(math.Log10(c.xmax)); d++ {
		base := math.Pow(10, d)
		for _, m := range []float64{1, 2, 5} {
			v := m * base
			if v < c.xmin*0.999 || v > c.xmax*1.001 {
				continue
			}
			out = append(out, tick{v, fmtNum(v)})
		}
	}
	return out
}

// ticks returns round values between lo and hi, about n of them.
func ticks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// fmtNum renders an axis value: 0.5, 12, 2500, 40k.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 10000:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case a >= 1 || a == 0:
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

func hline(img *image.RGBA, xa, xb, y int, c color.RGBA) {
	for x := xa; x <= xb; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, ya, yb int, c color.RGBA) {
	for y := ya; y <= yb; y++ {
		img.SetRGBA(x, y, c)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}

// line draws a w-pixel line from (xa, ya) to (xb, yb) inside clip, dashed if
// dash (dist carries the dash phase from segment to segment).
func line(img *image.RGBA, clip image.Rectangle, xa, ya, xb, yb, w int, c color.RGBA, dash bool, dist float64) float64 {
	dx, dy := float64(xb-xa), float64(yb-ya)
	n := int(math.Max(math.Abs(dx), math.Abs(dy)))
	step := math.Hypot(dx, dy) / math.Max(float64(n), 1)
	for i := 0; i <= n; i++ {
		t := 0.0
		if n > 0 {
			t = float64(i) / float64(n)
		}
		if !dash || int(dist/8)%2 == 0 {
			x, y := xa+int(math.Round(dx*t)), ya+int(math.Round(dy*t))
			for oy := -w / 2; oy < w-w/2; oy++ {
				for ox := -w / 2; ox < w-w/2; ox++ {
					if p := image.Pt(x+ox, y+oy); p.In(clip) {
						img.SetRGBA(p.X, p.Y, c)
					}
				}
			}
		}
		if i < n {
			dist += step
		}
	}
	return dist
}

func savePNG(img image.Image, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadReport reads a report that WriteFiles wrote (report.json), to draw its
// charts again.
func ReadReport(file string) (*Report, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &r, nil
}

// WriteFiles writes the report (report.json) and its charts into dir:
// latency.png (the distribution of submit-to-commit latency, as a cumulative
// distribution on a log scale, with the target and the paper's 2.36 s),
// throughput.png (committed transactions per second over the load phases)
// and memory.png (the first node's resident memory over the run).
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	scope := "1 node"
	target := 23.6
	if r.Options.Validators > 1 {
		scope, target = fmt.Sprintf("%d validators", r.Options.Validators), 150
	}
	if r.Options.Node != "" {
		scope = r.Options.Node
	}
	for _, c := range []struct {
		file string
		c    *chart
	}{
		{"latency.png", r.latencyChart(scope, target)},
		{"throughput.png", r.throughputChart(scope)},
		{"memory.png", r.memoryChart(scope)},
	} {
		if err := savePNG(c.c.render(), filepath.Join(dir, c.file)); err != nil {
			return err
		}
	}
	return nil
}

func appColor(app string) color.RGBA {
	if app == AppKV {
		return colKV
	}
	return colBBUS
}

func appName(app string) string {
	if app == AppKV {
		return "baseline (kv)"
	}
	return "bbus"
}

func (r *Report) latencyChart(scope string, target float64) *chart {
	c := &chart{title: "SUBMIT-TO-COMMIT LATENCY, " + scope, xlabel: "latency (ms, log scale)",
		ylabel: "% of transactions at or below", logX: true, xmin: 1, xmax: 10000, ymin: 0, ymax: 100}
	lo, hi := math.Inf(1), 0.0
	for _, run := range r.Runs {
		for _, p := range run.Phases {
			v := p.Quantiles
			if len(v) < 2 {
				continue
			}
			lo, hi = math.Min(lo, v[0]), math.Max(hi, v[len(v)-1])
			var pts [][2]float64
			for i, x := range v {
				pts = append(pts, [2]float64{x, 100 * float64(i) / float64(len(v)-1)})
			}
			s := series{name: fmt.Sprintf("%s %s (p50 %.1f ms)", appName(run.App), phaseName(p.Name), p.Latency.P50),
				col: appColor(run.App), dash: p.Name != "saturation", pts: pts, width: 3}
			if p.Name == "one_down" {
				s.col = blend(s.col)
			}
			c.series = append(c.series, s)
		}
	}
	if lo < math.Inf(1) {
		c.xmin = math.Pow(10, math.Floor(math.Log10(math.Max(lo, 0.1))))
		c.xmax = math.Max(c.xmax, math.Pow(10, math.Ceil(math.Log10(hi))))
	}
	c.vmarks = []marker{
		{target, fmt.Sprintf("target p50 %g ms", target), colMarkAlt},
		{PaperSeconds * 1000, "paper: 2.36 s", colMark},
	}
	c.hmarks = []marker{{50, "p50", colAxis}}
	return c
}

func phaseName(p string) string {
	switch p {
	case "moderate":
		return "moderate load"
	case "one_down":
		return "one node down"
	}
	return "saturation"
}

// blend lightens a colour, for the one-down phase.
func blend(c color.RGBA) color.RGBA {
	return color.RGBA{uint8((int(c.R) + 2*255) / 3), uint8((int(c.G) + 255) / 2), uint8((int(c.B) + 255) / 2), 255}
}

func (r *Report) throughputChart(scope string) *chart {
	c := &chart{title: "COMMITTED TRANSACTIONS PER SECOND, " + scope, xlabel: "seconds since saturation began",
		ylabel: "committed tx/s", ymin: 0}
	var ymax, xmax float64
	for _, run := range r.Runs {
		s := series{name: appName(run.App), col: appColor(run.App), width: 3}
		off := 0.0
		for _, p := range run.Phases {
			if p.Name == "moderate" {
				continue
			}
			if p.Name == "one_down" && run.App == AppBBUS {
				c.vmarks = append(c.vmarks, marker{off, "one node killed", colMark})
			}
			for i, v := range p.Timeline {
				s.pts = append(s.pts, [2]float64{off + (float64(i)+0.5)*p.BucketS, v})
				ymax = math.Max(ymax, v)
			}
			off += p.Seconds
		}
		xmax = math.Max(xmax, off)
		c.series = append(c.series, s)
	}
	c.xmax = math.Max(xmax, 1)
	c.ymax = math.Max(ymax*1.15, 10)
	return c
}

func (r *Report) memoryChart(scope string) *chart {
	c := &chart{title: "FIRST NODE'S RESIDENT MEMORY, " + scope, xlabel: "seconds since the load began",
		ylabel: "resident memory (MiB)", ymin: 0}
	var ymax, xmax float64
	for _, run := range r.Runs {
		s := series{name: appName(run.App), col: appColor(run.App), width: 3, pts: run.RSS}
		for _, p := range run.RSS {
			ymax, xmax = math.Max(ymax, p[1]), math.Max(xmax, p[0])
		}
		c.series = append(c.series, s)
	}
	c.xmax = math.Max(xmax, 1)
	c.ymax = math.Max(ymax*1.2, 10)
	return c
}
