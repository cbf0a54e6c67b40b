package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
	"github.com/bbusdev/bbus/agent/cloudevents"
	"github.com/bbusdev/bbus/agent/libvirt"
	"github.com/bbusdev/bbus/agent/nova"
	"github.com/bbusdev/bbus/agent/vcenter"
	"github.com/bbusdev/bbus/keys"
)

const agentSynopsis = `bbus agent --home DIR --node URL --from CLOUD (--libvirt URI | --cloudevents ADDR | --vcenter URL | --nova AMQP-URL)
           [--config FILE] [--peer URI=CLOUD]... [--register-new] [--terminate-on-destroy] [--metrics ADDR]
bbus agent status --home DIR [--output json]
bbus agent log --home DIR [--limit N] [--output json]

Watches the cloud's virtualisation layer and records, with the key of --from in
--home, the cloud's side of every migration: the source proposes, the
destination accepts and completes, a failure is cancelled or rejected. It runs
until interrupted; what it did and why is in bbus agent log, what it waits for
and its last refusal in bbus agent status. docs/AGENTS.md has the details.`

// agentSources are the layers bbus agent can watch, by flag: each makes the
// source from the flag's value and the configuration file (whose Cloud is
// --from). A nil one is not built into this binary.
var agentSources = map[string]func(value string, cfg *agent.FileConfig, log *slog.Logger) (agent.Source, error){
	"libvirt": func(uri string, cfg *agent.FileConfig, log *slog.Logger) (agent.Source, error) {
		return libvirt.New(libvirt.Config{URI: uri, Peers: cfg.Peers, Destination: cfg.Destination, Log: log})
	},
	"cloudevents": func(addr string, cfg *agent.FileConfig, log *slog.Logger) (agent.Source, error) {
		return cloudevents.New(cloudevents.Config{Addr: addr, Token: cfg.CloudEventsToken, Log: log})
	},
	"vcenter": func(url string, cfg *agent.FileConfig, log *slog.Logger) (agent.Source, error) {
		var c struct {
			Insecure  bool              `json:"insecure"`
			Clouds    map[string]string `json:"clouds"`
			Attribute string            `json:"attribute"`
			VMID      string            `json:"vm_id"`
		}
		if err := section(cfg.VCenter, "vcenter", &c); err != nil {
			return nil, err
		}
		if c.Clouds == nil {
			c.Clouds = cfg.Peers
		}
		return sourceErr(vcenter.New(vcenter.Config{URL: url, Insecure: c.Insecure, Cloud: cfg.Cloud, Clouds: c.Clouds,
			Attribute: c.Attribute, VMID: c.VMID, Log: logf(log, "vcenter")}))
	},
	"nova": func(url string, cfg *agent.FileConfig, log *slog.Logger) (agent.Source, error) {
		var c struct {
			Exchange        string            `json:"exchange"`
			ExchangeDurable bool              `json:"exchange_durable"`
			Topics          []string          `json:"topics"`
			Queue           string            `json:"queue"`
			Hosts           map[string]string `json:"hosts"`
			MetadataKey     string            `json:"metadata_key"`
		}
		if err := section(cfg.Nova, "nova", &c); err != nil {
			return nil, err
		}
		if c.Hosts == nil {
			c.Hosts = cfg.Peers
		}
		return sourceErr(nova.New(nova.Config{URL: url, Exchange: c.Exchange, ExchangeDurable: c.ExchangeDurable, Topics: c.Topics,
			Queue: c.Queue, Hosts: c.Hosts, MetadataKey: c.MetadataKey, Log: logf(log, "nova")}))
	},
}

// section decodes the configuration file's section of a source, refusing
// unknown fields.
func section(raw json.RawMessage, name string, v any) error {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bbus.Errorf(bbus.EINVALID, "agent configuration, %s: %v", name, err)
	}
	return nil
}

// sourceErr returns a source, or its constructor's error as a bbus error.
func sourceErr[S agent.Source](s S, err error) (agent.Source, error) {
	if err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "%v", err)
	}
	return s, nil
}

// logf sends a source's printf-style log lines to log.
func logf(log *slog.Logger, source string) func(string, ...any) {
	return func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...), "source", source) }
}

// agentSourceFlags are the source flags, in the order usage lists them.
var agentSourceFlags = []string{"libvirt", "cloudevents", "vcenter", "nova"}

func agentLeaf(e *env) *cobra.Command {
	f := newFlags("agent", agentSynopsis)
	home := f.homeFlag()
	node := f.String("node", DefaultNode, "the URL of the node's API")
	token := f.tokenFlag()
	from := f.String("from", "", "the cloud the agent signs for: the name of a key in --home (required)")
	srcs := map[string]*string{
		"libvirt":     f.String("libvirt", "", "watch the libvirt at `URI` (qemu+tcp://HOST:16509/system, qemu:///system)"),
		"cloudevents": f.String("cloudevents", "", "take CloudEvents at POST /v1/hooks/cloudevents on `ADDR` (HOST:PORT)"),
		"vcenter":     f.String("vcenter", "", "follow the events of the vCenter at `URL`"),
		"nova":        f.String("nova", "", "consume Nova's versioned notifications from `AMQP-URL`"),
	}
	config := f.String("config", "", "the agent's configuration `file` (JSON: peers, destination, agreements, ...)")
	var peers []string
	f.Func("peer", "map a peer host to its cloud: `URI=CLOUD` (repeatable; adds to the configuration's peers)", func(s string) error {
		peers = append(peers, s)
		return nil
	})
	registerNew := f.Bool("register-new", false, "register VMs created on the layer that the ledger does not know")
	terminate := f.Bool("terminate-on-destroy", false, "terminate the VMs of the cloud destroyed on the layer")
	metrics := f.String("metrics", "", "serve the bbus_agent_* metrics at http://`ADDR`/metrics")
	return f.command(0, func([]string) error {
		if err := f.required("from"); err != nil {
			return err
		}
		var kind, value string
		for _, k := range agentSourceFlags {
			if *srcs[k] != "" {
				if kind != "" {
					return f.fail("give one of --libvirt, --cloudevents, --vcenter, --nova, not --%s and --%s", kind, k)
				}
				kind, value = k, *srcs[k]
			}
		}
		if kind == "" {
			return f.fail("give one of --libvirt, --cloudevents, --vcenter, --nova")
		}
		cfg := &agent.FileConfig{}
		if *config != "" {
			var err error
			if cfg, err = agent.LoadConfig(*config); err != nil {
				return err
			}
		}
		for _, p := range peers {
			uri, cloud, ok := strings.Cut(p, "=")
			if !ok || uri == "" || cloud == "" {
				return f.fail("--peer %q: want URI=CLOUD", p)
			}
			if cfg.Peers == nil {
				cfg.Peers = map[string]string{}
			}
			cfg.Peers[uri] = cloud
		}
		if err := cfg.Validate(); err != nil {
			return f.fail("%s", bbus.ErrorMessage(err))
		}
		cfg.Cloud = *from
		newSource := agentSources[kind]
		if newSource == nil {
			return bbus.Errorf(bbus.EINVALID, "the %s source is not built in this binary yet", kind)
		}
		key, err := keys.Load(*home, *from)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(e.stderr, nil))
		src, err := newSource(value, cfg, log)
		if err != nil {
			return err
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		rec, err := agent.New(agent.Config{
			Cloud: *from, Key: key.PrivKey, Client: newClient(*node, *token, 2*time.Minute), Home: *home,
			Source: kind + " " + value, RegisterNew: *registerNew, TerminateOnDestroy: *terminate,
			Agreements: cfg.Agreements, Registerer: reg, Log: e.stderr,
		})
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		if *metrics != "" {
			ln, err := net.Listen("tcp", *metrics)
			if err != nil {
				return bbus.Errorf(bbus.EUNAVAILABLE, "--metrics %s: %v", *metrics, err)
			}
			mux := http.NewServeMux()
			mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			defer srv.Close()
			log.Info("serving metrics", "addr", ln.Addr().String())
		}
		log.Info("agent started", "cloud", *from, "node", *node, "source", kind, "at", value)
		// A layer that cannot be watched (libvirtd restarting, a lost
		// connection) is watched again; each new start reconciles first.
		backoff := time.Second
		for {
			start := time.Now()
			err := rec.Run(ctx, src)
			if ctx.Err() != nil {
				log.Info("agent stopped")
				return nil
			}
			if code := bbus.ErrorCode(err); code != bbus.EUNAVAILABLE && code != bbus.EINTERNAL {
				return err
			}
			if time.Since(start) > time.Minute {
				backoff = time.Second
			}
			log.Warn("watching the layer failed; starting again", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	})
}

func agentStatusCmd(e *env) *cobra.Command {
	f := newFlags("agent status", "bbus agent status --home DIR [--output json]\n\nWhat the agent of --home did since it started, what it waits for and its last refusal.")
	home := f.homeFlag()
	out := f.outputFlag()
	return f.command(0, func([]string) error {
		s, err := agent.ReadState(*home)
		if err != nil {
			return err
		}
		up := alive(s.PID)
		if *out == "json" {
			return printJSON(e.stdout, struct {
				*agent.State
				Running bool `json:"running"`
			}{s, up})
		}
		state := "not running"
		if up {
			state = "running"
		}
		w := e.stdout
		fmt.Fprintf(w, "agent of cloud %s: %s (pid %d)\n", s.Cloud, state, s.PID)
		fmt.Fprintf(w, "source:   %s\nnode:     %s\nstarted:  %s\nupdated:  %s\n", s.Source, s.Node, s.Started.Format(time.RFC3339), s.Updated.Format(time.RFC3339))
		fmt.Fprintf(w, "since it started: %d events, %d steps recorded, %d refused, %d differences\n", s.Events, s.Steps, s.Refusals, s.Differences)
		if len(s.Pending) > 0 {
			fmt.Fprintf(w, "waiting (%d):\n", len(s.Pending))
			for _, p := range s.Pending {
				fmt.Fprintf(w, "  %s\n", entryLine(p))
			}
		}
		if s.LastRefusal != nil {
			fmt.Fprintf(w, "last refusal:\n  %s\n", entryLine(*s.LastRefusal))
		}
		return nil
	})
}

func agentLogCmd(e *env) *cobra.Command {
	f := newFlags("agent log", "bbus agent log --home DIR [--limit N] [--output json]\n\nWhat the agent of --home did, or chose not to do, and why: its latest entries, oldest first.")
	home := f.homeFlag()
	limit := f.Int("limit", 50, "show the latest `N` entries (0: all the agent keeps)")
	out := f.outputFlag()
	return f.command(0, func([]string) error {
		if *limit < 0 {
			return f.fail("--limit must not be negative")
		}
		s, err := agent.ReadState(*home)
		if err != nil {
			return err
		}
		log := s.Log
		if *limit > 0 && len(log) > *limit {
			log = log[len(log)-*limit:]
		}
		if *out == "json" {
			return printJSON(e.stdout, log)
		}
		for _, en := range log {
			fmt.Fprintln(e.stdout, entryLine(en))
		}
		return nil
	})
}

// entryLine is one entry of the agent's log, readable.
func entryLine(en agent.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-10s", en.At.Format(time.RFC3339), en.Outcome)
	for _, s := range []string{en.VM, string(en.Event), en.Step, en.Migration} {
		if s != "" {
			fmt.Fprintf(&b, " %s", s)
		}
	}
	switch {
	case en.Outcome == agent.Recorded:
		fmt.Fprintf(&b, " (height %d, %d ms after the event)", en.Height, en.LatencyMS)
	case en.Height > 0:
		fmt.Fprintf(&b, " (height %d)", en.Height)
	}
	if en.Code != "" {
		fmt.Fprintf(&b, " [%s]", en.Code)
	}
	fmt.Fprintf(&b, ": %s", en.Why)
	return b.String()
}

// alive reports whether a process of that id runs on this machine.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func agentCmd(e *env) *cobra.Command {
	c := agentLeaf(e)
	for _, sub := range []*cobra.Command{agentStatusCmd(e), agentLogCmd(e)} {
		c.AddCommand(sub)
		shadow(c, sub)
	}
	return c
}
