package oracle

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
)

// Duration is a time.Duration written as "5s" in JSON.
type Duration = bbus.Duration

// Config is what an oracle measures and how. DefaultConfig gives the defaults
// of every field a configuration file leaves out.
type Config struct {
	// Period is the length of a report's window, a whole number of seconds.
	// Windows are aligned to it: [k*Period, (k+1)*Period) in Unix seconds.
	Period Duration `json:"period"`
	// ProbeInterval is how often each VM is probed within a window.
	ProbeInterval Duration `json:"probe_interval"`
	// Timeout bounds one probe; a probe that takes longer failed.
	Timeout Duration `json:"timeout"`
	// LatencyPercentile is the percentile of the successful probes' latencies
	// that a report carries as its latency, for VMs whose latency is measured.
	LatencyPercentile int `json:"latency_percentile"`
	// TxTTL is how long after its window ends a report may still be
	// submitted: its transaction expires then (it must not exceed the
	// federation's tx_max_ttl_seconds). A window not committed by then is lost.
	TxTTL Duration `json:"tx_ttl"`
	// Assigned makes the oracle measure the VMs the ledger has under active
	// agreements with objectives (instead of every VM listed), with the
	// endpoints listed in VMs: the ledger holds no VM's endpoint.
	Assigned bool `json:"assigned"`
	// VMs are the VMs to measure, with their probe endpoints.
	VMs []VMConfig `json:"vms"`
}

// VMConfig is one VM and the endpoint that shows whether it serves.
type VMConfig struct {
	VM string `json:"vm"`
	// Probe is an http:// or https:// URL (a 2xx or 3xx answer is up) or
	// tcp://HOST:PORT (an accepted connection is up).
	Probe string `json:"probe"`
	// Latency makes its reports carry a latency; with Assigned, a VM under an
	// agreement with a latency objective is measured for latency regardless.
	Latency bool `json:"latency,omitempty"`
}

// DefaultConfig returns the defaults: 60 s windows, a probe every 5 s with a
// 2 s timeout, p95 latency, reports submittable for 10 minutes.
func DefaultConfig() Config {
	return Config{Period: Duration(time.Minute), ProbeInterval: Duration(5 * time.Second), Timeout: Duration(2 * time.Second),
		LatencyPercentile: 95, TxTTL: Duration(10 * time.Minute)}
}

// LoadConfig reads a configuration file over the defaults and validates it.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, bbus.Errorf(bbus.ENOTFOUND, "oracle: no configuration file %s", path)
	}
	if err != nil {
		return c, bbus.Errorf(bbus.EINVALID, "oracle: %v", err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return c, bbus.Errorf(bbus.EINVALID, "oracle: configuration %s: %v", path, err)
	}
	return c, c.Validate()
}

// Validate checks every field's range and every probe's form.
func (c *Config) Validate() error {
	p, iv, to := time.Duration(c.Period), time.Duration(c.ProbeInterval), time.Duration(c.Timeout)
	switch {
	case p < time.Second || p%time.Second != 0 || p > 24*time.Hour:
		return bbus.Errorf(bbus.EINVALID, "oracle: period %s must be a whole number of seconds from 1s to 24h", p)
	case iv <= 0 || iv > p:
		return bbus.Errorf(bbus.EINVALID, "oracle: probe_interval %s must be positive and at most the period %s", iv, p)
	case to <= 0 || to > iv:
		return bbus.Errorf(bbus.EINVALID, "oracle: timeout %s must be positive and at most the probe_interval %s", to, iv)
	case c.LatencyPercentile < 1 || c.LatencyPercentile > 100:
		return bbus.Errorf(bbus.EINVALID, "oracle: latency_percentile %d must be from 1 to 100", c.LatencyPercentile)
	case time.Duration(c.TxTTL) < time.Second:
		return bbus.Errorf(bbus.EINVALID, "oracle: tx_ttl %s must be at least 1s", time.Duration(c.TxTTL))
	case len(c.VMs) == 0:
		return bbus.Errorf(bbus.EINVALID, "oracle: the configuration lists no VM to measure")
	}
	seen := map[string]bool{}
	for _, v := range c.VMs {
		if err := bbus.ValidateID("vm", v.VM); err != nil {
			return err
		}
		if seen[v.VM] {
			return bbus.Errorf(bbus.EINVALID, "oracle: VM %s is listed twice", v.VM)
		}
		seen[v.VM] = true
		if err := validProbe(v.Probe); err != nil {
			return bbus.Errorf(bbus.EINVALID, "oracle: VM %s: %s", v.VM, bbus.ErrorMessage(err))
		}
	}
	return nil
}

func validProbe(probe string) error {
	u, err := url.Parse(probe)
	if err != nil {
		return bbus.Errorf(bbus.EINVALID, "probe %q: %v", probe, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return bbus.Errorf(bbus.EINVALID, "probe %q names no host", probe)
		}
	case "tcp":
		if _, _, err := net.SplitHostPort(u.Host); err != nil || u.Path != "" {
			return bbus.Errorf(bbus.EINVALID, "probe %q is not tcp://HOST:PORT", probe)
		}
	default:
		return bbus.Errorf(bbus.EINVALID, "probe %q: the scheme must be http, https or tcp (ICMP is not supported)", probe)
	}
	return nil
}
