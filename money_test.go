package bbus

import "testing"

func TestAmountsAndPercentages(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0.05", 50_000, true}, {"12", 12_000_000, true}, {"0.000001", 1, true}, {"1.5", 1_500_000, true},
		{"0.0000001", 0, false}, {"-1", 0, false}, {"1e3", 0, false}, {"", 0, false}, {".5", 0, false},
		{"5.", 0, false}, {"99999999999999999999", 0, false}, {"+1", 0, false},
	} {
		got, err := ParseAmount(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseAmount(%q) = %d, %v", c.in, got, err)
		}
		if c.ok && FormatAmount(got) != trimZeros(c.in) {
			t.Errorf("FormatAmount(%d) = %s", got, FormatAmount(got))
		}
	}
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{{"99.95", 99_950, true}, {"100", 100_000, true}, {"0", 0, true}, {"100.001", 0, false}, {"99.9999", 0, false}} {
		got, err := ParsePct(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParsePct(%q) = %d, %v", c.in, got, err)
		}
	}
	if s := FormatAmount(-1_250_000); s != "-1.25" {
		t.Errorf("negative: %s", s)
	}
}

func trimZeros(s string) string { return s }
