package bench

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The charts are drawn by gonum's plot: a chart says what to show (series,
// axes, marker lines) and becomes a PNG and an SVG of the same figure.

var (
	colBBUS    = color.RGBA{31, 100, 180, 255}
	colKV      = color.RGBA{230, 120, 10, 255}
	colAxis    = color.RGBA{60, 60, 60, 255}
	colMark    = color.RGBA{200, 30, 30, 255}
	colMarkAlt = color.RGBA{40, 140, 60, 255}
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
	logY                   bool
	xmin, xmax, ymin, ymax float64
	series                 []series
	vmarks                 []marker
	hmarks                 []marker
}

// The size of a chart's PNG in pixels, at dpi.
const (
	chartW, chartH = 1000, 600
	dpi            = 96
)

// plot returns the chart as a gonum plot.
func (c *chart) plot() *plot.Plot {
	p := plot.New()
	p.Title.Text = c.title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text, p.Y.Label.Text = c.xlabel, c.ylabel
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = c.xmin, c.xmax, c.ymin, c.ymax
	x := func(v float64) float64 { return v }
	if c.logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		x = func(v float64) float64 { return math.Max(v, c.xmin) } // a log axis has no 0
	}
	if c.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	dashes := []vg.Length{vg.Points(6), vg.Points(4)}
	for _, s := range c.series {
		xy := make(plotter.XYs, len(s.pts))
		for i, pt := range s.pts {
			xy[i] = plotter.XY{X: x(pt[0]), Y: pt[1]}
		}
		l, err := plotter.NewLine(xy)
		if err != nil { // NaN or infinite values: leave the series out
			continue
		}
		l.Color, l.Width = s.col, vg.Points(float64(max(s.width, 2))*0.6)
		if s.dash {
			l.Dashes = dashes
		}
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	var labels plotter.XYLabels
	var colors []color.Color
	mark := func(xy plotter.XYs, col color.Color, label string, at plotter.XY) {
		l, err := plotter.NewLine(xy)
		if err != nil {
			return
		}
		l.Color, l.Width, l.Dashes = col, vg.Points(1.5), dashes
		p.Add(l)
		labels.XYs = append(labels.XYs, at)
		labels.Labels = append(labels.Labels, label)
		colors = append(colors, col)
	}
	for i, m := range c.vmarks {
		if m.at < c.xmin || m.at > c.xmax {
			continue
		}
		mark(plotter.XYs{{X: m.at, Y: c.ymin}, {X: m.at, Y: c.ymax}}, m.col, " "+m.label,
			plotter.XY{X: m.at, Y: c.ymax - (c.ymax-c.ymin)*float64(i+1)*0.06})
	}
	for _, m := range c.hmarks {
		if m.at < c.ymin || m.at > c.ymax {
			continue
		}
		mark(plotter.XYs{{X: x(c.xmin), Y: m.at}, {X: c.xmax, Y: m.at}}, m.col, m.label, plotter.XY{X: x(c.xmin), Y: m.at})
	}
	if len(labels.Labels) > 0 {
		if l, err := plotter.NewLabels(labels); err == nil {
			for i := range l.TextStyle {
				l.TextStyle[i].Color = colors[i]
			}
			p.Add(l)
		}
	}
	p.Legend.Top = !c.logX || c.logY // a CDF leaves its lower right empty
	return p
}

// savePNG draws the chart as a chartW x chartH PNG.
func (c *chart) savePNG(file string) error {
	canvas := vgimg.NewWith(vgimg.UseWH(chartW*vg.Inch/dpi, chartH*vg.Inch/dpi), vgimg.UseDPI(dpi))
	c.plot().Draw(draw.New(canvas))
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: canvas}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// saveSVG draws the chart as an SVG of the PNG's size.
func (c *chart) saveSVG(file string) error {
	return c.plot().Save(chartW*vg.Inch/dpi, chartH*vg.Inch/dpi, file)
}

// readJSON decodes the JSON file into v, naming the file in a decoding error.
func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// ReadReport reads a report that WriteFiles wrote (report.json), to draw its
// charts again.
func ReadReport(file string) (*Report, error) {
	var r Report
	if err := readJSON(file, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// WriteFiles writes the report (report.json) and its charts into dir, each
// as NAME.png (chartW x chartH pixels) and NAME.svg: latency (the distribution of submit-to-commit latency, as a cumulative
// distribution on a log scale, with the target and the paper's 2.36 s),
// throughput (committed transactions per second over the load phases) and
// memory (the first node's resident memory over the run).
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
		{"latency", r.latencyChart(scope, target)},
		{"throughput", r.throughputChart(scope)},
		{"memory", r.memoryChart(scope)},
	} {
		if err := c.c.savePNG(filepath.Join(dir, c.file+".png")); err != nil {
			return err
		}
		if err := c.c.saveSVG(filepath.Join(dir, c.file+".svg")); err != nil {
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
