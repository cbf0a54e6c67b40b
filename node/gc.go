package node

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"sync"
)

// The Go collector's settings. A node at saturation allocates tens of KB a
// transaction (decoded transactions and records, the state's write batches,
// the engine's messages) over a live heap of a few hundred MiB (the state's
// read caches, the mempool). With Go's default, a collection each time the
// heap doubles, the collector's workers and assists took a processor from the
// goroutine that applies blocks often enough to lengthen every height: with
// gc_percent 400 and a 1 GiB limit one node commits about a tenth more
// transactions a second at saturation (docs/BENCHMARKS.md, "The collector"),
// and its resident memory stays near the limit instead of growing with the
// heap. The bench's baseline node runs with the same settings.
const (
	DefaultGCPercent      = 400
	DefaultMemoryLimitMiB = 1024

	maxGCPercent      = 10000
	minMemoryLimitMiB = 64
	maxMemoryLimitMiB = 1 << 30
)

// SetCollector sets the process's collector: a collection when the heap has
// grown gcPercent beyond what is live, and sooner as it nears memoryLimitMiB
// (0: no limit). GOGC or GOMEMLIMIT in the environment win: then it changes
// nothing. It returns what the collector runs with, for the log.
func SetCollector(gcPercent int, memoryLimitMiB int64) string {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return fmt.Sprintf("GOGC=%q GOMEMLIMIT=%q from the environment", os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"))
	}
	limit := int64(math.MaxInt64)
	if memoryLimitMiB > 0 {
		limit = memoryLimitMiB << 20
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(limit)
	if memoryLimitMiB == 0 {
		return fmt.Sprintf("gc_percent %d, no memory limit", gcPercent)
	}
	return fmt.Sprintf("gc_percent %d, memory_limit_mib %d", gcPercent, memoryLimitMiB)
}

// collector is what the nodes open in this process asked of the collector: a
// process that runs several (a test, a testnet) gets the sum of their memory
// limits (none if one of them has none) and the largest gc_percent.
var collector collectorUses

type collectorUses struct {
	mu   sync.Mutex
	open []collectorUse
}

type collectorUse struct {
	percent  int
	limitMiB int64
}

// use adds a node's settings to the process's and returns what the collector
// now runs with, and the function that takes them away again.
func (cs *collectorUses) use(c *Config) (string, func()) {
	u := collectorUse{percent: c.GCPercent, limitMiB: c.MemoryLimitMiB}
	cs.mu.Lock()
	cs.open = append(cs.open, u)
	settings := cs.apply()
	cs.mu.Unlock()
	var once sync.Once
	return settings, func() {
		once.Do(func() {
			cs.mu.Lock()
			defer cs.mu.Unlock()
			if i := slices.Index(cs.open, u); i >= 0 {
				cs.open = slices.Delete(cs.open, i, i+1)
			}
			if len(cs.open) > 0 {
				cs.apply()
			}
		})
	}
}

// apply sets the collector from the open nodes' settings (cs.mu held).
func (cs *collectorUses) apply() string {
	percent, limit := 0, int64(0)
	for _, o := range cs.open {
		percent = max(percent, o.percent)
		if o.limitMiB == 0 || limit < 0 {
			limit = -1
		} else {
			limit += o.limitMiB
		}
	}
	return SetCollector(percent, max(limit, 0))
}
