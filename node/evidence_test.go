package node

import (
	"fmt"
	"testing"
)

// Changes of validators below the index (blocks committed before the node
// kept it) come from a scan of the headers; above, from the index, each
// confirmed against the headers.
func TestValidatorChangesBelowAndAboveTheIndex(t *testing.T) {
	truth := map[int64]bool{5: true, 9: true, 20: true, 31: true} // heights whose validators changed
	var scanned int64
	scan := func(upTo int64) ([]int64, error) {
		scanned = upTo
		var out []int64
		for h := int64(2); h <= upTo; h++ {
			if truth[h] {
				out = append(out, h)
			}
		}
		return out, nil
	}
	changed := func(h int64) (bool, error) { return truth[h], nil }
	for _, c := range []struct {
		from, to, indexed int64
		cands             []int64
		want              string
		scanned           int64
	}{
		{0, 40, 1, []int64{5, 9, 20, 31}, "[5 9 20 31]", 0},     // indexed from the start
		{0, 40, 1, []int64{5, 9, 12, 20, 31}, "[5 9 20 31]", 0}, // an update that changed nothing
		{0, 40, 15, []int64{20, 31}, "[5 9 20 31]", 16},         // the index starts at block 15: heights up to 16 scanned
		{9, 25, 15, []int64{20}, "[20]", 16},                    // a range above a change
		{17, 40, 15, []int64{20, 31}, "[20 31]", 0},             // nothing below the index asked
		{0, 40, 0, nil, "[5 9 20 31]", 40},                      // no block committed with the index yet
		{0, 10, 30, nil, "[5 9]", 10},                           // a range wholly below the index
	} {
		scanned = 0
		got, err := validatorChanges(c.from, c.to, 1, c.indexed, c.cands, scan, changed)
		if err != nil || fmt.Sprint(got) != c.want || scanned != c.scanned {
			t.Errorf("(%d, %d] indexed from %d: %v %v, scanned to %d; want %s, scanned to %d", c.from, c.to, c.indexed, got, err, scanned, c.want, c.scanned)
		}
	}
}
