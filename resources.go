package bbus

import "fmt"

// MaxResource bounds every resource quantity so that sums over any realistic
// federation cannot overflow an int64.
const MaxResource = 1 << 40

// Resources is the paper's constraint vector R: virtual CPUs, memory in MiB,
// disk I/O in operations per second and network I/O in Mbit/s. Quantities are
// whole numbers; the ledger holds no floating point.
type Resources struct {
	CPU      int64 `json:"cpu"`
	MemMiB   int64 `json:"mem_mib"`
	DiskIOPS int64 `json:"disk_iops"`
	NetMbps  int64 `json:"net_mbps"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.CPU + o.CPU, r.MemMiB + o.MemMiB, r.DiskIOPS + o.DiskIOPS, r.NetMbps + o.NetMbps}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.CPU - o.CPU, r.MemMiB - o.MemMiB, r.DiskIOPS - o.DiskIOPS, r.NetMbps - o.NetMbps}
}

// Fits reports whether every quantity of r is at most the same quantity of o.
func (r Resources) Fits(o Resources) bool {
	return r.CPU <= o.CPU && r.MemMiB <= o.MemMiB && r.DiskIOPS <= o.DiskIOPS && r.NetMbps <= o.NetMbps
}

// IsZero reports whether every quantity is zero.
func (r Resources) IsZero() bool { return r == Resources{} }

// String renders r as "cpu=4 mem_mib=8192 disk_iops=1000 net_mbps=100".
func (r Resources) String() string {
	return fmt.Sprintf("cpu=%d mem_mib=%d disk_iops=%d net_mbps=%d", r.CPU, r.MemMiB, r.DiskIOPS, r.NetMbps)
}

// Validate checks that every quantity is within [0, MaxResource] and, if
// needCPUMem, that vCPU and memory are positive (a VM or a cloud without them is
// a mistake).
func (r Resources) Validate(what string, needCPUMem bool) error {
	for _, q := range []struct {
		name string
		v    int64
	}{{"cpu", r.CPU}, {"mem_mib", r.MemMiB}, {"disk_iops", r.DiskIOPS}, {"net_mbps", r.NetMbps}} {
		if q.v < 0 || q.v > MaxResource {
			return Errorf(EINVALID, "%s %s must be between 0 and %d, got %d", what, q.name, int64(MaxResource), q.v)
		}
	}
	if needCPUMem && (r.CPU == 0 || r.MemMiB == 0) {
		return Errorf(EINVALID, "%s needs cpu and mem_mib above zero", what)
	}
	return nil
}
