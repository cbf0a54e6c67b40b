package cli

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bbusdev/bbus"
)

// The readable forms: aligned tables for lists, "field  value" lines for one
// record. Times are RFC 3339 in UTC, to the nanosecond when not whole seconds,
// so that one can be pasted into --at, --since or --until as printed.

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// fmtStamp renders when and by which transaction the ledger recorded something.
func fmtStamp(s *bbus.Stamp) string {
	if s == nil {
		return "-"
	}
	out := fmtTime(s.At) + " at height " + strconv.FormatInt(s.Height, 10)
	if s.Tx != "" {
		out += " (tx " + s.Tx + ")"
	}
	return out
}

// fmtUse renders used of total for each resource.
func fmtUse(used, total bbus.Resources) string {
	return fmt.Sprintf("cpu %d/%d  mem_mib %d/%d  disk_iops %d/%d  net_mbps %d/%d",
		used.CPU, total.CPU, used.MemMiB, total.MemMiB, used.DiskIOPS, total.DiskIOPS, used.NetMbps, total.NetMbps)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fields prints name-value lines, aligned.
func fields(w io.Writer, kv ...string) error {
	tw := newTable(w)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s\t%s\n", kv[i], kv[i+1])
	}
	return tw.Flush()
}

func printStatus(w io.Writer, st *bbus.Status) error {
	if err := fields(w,
		"chain id", st.ChainID,
		"cloud", orDash(st.Cloud),
		"node id", orDash(st.NodeID),
		"latest height", strconv.FormatInt(st.Height, 10),
		"latest block time", fmtTime(st.BlockTime),
		"app hash", orDash(st.AppHash),
		"catching up", strconv.FormatBool(st.CatchingUp),
		"version", orDash(st.Version),
		"trust", orDash(st.Trust),
	); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nvalidators (%d):\n", len(st.Validators))
	tw := newTable(w)
	fmt.Fprintln(tw, "  ADDRESS\tPOWER\tCLOUD")
	for _, v := range st.Validators {
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", v.Address, v.Power, orDash(v.Cloud))
	}
	return tw.Flush()
}

func printClouds(w io.Writer, cs []bbus.Cloud) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tVMS\tCPU USED/CAP\tMEM MIB USED/CAP\tDISK IOPS USED/CAP\tNET MBPS USED/CAP\tPOWER")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%d/%d\t%d/%d\t%d/%d\t%d\n", c.ID, orDash(c.Name), c.Status, c.HostedVMs,
			c.Allocated.CPU, c.Capacity.CPU, c.Allocated.MemMiB, c.Capacity.MemMiB,
			c.Allocated.DiskIOPS, c.Capacity.DiskIOPS, c.Allocated.NetMbps, c.Capacity.NetMbps, c.Power)
	}
	return tw.Flush()
}

func printCloud(w io.Writer, c *bbus.Cloud) error {
	val := "-"
	if c.ValidatorKey != nil {
		val = base64.StdEncoding.EncodeToString(c.ValidatorKey) + " (power " + strconv.FormatInt(c.Power, 10) + ")"
	}
	return fields(w,
		"id", c.ID,
		"name", orDash(c.Name),
		"status", c.Status,
		"api", orDash(c.API),
		"public key", base64.StdEncoding.EncodeToString(c.PubKey),
		"validator key", val,
		"allocated/capacity", fmtUse(c.Allocated, c.Capacity),
		"free", c.Free().String(),
		"hosted vms", strconv.FormatInt(c.HostedVMs, 10),
		"joined", fmtStamp(&c.Joined),
		"admitted", fmtStamp(c.Admitted),
		"removed", fmtStamp(c.Removed),
		"approvals", orDash(strings.Join(c.Approvals, ", ")),
		"removal votes", orDash(strings.Join(c.Removals, ", ")),
	)
}

func printVMs(w io.Writer, vms []bbus.VM) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tOWNER\tHOST\tSTATE\tCPU\tMEM MIB\tDISK IOPS\tNET MBPS\tOPEN MIGRATION\tREGISTERED")
	for _, vm := range vms {
		r := vm.Resources
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", vm.ID, vm.Owner, vm.Host, vm.State,
			r.CPU, r.MemMiB, r.DiskIOPS, r.NetMbps, orDash(vm.Migration), fmtTime(vm.Registered.At))
	}
	return tw.Flush()
}

func printVM(w io.Writer, vm *bbus.VM) error {
	return fields(w,
		"id", vm.ID,
		"owner", vm.Owner,
		"host", vm.Host,
		"state", vm.State,
		"resources", vm.Resources.String(),
		"image", orDash(vm.Image),
		"open migration", orDash(vm.Migration),
		"registered", fmtStamp(&vm.Registered),
		"terminated", fmtStamp(vm.Terminated),
		"hosting intervals", strconv.FormatInt(vm.Intervals, 10),
	)
}

func printHistory(w io.Writer, h *bbus.History) error {
	vm := &h.VM
	fmt.Fprintf(w, "VM %s (owner %s, %s, %s) now on %s\n\nhosting intervals:\n", vm.ID, vm.Owner, vm.State, vm.Resources, vm.Host)
	tw := newTable(w)
	fmt.Fprintln(tw, "  SEQ\tCLOUD\tSTART\tEND\tVIA MIGRATION\tAGREEMENT")
	for _, iv := range h.Intervals {
		end := "running"
		if iv.End != nil {
			end = fmtTime(iv.End.At)
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", iv.Seq, iv.Cloud, fmtTime(iv.Start.At), end, orDash(iv.Migration), orDash(iv.Agreement))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(h.Migrations) == 0 {
		fmt.Fprint(w, "\nno migrations\n")
		return nil
	}
	fmt.Fprint(w, "\nmigrations:\n")
	return migrationTable(w, h.Migrations, "  ")
}

func printInterval(w io.Writer, iv *bbus.Interval, at time.Time) error {
	end := "running"
	if iv.End != nil {
		end = fmtStamp(iv.End)
	}
	how := "registration"
	if iv.Migration != "" {
		how = "migration " + iv.Migration
	}
	return fields(w,
		"vm", iv.VM,
		"at", fmtTime(at),
		"host", iv.Cloud,
		"agreement", orDash(iv.Agreement),
		"interval", strconv.FormatInt(iv.Seq, 10),
		"started", fmtStamp(&iv.Start)+" by "+how,
		"ended", end,
	)
}

func printMigrations(w io.Writer, ms []bbus.Migration) error { return migrationTable(w, ms, "") }

func migrationTable(w io.Writer, ms []bbus.Migration, indent string) error {
	tw := newTable(w)
	fmt.Fprintln(tw, indent+"ID\tVM\tFROM\tTO\tSTATUS\tPROPOSED\tLAST CHANGE")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n", indent, m.ID, m.VM, m.From, m.To, m.Status, fmtTime(m.Proposed.At), fmtTime(lastChange(&m)))
	}
	return tw.Flush()
}

// lastChange is when the migration last changed status.
func lastChange(m *bbus.Migration) time.Time {
	for _, s := range []*bbus.Stamp{m.Ended, m.Completed, m.Accepted} {
		if s != nil {
			return s.At
		}
	}
	return m.Proposed.At
}

func printMigration(w io.Writer, m *bbus.Migration) error {
	return fields(w,
		"id", m.ID,
		"vm", m.VM,
		"from", m.From,
		"to", m.To,
		"status", m.Status,
		"resources", m.Resources.String(),
		"agreement", orDash(m.Agreement),
		"proposed", fmtStamp(&m.Proposed),
		"lapses at", fmtTime(m.LapsesAt),
		"accepted", fmtStamp(m.Accepted),
		"completed", fmtStamp(m.Completed),
		"ended", fmtStamp(m.Ended),
	)
}
