package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/oracle"
)

const oracleSynopsis = `bbus oracle run --home DIR --node URL --from ORACLE [--config FILE] [--metrics ADDR]
bbus oracle status --home DIR [--from ORACLE] [--output json]

run measures the VMs of its configuration (docs/ORACLES.md) and reports each
window to the ledger, signed with the key ORACLE of --home, until interrupted.
status prints what the oracles of --home did, from their state files.`

func oracleUsage(w io.Writer) { newFlags("oracle", oracleSynopsis).usage(w) }

func oracleCmd(e *env) *cobra.Command {
	return group("oracle", oracleUsage, func(words []string) string {
		if len(words) == 0 {
			return "missing action: run or status"
		}
		return fmt.Sprintf("unknown action %q", words[0])
	}, oracleRunCmd(e), oracleStatusCmd(e))
}

func oracleRunCmd(e *env) *cobra.Command {
	f := newFlags("oracle run", "bbus oracle run --home DIR --node URL --from ORACLE [--config FILE] [--metrics ADDR]\n\n"+
		"Probes the VMs of --config and submits one signed report per VM and window to --node,\n"+
		"until interrupted. Its state is in DIR/oracle/ORACLE.json (bbus oracle status).")
	home := f.homeFlag()
	node := f.String("node", DefaultNode, "the URL of the node's API")
	token := f.tokenFlag()
	from := f.String("from", "", "the oracle: the name of its key in --home (required)")
	config := f.String("config", "", "the oracle's configuration `file` (default DIR/oracle.json)")
	metrics := f.String("metrics", "", "serve Prometheus metrics (bbus_oracle_*) at http://`ADDR`/metrics")
	logLevel := f.String("log-level", "info", "log `level` on stderr: debug, info, warn or error")
	return f.command(0, func([]string) error {
		if err := f.required("from"); err != nil {
			return err
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			return f.fail("--log-level: %v", err)
		}
		if *config == "" {
			*config = filepath.Join(*home, "oracle.json")
		}
		cfg, err := oracle.LoadConfig(*config)
		if err != nil {
			return err
		}
		key, err := keys.Load(*home, *from)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
		r, err := oracle.New(cfg, *from, key.PrivKey, newClient(*node, *token, 30*time.Second), oracle.StatePath(*home, *from), log)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		if *metrics != "" {
			l, err := net.Listen("tcp", *metrics)
			if err != nil {
				return bbus.Errorf(bbus.EINVALID, "--metrics %s: %v", *metrics, err)
			}
			mux := http.NewServeMux()
			mux.Handle("/metrics", r.MetricsHandler())
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(l)
			defer srv.Shutdown(context.Background())
			log.Info("serving metrics", "addr", "http://"+l.Addr().String()+"/metrics")
		}
		return r.Run(ctx)
	})
}

// oracleStatus is one oracle's state as bbus oracle status prints it.
type oracleStatus struct {
	Oracle  string           `json:"oracle"`
	ChainID string           `json:"chain_id,omitempty"`
	VMs     []oracleVMStatus `json:"vms"`
}

type oracleVMStatus struct {
	VM         string `json:"vm"`
	LastWindow string `json:"last_window_end,omitempty"`
	Pending    int    `json:"pending"`
	oracle.VMState
}

func oracleStatusCmd(e *env) *cobra.Command {
	f := newFlags("oracle status", "bbus oracle status --home DIR [--from ORACLE] [--output json]\n\n"+
		"Prints, per oracle of --home and VM, the last window settled, the windows waiting to be\n"+
		"submitted, the counts of probes and reports, and the last error.")
	home := f.homeFlag()
	from := f.String("from", "", "only this oracle (default: every oracle with a state file in --home)")
	out := f.outputFlag()
	return f.command(0, func([]string) error {
		var ids []string
		if *from != "" {
			ids = []string{*from}
		} else {
			ents, err := os.ReadDir(oracle.StateDir(*home))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for _, en := range ents {
				if id, ok := strings.CutSuffix(en.Name(), ".json"); ok && !en.IsDir() {
					ids = append(ids, id)
				}
			}
			sort.Strings(ids)
		}
		if len(ids) == 0 {
			return bbus.Errorf(bbus.ENOTFOUND, "home %s has no oracle state (bbus oracle run writes it)", *home)
		}
		var all []oracleStatus
		for _, id := range ids {
			path := oracle.StatePath(*home, id)
			if _, err := os.Stat(path); err != nil {
				return bbus.Errorf(bbus.ENOTFOUND, "oracle %s has no state file %s", id, path)
			}
			st, err := oracle.LoadState(path)
			if err != nil {
				return err
			}
			o := oracleStatus{Oracle: id, ChainID: st.ChainID, VMs: []oracleVMStatus{}}
			vms := make([]string, 0, len(st.VMs))
			for vm := range st.VMs {
				vms = append(vms, vm)
			}
			sort.Strings(vms)
			for _, vm := range vms {
				s := st.VMs[vm]
				v := oracleVMStatus{VM: vm, Pending: len(s.Queue), VMState: *s}
				if s.LastEnd > 0 {
					v.LastWindow = time.Unix(s.LastEnd, 0).UTC().Format(time.RFC3339)
				}
				v.Queue = nil // the signed transactions are not status
				o.VMs = append(o.VMs, v)
			}
			all = append(all, o)
		}
		if *out == "json" {
			return printJSON(e.stdout, all)
		}
		for i, o := range all {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stdout, "oracle %s (chain %s)\n", o.Oracle, orDash(o.ChainID))
			tw := newTable(e.stdout)
			fmt.Fprintln(tw, "VM\tLAST WINDOW END\tLAST REPORT\tPENDING\tREPORTED\tPROBES\tFAILED\tCONFLICTS\tLOST\tERRORS\tLAST ERROR")
			for _, v := range o.VMs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", v.VM, orDash(v.LastWindow), orDash(v.LastReport), v.Pending,
					v.Reported, v.Probes, v.ProbeFailures, v.Conflicts, v.Lost, v.SubmitErrors, orDash(v.LastError))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		return nil
	})
}
