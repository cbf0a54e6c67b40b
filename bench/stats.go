package bench

import (
	"slices"
	"time"
)

// Latency summarises submit-to-commit latencies, in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Mean float64 `json:"mean_ms"`
	Max  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the q-quantile (0..1) of sorted by the nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// summarize sorts lat in place and summarises it.
func summarize(lat []time.Duration) Latency {
	slices.Sort(lat)
	l := Latency{N: len(lat)}
	if len(lat) == 0 {
		return l
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	l.P50, l.P95, l.P99 = ms(percentile(lat, .50)), ms(percentile(lat, .95)), ms(percentile(lat, .99))
	l.Mean, l.Max = ms(sum/time.Duration(len(lat))), ms(lat[len(lat)-1])
	return l
}

// timeline returns committed transactions per second in buckets of width
// bucket over [0, d).
func timeline(at []time.Duration, d, bucket time.Duration) []float64 {
	n := int((d + bucket - 1) / bucket)
	out := make([]float64, max(n, 1))
	for _, t := range at {
		if i := int(t / bucket); i >= 0 && i < len(out) {
			out[i]++
		}
	}
	for i := range out {
		w := bucket
		if end := time.Duration(i+1) * bucket; end > d {
			w = d - time.Duration(i)*bucket
		}
		if w > 0 {
			out[i] /= w.Seconds()
		}
	}
	return out
}

// bucketFor is the timeline's bucket width for a phase of length d.
func bucketFor(d time.Duration) time.Duration {
	switch {
	case d >= 2*time.Minute:
		return 2 * time.Second
	case d >= 10*time.Second:
		return 500 * time.Millisecond
	}
	return max(d/20, 10*time.Millisecond)
}

// quantiles returns n+1 quantiles of sorted, from its minimum to its maximum,
// in milliseconds.
func quantiles(sorted []time.Duration, n int) []float64 {
	if len(sorted) == 0 {
		return nil
	}
	out := make([]float64, n+1)
	for i := range out {
		out[i] = ms(sorted[min(len(sorted)-1, i*(len(sorted)-1)/n)])
	}
	return out
}
