package ledger

import (
	"time"

	"github.com/bbusdev/bbus"
)

// part is the piece of a time window that one hosting interval covers, under
// the agreement in force there (nil if none).
type part struct {
	iv         bbus.Interval
	agreement  *bbus.Agreement
	agrSeq     uint64
	start, end time.Time
}

// hostedParts splits [start, end) by the VM's hosting intervals, and each piece
// further by the validity of the agreement it was hosted under. Pieces hosted
// under no agreement in force come back with agreement nil. open is the end
// used for an interval still running. It seeks to the interval in force at
// start and reads only the intervals that overlap the window.
func (c *ctx) hostedParts(vm string, start, end time.Time) []part {
	var out []part
	var n int64 = 1
	if rec := new(bbus.VM); getJSON(c.st, vmKey(vm), rec) {
		if iv, ok := intervalAt(c.st, vm, rec.Intervals, start); ok {
			n = iv.Seq
		}
	}
	var ivs []bbus.Interval
	c.st.Iterate([]byte("h/"+vm+"/"), intervalKey(vm, n), func(_, v []byte) bool {
		var iv bbus.Interval
		mustUnmarshal(v, &iv)
		if !iv.Start.At.Before(end) {
			return false // it and every later interval start after the window
		}
		ivs = append(ivs, iv)
		return true
	})
	for _, iv := range ivs {
		s, e := maxTime(iv.Start.At, start), end
		if iv.End != nil {
			e = minTime(e, iv.End.At)
		}
		if !s.Before(e) {
			continue
		}
		p := part{iv: iv, start: s, end: e}
		if seq, ok := parseSeqID("agr", iv.Agreement); ok {
			ag := new(bbus.Agreement)
			getJSON(c.st, seqKey("a/", seq), ag)
			p.start = maxTime(p.start, ag.Signed.At)
			if until := c.agreementEnd(ag); !until.IsZero() {
				p.end = minTime(p.end, until)
			}
			if !p.start.Before(p.end) {
				out = append(out, part{iv: iv, start: s, end: e})
				continue
			}
			p.agreement, p.agrSeq = ag, seq
		}
		out = append(out, p)
	}
	return out
}

func (c *ctx) report(a *bbus.ReportAction) error {
	vm, err := c.loadVM(a.VM)
	if err != nil {
		return err
	}
	// The window is compared as integers before it becomes a time.Time: a
	// second far outside the calendar would wrap around in time.Unix.
	switch {
	case afterTime(a.End, c.h.Time):
		return bbus.Errorf(bbus.EINVALID, "the window ends at %s, after the block time %s: only past windows can be reported", unixString(a.End), c.h.Time.Format(time.RFC3339))
	case beforeSecond(a.Start, vm.Registered.At):
		return bbus.Errorf(bbus.EINVALID, "the window starts at %s, before VM %s was registered at %s", unixString(a.Start), vm.ID, vm.Registered.At.Format(time.RFC3339Nano))
	case c.oracle.Admitted == nil || beforeSecond(a.Start, c.oracle.Admitted.At):
		return bbus.Errorf(bbus.EINVALID, "the window starts at %s, before oracle %s was admitted at %s: an oracle reports only what it measured as a member",
			unixString(a.Start), c.oracle.ID, admittedAt(c.oracle))
	}
	start, end := time.Unix(a.Start, 0).UTC(), time.Unix(a.End, 0).UTC()
	oracle := c.tx.Signer
	if seq, ok := overlapping(c.st, ownWindowPrefix(oracle, vm.ID), a.Start, a.End); ok {
		prev := new(bbus.Report)
		getJSON(c.st, seqKey("rp/", seq), prev)
		return bbus.Errorf(bbus.EEXISTS, "the window %s to %s of VM %s overlaps %s's window %s to %s, which %s reported: an oracle reports each second of a VM once",
			unixString(a.Start), unixString(a.End), vm.ID, prev.ID, prev.Start.Format(time.RFC3339), prev.End.Format(time.RFC3339), oracle)
	}
	w := &bbus.Window{VM: vm.ID, Start: start, End: end, Status: bbus.WindowOpen}
	getJSON(c.st, windowKey(vm.ID, a.Start, a.End), w)
	if len(w.Reports) >= MaxWindowReports {
		return bbus.Errorf(bbus.ESTATE, "the window %s of VM %s already holds %d reports, the most one window keeps", windowTimes(a.Start, a.End), vm.ID, MaxWindowReports)
	}
	seq := nextSeq(c.st, keyReportSeq)
	rep := &bbus.Report{ID: seqID("rep", seq), Oracle: oracle, VM: vm.ID, Start: start, End: end,
		Availability: a.Availability, LatencyMS: a.LatencyMS, Recorded: c.stamp}
	o := new(bbus.Oracle)
	getJSON(c.st, oracleKey(oracle), o)
	o.Reports++
	putJSON(c.st, oracleKey(oracle), o)
	w.Reports = append(w.Reports, bbus.WindowReport{Report: rep.ID, Oracle: oracle, Availability: a.Availability, LatencyMS: a.LatencyMS})
	switch w.Status {
	case bbus.WindowDecided:
		c.score(&w.Reports[len(w.Reports)-1], w) // late: scored, decides nothing
	case bbus.WindowOpen:
		if err := c.decide(w, vm, rep); err != nil {
			return err
		}
	}
	putJSON(c.st, windowKey(vm.ID, a.Start, a.End), w)
	putJSON(c.st, seqKey("rp/", seq), rep)
	c.st.Set(ownWindowKey(oracle, vm.ID, a.Start, a.End), uint64be(seq))
	c.id = rep.ID
	c.emit("report.recorded", "report", rep.ID, "vm", vm.ID, "oracle", rep.Oracle)
	return nil
}

// agreementEnd returns when an agreement stops binding (zero: open-ended): its
// until, or the removal of its provider or consumer if that came first. No
// hosting after a party's removal is billed under it and no report of a window
// after it attributes anything to it.
func (c *ctx) agreementEnd(ag *bbus.Agreement) time.Time {
	end := ag.Until
	for _, id := range []string{ag.Provider, ag.Consumer} {
		if cl := c.loadCloud(id); cl.Removed != nil && (end.IsZero() || cl.Removed.At.Before(end)) {
			end = cl.Removed.At
		}
	}
	return end
}

// admittedAt renders when an oracle was admitted.
func admittedAt(o *bbus.Oracle) string {
	if o.Admitted == nil {
		return "(never)"
	}
	return o.Admitted.At.Format(time.RFC3339Nano)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
