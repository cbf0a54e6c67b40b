package ledger

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strconv"
	"strings"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// The quorum of oracles (docs/CHARGING.md). Reports are grouped by VM and
// exact window [start, end); a window is decided when oracle_quorum reports of
// oracles still active are in it: the ledger combines them (the median) and
// checks the combined value, once, against the agreements in force. Reports of
// a decided window that come later are kept and scored against the combined
// value but decide nothing. A window that never reaches the quorum decides
// nothing, and costs nothing: no timer, no scan.
//
// Keys:
//
//	wg/<vm>/<start><end> -> bbus.Window: the window and every report of it
//	dw/<vm>/<end><start> -> deciding report seq: decided windows (they never overlap)
//	ro/<oracle>/<vm>/<end><start> -> report seq: an oracle's own windows (they never overlap)

// MaxWindowReports is the most reports one window keeps: each oracle reports a
// window once, so only a federation with more oracles than this meets it.
const MaxWindowReports = 2 * bbus.MaxOracleQuorum

func windowKey(vm string, start, end int64) []byte {
	return append(append([]byte("wg/"+vm+"/"), uint64be(uint64(start))...), uint64be(uint64(end))...)
}

func decidedKey(vm string, start, end int64) []byte {
	return append(append([]byte("dw/"+vm+"/"), uint64be(uint64(end))...), uint64be(uint64(start))...)
}

func ownWindowPrefix(oracle, vm string) []byte { return []byte("ro/" + oracle + "/" + vm + "/") }

func ownWindowKey(oracle, vm string, start, end int64) []byte {
	return append(append(ownWindowPrefix(oracle, vm), uint64be(uint64(end))...), uint64be(uint64(start))...)
}

// overlapping returns the seq stored under the first key of an end-then-start
// index of non-overlapping windows (prefix) whose window overlaps [start,
// end): ordered by end they are ordered by start too, so the first window
// ending after start is the only one that can overlap. One seek.
func overlapping(r kv.Reader, prefix []byte, start, end int64) (uint64, bool) {
	var seq uint64
	found := false
	r.Iterate(prefix, append(bytes.Clone(prefix), uint64be(uint64(start)+1)...), func(k, v []byte) bool {
		if int64(binary.BigEndian.Uint64(k[len(k)-8:])) < end {
			seq, found = binary.BigEndian.Uint64(v), true
		}
		return false
	})
	return seq, found
}

// lowerMedian returns the lower middle value of xs (which it sorts).
func lowerMedian(xs []int64) int64 {
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	return xs[(len(xs)-1)/2]
}

// upperMedian returns the upper middle value of xs (which it sorts).
func upperMedian(xs []int64) int64 {
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	return xs[len(xs)/2]
}

// combine returns the combined value of reports: the median availability and
// the median of the latencies reported (0 if none reported one). For an even
// count it takes, of the two middle values, the one less favourable to the
// host (the lower availability, the higher latency): half the reports can
// show a violation, more than half are needed to clear one.
func combine(reports []bbus.WindowReport) (avail, latency int64) {
	var av, lat []int64
	for _, r := range reports {
		av = append(av, r.Availability)
		if r.LatencyMS > 0 {
			lat = append(lat, r.LatencyMS)
		}
	}
	avail = lowerMedian(av)
	if len(lat) > 0 {
		latency = upperMedian(lat)
	}
	return avail, latency
}

// score records a report's verdict against its window's combined value on
// its oracle's counters (the caller stores nothing: score does).
func (c *ctx) score(wr *bbus.WindowReport, w *bbus.Window) {
	o := new(bbus.Oracle)
	if !getJSON(c.st, oracleKey(wr.Oracle), o) {
		panic("ledger: report " + wr.Report + " names a missing oracle " + wr.Oracle)
	}
	if bbus.Agrees(wr.Availability, wr.LatencyMS, w.Availability, w.LatencyMS) {
		wr.Verdict = "agree"
		o.Agreeing++
	} else {
		wr.Verdict = "disagree"
		o.Disagreeing++
	}
	o.ReputationBP = bbus.Reputation(o.Agreeing+o.Disagreeing, o.Agreeing)
	putJSON(c.st, oracleKey(o.ID), o)
}

// decide is called with a window that may have reached the quorum: if the
// reports of oracles still active number oracle_quorum, it combines them,
// records what the combined value means for the hosts (reputation and
// violations, attributed per hosting part), and scores each of those reports.
// rep is the report that arrived now (it records the violations).
func (c *ctx) decide(w *bbus.Window, vm *bbus.VM, rep *bbus.Report) error {
	q := Params(c.st).Quorum()
	var voters []int
	for i := range w.Reports {
		o := new(bbus.Oracle)
		if getJSON(c.st, oracleKey(w.Reports[i].Oracle), o) && o.Status == bbus.CloudActive {
			voters = append(voters, i)
		}
	}
	if int64(len(voters)) < q {
		return nil
	}
	start, end := w.Start.Unix(), w.End.Unix()
	if seq, ok := overlapping(c.st, []byte("dw/"+vm.ID+"/"), start, end); ok {
		w.Status, w.Overlaps = bbus.WindowOverlapped, seqID("rep", seq)
		c.emit("window.overlapped", "vm", vm.ID, "start", unixString(start), "end", unixString(end), "overlaps", w.Overlaps)
		return nil
	}
	var taking []bbus.WindowReport
	for i := range w.Reports {
		w.Reports[i].Verdict = "excluded" // its oracle was removed before the decision
	}
	for _, i := range voters {
		taking = append(taking, w.Reports[i])
	}
	stamp := c.stamp
	w.Status, w.Decided, w.Decider = bbus.WindowDecided, &stamp, rep.ID
	w.Availability, w.LatencyMS = combine(taking)
	for _, i := range voters {
		c.score(&w.Reports[i], w)
	}
	repSeq, _ := parseSeqID("rep", rep.ID)
	c.st.Set(decidedKey(vm.ID, start, end), uint64be(repSeq))
	c.emit("window.decided", "vm", vm.ID, "start", unixString(start), "end", unixString(end),
		"availability_mpct", strconv.FormatInt(w.Availability, 10), "reports", strconv.Itoa(len(voters)))
	if err := c.attribute(vm, rep, w); err != nil {
		return err
	}
	w.Violations = rep.Violations
	return nil
}

// attribute checks the window's combined value against the agreement in force
// for each part of the window hosted under one: each such part counts on its
// host's reputation, and a missed objective records a violation attributed to
// that host, with its penalty (added to the pair's open period).
func (c *ctx) attribute(vm *bbus.VM, rep *bbus.Report, w *bbus.Window) error {
	for _, p := range c.hostedParts(vm.ID, w.Start, w.End) {
		if p.agreement == nil {
			continue // hosted under no agreement: recorded, attributes nothing
		}
		ag := p.agreement
		host := c.loadCloud(p.iv.Cloud)
		host.Reports++
		missed := w.Availability < ag.Availability || ag.MaxLatencyMS > 0 && w.LatencyMS > ag.MaxLatencyMS
		if !missed {
			host.Compliant++
		}
		host.ReputationBP = bbus.Reputation(host.Reports, host.Compliant)
		putJSON(c.st, cloudKey(host.ID), host)
		if !missed {
			continue
		}
		charge, seconds, ok := LineCharge(p.start, p.end, vm.Resources, ag.PriceVCPUHour, ag.PriceGiBHour)
		if !ok {
			return bbus.Errorf(bbus.EINVALID, "the charge for this window does not fit in 64 bits")
		}
		vseq := nextSeq(c.st, keyViolationSeq)
		v := &bbus.Violation{
			ID: seqID("vio", vseq), VM: vm.ID, Cloud: host.ID, Consumer: ag.Consumer, Agreement: ag.ID, Report: rep.ID,
			Start: p.start, End: p.end, Seconds: seconds,
			Availability: w.Availability, Objective: ag.Availability, LatencyMS: w.LatencyMS, MaxLatencyMS: ag.MaxLatencyMS,
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
	return nil
}

// oracleRemove is a member's vote to remove an active oracle. Once it passes
// the oracle signs nothing more; its reports stay, and those in windows not
// decided yet no longer count toward their quorum.
func (c *ctx) oracleRemove(a *bbus.OracleRef) error {
	o := new(bbus.Oracle)
	if !getJSON(c.st, oracleKey(a.Oracle), o) {
		return bbus.Errorf(bbus.ENOTFOUND, "no oracle %s", a.Oracle)
	}
	if o.Status != bbus.CloudActive {
		return bbus.Errorf(bbus.ESTATE, "oracle %s is %s, only an active oracle can be removed", o.ID, o.Status)
	}
	c.id = o.ID
	passed, err := c.vote(&o.Removals, "remove oracle "+o.ID, "", "oracle.removal_vote", "oracle", o.ID)
	if err != nil {
		return err
	}
	if passed {
		o.Status = bbus.CloudRemoved
		stamp := c.stamp
		o.Removed = &stamp
		c.emit("oracle.removed", "oracle", o.ID)
	}
	putJSON(c.st, oracleKey(o.ID), o)
	return nil
}

// Windows lists a VM's reported windows in the order they start, from the
// first starting at or after since (Unix seconds), with every report of each
// and its combined value; the cursor is "<start>-<end>" of a page's last.
func Windows(r kv.Reader, vm string, since int64, p bbus.Page) ([]bbus.Window, string, error) {
	if _, err := VM(r, vm); err != nil {
		return nil, "", err
	}
	prefix := []byte("wg/" + vm + "/")
	from := append(bytes.Clone(prefix), uint64be(uint64(max(since, 0)))...)
	if p.After != "" {
		s, e, ok := strings.Cut(p.After, "-")
		si, serr := strconv.ParseInt(s, 10, 64)
		ei, eerr := strconv.ParseInt(e, 10, 64)
		if !ok || serr != nil || eerr != nil || si < 0 || ei < 0 {
			return nil, "", bbus.Errorf(bbus.EINVALID, "after %q is not a cursor of windows (START-END in Unix seconds)", clipID(p.After))
		}
		if k := append(windowKey(vm, si, ei), 0); bytes.Compare(k, from) > 0 {
			from = k
		}
	}
	out := []bbus.Window{}
	next := ""
	r.Iterate(prefix, from, func(_, v []byte) bool {
		if len(out) == pageLimit(p) {
			last := out[len(out)-1]
			next = strconv.FormatInt(last.Start.Unix(), 10) + "-" + strconv.FormatInt(last.End.Unix(), 10)
			return false
		}
		var w bbus.Window
		mustUnmarshal(v, &w)
		out = append(out, w)
		return true
	})
	return out, next, nil
}

// OracleReputations returns every active or removed oracle's standing, best
// first, ties by id.
func OracleReputations(r kv.Reader) []bbus.OracleStanding {
	out := []bbus.OracleStanding{}
	r.Iterate(prefixOracle, nil, func(_, v []byte) bool {
		var o bbus.Oracle
		mustUnmarshal(v, &o)
		if o.Status != bbus.CloudPending {
			out = append(out, bbus.OracleStanding{Oracle: o.ID, Status: o.Status, ReputationBP: o.ReputationBP, Reports: o.Reports,
				Agreeing: o.Agreeing, Disagreeing: o.Disagreeing})
		}
		return true
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].ReputationBP > out[j].ReputationBP })
	return out
}

// windowTimes renders a window for messages.
func windowTimes(start, end int64) string { return unixString(start) + " to " + unixString(end) }
