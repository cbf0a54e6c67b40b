package node

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

// collectorNow returns the process's gc percent and memory limit in MiB
// (-1: none), leaving them as they are.
func collectorNow() (int, int64) {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return percent, -1
	}
	return percent, limit >> 20
}

func keepCollector(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
}

// The nodes open in one process share its collector: the largest gc_percent,
// the sum of their limits, none if one has none; a node that stops takes its
// share back.
func TestCollectorOfTheOpenNodes(t *testing.T) {
	keepCollector(t)
	var cs collectorUses
	a, b, c := DefaultConfig("a"), DefaultConfig("b"), DefaultConfig("c")
	a.GCPercent, a.MemoryLimitMiB = 300, 512
	b.GCPercent, b.MemoryLimitMiB = 200, 1024
	c.MemoryLimitMiB = 0
	check := func(when string, percent int, limit int64) {
		t.Helper()
		if p, l := collectorNow(); p != percent || l != limit {
			t.Errorf("%s: gc percent %d, limit %d MiB; want %d and %d", when, p, l, percent, limit)
		}
	}
	settings, releaseA := cs.use(&a)
	if settings != "gc_percent 300, memory_limit_mib 512" {
		t.Errorf("settings reported: %q", settings)
	}
	check("one node", 300, 512)
	_, releaseB := cs.use(&b)
	check("two nodes", 300, 1536)
	_, releaseC := cs.use(&c)
	check("one without a limit", DefaultGCPercent, -1)
	releaseC()
	releaseC() // twice changes nothing
	check("that one stopped", 300, 1536)
	releaseA()
	check("one left", 200, 1024)
	releaseB()
}

// GOGC or GOMEMLIMIT in the environment win over the node's settings.
func TestCollectorEnvironmentWins(t *testing.T) {
	keepCollector(t)
	SetCollector(150, 256)
	t.Setenv("GOMEMLIMIT", "300MiB")
	if s := SetCollector(400, 1024); !strings.Contains(s, "from the environment") {
		t.Errorf("settings reported: %q", s)
	}
	if p, l := collectorNow(); p != 150 || l != 256 {
		t.Errorf("gc percent %d, limit %d MiB after SetCollector with GOMEMLIMIT set; want them unchanged (150, 256)", p, l)
	}
}
