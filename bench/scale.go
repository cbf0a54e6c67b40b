package bench

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ScaleFigure is one figure of the ledger's scale benchmark (BenchmarkScale
// in package ledger, run with BBUS_SCALE_OUT=FILE): an operation and the unit
// of its size ("invoice accept (ended)": lines of VMs that ended), the size,
// and what it cost in milliseconds.
type ScaleFigure struct {
	Series string  `json:"series"`
	Size   float64 `json:"size"`
	MS     float64 `json:"ms"`
}

// ScaleReport is what BenchmarkScale writes.
type ScaleReport struct {
	Figures []ScaleFigure `json:"figures"`
}

// ReadScale reads the figures BenchmarkScale wrote.
func ReadScale(file string) (*ScaleReport, error) {
	var r ScaleReport
	if err := readJSON(file, &r); err != nil {
		return nil, err
	}
	if len(r.Figures) == 0 {
		return nil, fmt.Errorf("%s: no figures", file)
	}
	return &r, nil
}

var palette = []color.RGBA{
	{31, 100, 180, 255}, {230, 120, 10, 255}, {40, 140, 60, 255}, {200, 30, 30, 255},
	{130, 80, 170, 255}, {140, 90, 60, 255}, {220, 100, 180, 255}, {100, 100, 100, 255},
}

// WriteCharts draws one chart per group of operations (the series' first
// word: lifecycle, invoice, traveller, monthly, lapses) into dir, as
// scale-GROUP.png and scale-GROUP.svg: cost (ms, log scale) against size (log
// scale), each operation a line, with the target of a transaction (5 ms)
// and, where BeginBlock is measured, of a BeginBlock (20 ms) marked. It returns the files' names without suffix.
func (r *ScaleReport) WriteCharts(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	groups := map[string]map[string][][2]float64{}
	for _, f := range r.Figures {
		if f.Size <= 0 || f.MS <= 0 {
			continue // a log axis has no 0
		}
		g, _, _ := strings.Cut(f.Series, " ")
		if groups[g] == nil {
			groups[g] = map[string][][2]float64{}
		}
		groups[g][f.Series] = append(groups[g][f.Series], [2]float64{f.Size, f.MS})
	}
	var names []string
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	var files []string
	for _, g := range names {
		c := scaleChart(g, groups[g])
		file := filepath.Join(dir, "scale-"+g)
		if err := c.savePNG(file + ".png"); err != nil {
			return nil, err
		}
		if err := c.saveSVG(file + ".svg"); err != nil {
			return nil, err
		}
		files = append(files, file)
	}
	return files, nil
}

func scaleChart(group string, bySeries map[string][][2]float64) *chart {
	c := &chart{title: "Cost against size: " + group + " (one run of BenchmarkScale)", xlabel: "size (the operation's work, log scale)",
		ylabel: "milliseconds (log scale)", logX: true, logY: true,
		xmin: math.Inf(1), xmax: 0, ymin: math.Inf(1), ymax: 0}
	var keys []string
	for k := range bySeries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	blocks := false
	for i, k := range keys {
		pts := bySeries[k]
		sort.Slice(pts, func(a, b int) bool { return pts[a][0] < pts[b][0] })
		for _, p := range pts {
			c.xmin, c.xmax = math.Min(c.xmin, p[0]), math.Max(c.xmax, p[0])
			c.ymin, c.ymax = math.Min(c.ymin, p[1]), math.Max(c.ymax, p[1])
		}
		blocks = blocks || strings.Contains(k, "beginblock") || strings.Contains(k, "commit")
		c.series = append(c.series, series{name: strings.TrimPrefix(k, group+" "), col: palette[i%len(palette)], dash: i >= len(palette), width: 3, pts: pts})
	}
	c.hmarks = []marker{{at: 5, label: "5 ms: a transaction's target", col: colMark}}
	if blocks {
		c.hmarks = append(c.hmarks, marker{at: 20, label: "20 ms: a BeginBlock's target", col: colMarkAlt})
	}
	c.xmin, c.xmax = c.xmin/2, c.xmax*2
	c.ymin, c.ymax = c.ymin/3, math.Max(c.ymax, 20)*12 // room above the marks for the legend
	return c
}
