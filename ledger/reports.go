package ledger

import (
	"bytes"
	"encoding/binary"
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
	if prev := c.overlappingReport(vm.ID, a.Start, a.End); prev != nil {
		return bbus.Errorf(bbus.EEXISTS, "the window %s to %s of VM %s overlaps %s's window %s to %s: each second of a VM is reported once",
			unixString(a.Start), unixString(a.End), vm.ID, prev.ID, prev.Start.Format(time.RFC3339), prev.End.Format(time.RFC3339))
	}
	seq := nextSeq(c.st, keyReportSeq)
	rep := &bbus.Report{ID: seqID("rep", seq), Oracle: c.tx.Signer, VM: vm.ID, Start: start, End: end,
		Availability: a.Availability, LatencyMS: a.LatencyMS, Recorded: c.stamp}
	for _, p := range c.hostedParts(vm.ID, start, end) {
		if p.agreement == nil {
			continue // hosted under no agreement: recorded, attributes nothing
		}
		ag := p.agreement
		host := c.loadCloud(p.iv.Cloud)
		host.Reports++
		missed := a.Availability < ag.Availability || ag.MaxLatencyMS > 0 && a.LatencyMS > ag.MaxLatencyMS
		if !missed {
			host.Compliant++
		}
		host.ReputationBP = bbus.Reputation(host.Reports, host.Compliant)
		putJSON(c.st, cloudKey(host.ID), host)
		if !missed {
			continue
		}
		nanos, ok := spanNanos(p.start, p.end)
		charge, fits := bbus.Charge(nanos, vm.Resources, ag.PriceVCPUHour, ag.PriceGiBHour)
		if !ok || !fits {
			return bbus.Errorf(bbus.EINVALID, "the charge for this window does not fit in 64 bits")
		}
		vseq := nextSeq(c.st, keyViolationSeq)
		v := &bbus.Violation{
			ID: seqID("vio", vseq), VM: vm.ID, Cloud: host.ID, Consumer: ag.Consumer, Agreement: ag.ID, Report: rep.ID,
			Start: p.start, End: p.end, Seconds: nanos / 1_000_000_000,
			Availability: a.Availability, Objective: ag.Availability, LatencyMS: a.LatencyMS, MaxLatencyMS: ag.MaxLatencyMS,
			Charge: charge, Penalty: bbus.Share(charge, ag.PenaltyPct), Recorded: c.stamp,
		}
		putJSON(c.st, seqKey("vi/", vseq), v)
		c.st.Set(seqKey("viv/"+vm.ID+"/", vseq), []byte{})
		c.st.Set(seqKey("vic/"+host.ID+"/", vseq), []byte{})
		c.st.Set(seqKey("vib/"+host.ID+"/"+ag.Consumer+"/", vseq), []byte{})
		c.accruePenalty(v, vseq)
		rep.Violations = append(rep.Violations, v.ID)
		c.emit("sla.violation", "violation", v.ID, "vm", vm.ID, "cloud", host.ID, "agreement", ag.ID)
	}
	putJSON(c.st, seqKey("rp/", seq), rep)
	c.st.Set(reportWindowKey(vm.ID, a.End, a.Start), uint64be(seq))
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

// reportWindowKey indexes a VM's reported windows by end, then start.
func reportWindowKey(vm string, end, start int64) []byte {
	return append(append([]byte("rw/"+vm+"/"), uint64be(uint64(end))...), uint64be(uint64(start))...)
}

// overlappingReport returns an earlier report of the VM whose window overlaps
// [start, end), or nil. Recorded windows never overlap one another, so ordered
// by end they are ordered by start too: the first window ending after start is
// the only one that can overlap.
func (c *ctx) overlappingReport(vm string, start, end int64) *bbus.Report {
	var found *bbus.Report
	prefix := []byte("rw/" + vm + "/")
	c.st.Iterate(prefix, append(bytes.Clone(prefix), uint64be(uint64(start)+1)...), func(k, v []byte) bool {
		if int64(binary.BigEndian.Uint64(k[len(k)-8:])) < end {
			found = new(bbus.Report)
			getJSON(c.st, seqKey("rp/", binary.BigEndian.Uint64(v)), found)
		}
		return false
	})
	return found
}
