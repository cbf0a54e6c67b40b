package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScaleCharts: the scale benchmark's figures become one chart per group,
// PNG and SVG, each naming its operations; a file without figures is refused.
func TestScaleCharts(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "scale.json")
	os.WriteFile(in, []byte(`{"figures":[
		{"series":"invoice accept (ended)","size":1000,"ms":0.06},{"series":"invoice accept (ended)","size":100000,"ms":0.08},
		{"series":"invoice close (ended)","size":1000,"ms":0.4},{"series":"invoice close (ended)","size":100000,"ms":1.05},
		{"series":"lapses beginblock-max (due)","size":1000,"ms":2},{"series":"lapses beginblock-max (due)","size":100000,"ms":9}]}`), 0o644)
	r, err := ReadScale(in)
	if err != nil {
		t.Fatal(err)
	}
	files, err := r.WriteCharts(filepath.Join(dir, "out"))
	if err != nil || len(files) != 2 {
		t.Fatalf("charts %v, %v; want invoice and lapses", files, err)
	}
	for _, f := range files {
		svg, err := os.ReadFile(f + ".svg")
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(f + ".png"); err != nil || st.Size() == 0 {
			t.Fatalf("%s.png: %v", f, err)
		}
		want := "accept (ended)"
		if strings.HasSuffix(f, "lapses") {
			want = "20 ms"
		}
		if !strings.Contains(string(svg), want) {
			t.Errorf("%s.svg does not show %q", f, want)
		}
	}
	os.WriteFile(in, []byte(`{"figures":[]}`), 0o644)
	if _, err := ReadScale(in); err == nil {
		t.Error("a file without figures was read")
	}
}
