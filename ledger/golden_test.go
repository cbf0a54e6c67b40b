package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// Golden transaction scripts: testdata/*.txt hold sequences of commands, each
// followed by "----" and the output it must produce, then a blank line, in
// the format of github.com/cockroachdb/datadriven (what etcd's raft tests use),
// which reads them, compares and rewrites:
//
//	# comment
//	tx signer=a register vm=vm1 cpu=2 mem=4096
//	----
//	#1 ok vm_register id=vm1
//	  event vm.registered vm=vm1 cloud=a
//
// `go test ./ledger -run TestGolden -rewrite` (datadriven's flag) writes the
// outputs the ledger produces now in place of the expected ones and, in the
// same run, the pinned states testdata/state/*.state (checkStateBytes); read
// the diff before committing it. A command's arguments are parsed by
// datadriven (KEY=VALUE or bare words; a value that starts with "(" is a list)
// and handed to the runner as one line.
//
// Commands:
//
//	genesis clouds=a,b,c [cpu=N mem=N disk=N net=N] [<id>.cpu=N ...] [lapse=SECONDS ttl=SECONDS joinpower=N]
//	        [require_agreement=true] [proposal_ttl=SECONDS] [quorum=N]
//	    founding clouds (validators of power 10), all with the given capacity
//	    unless <id>.<resource> overrides it; genesis is at 2025-01-01T00:00:00Z
//	block time=+DURATION
//	    ends the current block (printing EndBlock's validator updates) and begins
//	    the next, DURATION after the previous block (printing BeginBlock's events)
//	tx signer=ID [chain=ID] [key=ID] [expires=±DURATION] [nonce=N] ACTION ARGS...
//	    signs and applies a transaction, numbered #1, #2, ... in script order.
//	    chain= names another chain, key= signs with another cloud's key (a bad
//	    signature), expires= is relative to the block time (default +10m), nonce
//	    defaults to the transaction's number. ACTION ARGS is one of
//	      join [name=S] [cpu=N mem=N disk=N net=N] [validator | valkey=ID] [api=S]
//	        (validator names the signer's own validator key, valkey= another cloud's)
//	      approve cloud=ID | remove cloud=ID
//	      register vm=ID cpu=N mem=N [disk=N net=N image=S] | terminate vm=ID
//	      propose vm=ID to=ID [agreement=S]
//	      accept|complete|reject|cancel mig=ID
//	      offer_publish [cpu=N mem=N disk=N net=N] [vcpu=AMOUNT gib=AMOUNT] [tags=K=V,K=V]
//	      agreement_propose provider=ID consumer=ID vcpu=AMOUNT [gib=AMOUNT] avail=PCT
//	        [latency=MS] penalty=PCT [until=TIME]
//	      agreement_sign agr=ID | agreement_decline agr=ID [reason=WORD]
//	      oracle_join [name=S] | oracle_approve oracle=ID | oracle_remove oracle=ID
//	      report vm=ID start=TIME end=TIME avail=PCT [latency=MS]
//	      invoice_close [provider=ID] consumer=ID until=TIME   (provider defaults to the signer)
//	      invoice_accept inv=ID | invoice_dispute inv=ID [reason=WORD]
//	    AMOUNT is a decimal number of credits (0.36 is 360000 micro-credits), PCT a
//	    decimal percentage (99.5 is 99500 thousandths); both may be negative or out
//	    of range, to test what the ledger does with them. TIME is +DURATION or
//	    -DURATION from genesis, or unix:N (Unix seconds).
//	replay N
//	    submits the exact bytes of transaction #N again
//	query cloud ID | clouds | vm ID | vms | history ID | host ID at=+DURATION |
//	      migration ID | migrations [vm=ID] [cloud=ID] [status=S] |
//	      agreement ID | agreements [cloud=ID] [status=S] | oracles | report ID |
//	      violations [cloud=ID] [vm=ID] | invoice ID | invoices [cloud=ID] |
//	      reputation | windows VM | offers | match cpu=N mem=N [disk=N net=N] [max=AMOUNT] [tags=K=V,...] [exclude=ID]
//	    prints state: JSON for one record, one line per record for lists
//	    (clouds: allocated/capacity per resource). host's at= is relative to genesis.
//	    An invoice prints as one line for the invoice, one per invoice line and
//	    one for the totals, amounts in micro-credits.
//
// In outputs, transaction ids read tx#N, keys pubkey(ID) and valkey(ID), and
// in the one-line forms times read +DURATION from genesis and stamps tx#N@HEIGHT.
// After every rejected transaction the runner checks that the store holds the same
// bytes as before, and after every command that the ledger's invariants hold
// (checkInvariants, with checkMarketInvariants: the sums of every invoice, no
// hosting second billed twice, each penalty in one invoice, reputations).

// rewriting reports whether the test runs with -rewrite: datadriven's flag,
// which also makes checkStateBytes write the pinned states.
func rewriting() bool {
	f := flag.Lookup("rewrite")
	return f != nil && f.Value.String() == "true"
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden scripts in testdata/")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

// runScript runs the script file with datadriven (which compares or, with
// -rewrite, rewrites each command's output), then pins the state it left.
func runScript(t *testing.T, file string) {
	r := &scriptRunner{t: t, l: newTestLedger(), st: kv.NewMem(), names: map[string]string{}}
	datadriven.RunTest(t, file, func(t *testing.T, d *datadriven.TestData) string {
		if d.Input != "" {
			t.Fatalf("%s: a command of these scripts takes no input lines", d.Pos)
		}
		words := []string{d.Cmd}
		for _, a := range d.CmdArgs {
			words = append(words, a.String())
		}
		r.pos = d.Pos
		out := r.run(strings.Join(words, " "))
		if len(out) == 0 {
			return ""
		}
		return strings.Join(out, "\n") + "\n"
	})
	checkStateBytes(t, file, r.st)
}

// checkStateBytes pins the consensus bytes a script leaves: every key and
// value of the state, and the SHA-256 of them all, in testdata/state/NAME.state
// beside the script. Any change to how a record encodes (a field reordered,
// renamed or made omitempty, a time in another zone) fails here, even when
// every output of the script stays the same: validators on the old and the new
// encoding would compute different app hashes. -rewrite accepts a deliberate
// change, which then needs a new chain.AppVersion.
func checkStateBytes(t *testing.T, script string, st kv.Reader) {
	t.Helper()
	var b strings.Builder
	st.Iterate(nil, nil, func(k, v []byte) bool {
		fmt.Fprintf(&b, "%q = %q\n", k, v)
		return true
	})
	fmt.Fprintf(&b, "state sha256 %x\n", sha256.Sum256(dumpStore(st)))
	file := filepath.Join("testdata", "state", strings.TrimSuffix(filepath.Base(script), ".txt")+".state")
	if rewriting() {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%s: %v (go test ./ledger -run TestGolden -rewrite writes it)", script, err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Errorf("%s: the state's bytes changed (%s line %d):\nwant %s\ngot  %s", script, file, i+1, wl[i], gl[i])
				return
			}
		}
		t.Errorf("%s: the state's bytes changed (%s: %d lines, want %d)", script, file, len(gl), len(wl))
	}
}

// scriptRunner holds the state of one script as it runs.
type scriptRunner struct {
	t      *testing.T
	pos    string // file:line of the command running
	l      *Ledger
	st     *kv.Mem
	params bbus.Params
	h      Header // the current block; height 0 before the first
	txs    [][]byte
	names  map[string]string // text in outputs -> what to print instead
	repl   *strings.Replacer
}

func (r *scriptRunner) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s: %s", r.pos, fmt.Sprintf(format, args...))
}

// name makes outputs print short instead of long.
func (r *scriptRunner) name(long, short string) {
	r.names[long] = short
	r.repl = nil
}

func (r *scriptRunner) nameCloud(id string) {
	r.name(base64.StdEncoding.EncodeToString(testPub(id)), "pubkey("+id+")")
	r.name(base64.StdEncoding.EncodeToString(testValKey(id)), "valkey("+id+")")
}

func (r *scriptRunner) shorten(s string) string {
	if r.repl == nil {
		var pairs []string
		longs := make([]string, 0, len(r.names))
		for k := range r.names {
			longs = append(longs, k)
		}
		sort.Strings(longs)
		for _, k := range longs {
			pairs = append(pairs, k, r.names[k])
		}
		r.repl = strings.NewReplacer(pairs...)
	}
	return r.repl.Replace(s)
}

// args are a command's words: key=value pairs and bare words.
type args struct {
	r     *scriptRunner
	words []string
	kv    map[string]string
	used  map[string]bool
}

func (r *scriptRunner) parseArgs(fields []string) *args {
	a := &args{r: r, kv: map[string]string{}, used: map[string]bool{}}
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			if _, dup := a.kv[k]; dup {
				r.fatalf("argument %s given twice", k)
			}
			a.kv[k] = v
		} else {
			a.words = append(a.words, f)
		}
	}
	return a
}

func (a *args) str(key, def string) string {
	a.used[key] = true
	if v, ok := a.kv[key]; ok {
		return v
	}
	return def
}

func (a *args) need(key string) string {
	if _, ok := a.kv[key]; !ok {
		a.r.fatalf("missing argument %s=", key)
	}
	return a.str(key, "")
}

func (a *args) int(key string, def int64) int64 {
	s := a.str(key, "")
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		a.r.fatalf("argument %s=%s: %v", key, s, err)
	}
	return n
}

// dur parses "+10s" or "-1s".
func (a *args) dur(key string, def time.Duration) time.Duration {
	s := a.str(key, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		a.r.fatalf("argument %s=%s: %v", key, s, err)
	}
	return d
}

// fixed parses a decimal with at most places decimal places ("0.36", "-1",
// "99.5") into an integer of 10^-places units. Unlike bbus.ParseAmount it takes
// negative and out-of-range values, so that scripts can show what the ledger
// does with them.
func (a *args) fixed(key string, places int, def int64) int64 {
	s := a.str(key, "")
	if s == "" {
		return def
	}
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) > places {
		a.r.fatalf("argument %s=%s: more than %d decimal places", key, s, places)
	}
	n, err := strconv.ParseInt(whole+frac+strings.Repeat("0", places-len(frac)), 10, 64)
	if err != nil || whole == "" {
		a.r.fatalf("argument %s=%s: not a decimal", key, s)
	}
	if neg {
		n = -n
	}
	return n
}

// unix parses a TIME: +DURATION or -DURATION from genesis, or unix:N, into Unix seconds.
func (a *args) unix(key string, def int64) int64 {
	s := a.str(key, "")
	if s == "" {
		return def
	}
	if n, ok := strings.CutPrefix(s, "unix:"); ok {
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			a.r.fatalf("argument %s=%s: %v", key, s, err)
		}
		return v
	}
	d, err := time.ParseDuration(s)
	if err != nil || (s[0] != '+' && s[0] != '-') {
		a.r.fatalf("argument %s=%s: want +DURATION, -DURATION or unix:N", key, s)
	}
	return testGenesisTime.Add(d).Unix()
}

// tags parses K=V,K=V in the order given.
func (a *args) tags(key string) []bbus.Tag {
	s := a.str(key, "")
	if s == "" {
		return nil
	}
	var out []bbus.Tag
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			a.r.fatalf("argument %s=%s: want K=V,K=V", key, s)
		}
		out = append(out, bbus.Tag{Key: k, Value: v})
	}
	return out
}

func (a *args) res(prefix string, def bbus.Resources) bbus.Resources {
	return bbus.Resources{
		CPU: a.int(prefix+"cpu", def.CPU), MemMiB: a.int(prefix+"mem", def.MemMiB),
		DiskIOPS: a.int(prefix+"disk", def.DiskIOPS), NetMbps: a.int(prefix+"net", def.NetMbps),
	}
}

// done fails on arguments no one read, so that a typo cannot pass unnoticed.
func (a *args) done(words int) {
	for k := range a.kv {
		if !a.used[k] {
			a.r.fatalf("unknown argument %s=", k)
		}
	}
	if len(a.words) > words {
		a.r.fatalf("unexpected words %v", a.words[words:])
	}
}

func (r *scriptRunner) run(cmd string) []string {
	fields := strings.Fields(cmd)
	a := r.parseArgs(fields[1:])
	var out []string
	switch fields[0] {
	case "genesis":
		out = r.genesis(a)
	case "block":
		out = r.block(a)
	case "tx":
		out = r.tx(a)
	case "replay":
		out = r.replay(a)
	case "query":
		out = r.query(a)
	default:
		r.fatalf("unknown command %q", fields[0])
	}
	if r.h.Time.IsZero() {
		return out
	}
	if bad := checkInvariants(r.st, r.h.Time); len(bad) > 0 {
		r.t.Errorf("%s: %s: the ledger breaks its invariants:\n  %s", r.pos, cmd, strings.Join(bad, "\n  "))
	}
	return out
}

func (r *scriptRunner) genesis(a *args) []string {
	ids := strings.Split(a.need("clouds"), ",")
	def := a.res("", bbus.Resources{})
	p := bbus.DefaultParams()
	p.MigrationLapseSeconds = a.int("lapse", p.MigrationLapseSeconds)
	p.TxMaxTTLSeconds = a.int("ttl", p.TxMaxTTLSeconds)
	p.JoinPower = a.int("joinpower", p.JoinPower)
	p.InvitationTTLSeconds = a.int("invitettl", p.InvitationTTLSeconds)
	p.ApplicationTTLSeconds = a.int("appttl", p.ApplicationTTLSeconds)
	p.AgreementProposalTTLSeconds = a.int("proposal_ttl", p.AgreementProposalTTLSeconds)
	p.OracleQuorum = a.int("quorum", p.OracleQuorum)
	switch v := a.str("require_agreement", "false"); v {
	case "true":
		p.RequireAgreement = true
	case "false":
	default:
		r.fatalf("require_agreement=%s: true or false", v)
	}
	caps := map[string]bbus.Resources{}
	for _, id := range ids {
		caps[id] = a.res(id+".", def)
		r.nameCloud(id)
	}
	nodes := a.str("nodes", "false") == "true"
	a.done(0)
	g := testGenesis(ids, func(id string) bbus.Resources { return caps[id] }, p)
	for i := range g.Clouds {
		if nodes {
			g.Clouds[i].NodeID, g.Clouds[i].P2PAddress = testNodeID(g.Clouds[i].ID), g.Clouds[i].ID+".example:26656"
		}
	}
	if err := r.l.InitGenesis(r.st, testChainID, g, testGenesisTime); err != nil {
		return []string{"error " + err.Error()}
	}
	r.params = p
	r.h = Header{Height: 0, Time: testGenesisTime}
	out := []string{fmt.Sprintf("chain %s at %s; approval > %d/%d, lapse %ds, tx ttl %ds, join power %d",
		ChainID(r.st), testGenesisTime.Format(time.RFC3339), p.ApprovalNum, p.ApprovalDen, p.MigrationLapseSeconds, p.TxMaxTTLSeconds, p.JoinPower)}
	if p.RequireAgreement {
		out[0] += ", agreements required"
	}
	if d := bbus.DefaultParams(); p.InvitationTTLSeconds != d.InvitationTTLSeconds || p.ApplicationTTLSeconds != d.ApplicationTTLSeconds {
		out[0] += fmt.Sprintf(", invitations last %ds, applications %ds", p.InvitationTTLSeconds, p.ApplicationTTLSeconds)
	}
	if p.OracleQuorum != 1 {
		out[0] += fmt.Sprintf(", oracle quorum %d", p.OracleQuorum)
	}
	if p.AgreementProposalTTLSeconds != bbus.DefaultAgreementProposalTTLSeconds {
		out[0] += fmt.Sprintf(", agreement proposals expire after %ds", p.AgreementProposalTTLSeconds)
	}
	return append(out, r.cloudLines()...)
}

func (r *scriptRunner) block(a *args) []string {
	d := a.dur("time", 0)
	a.done(0)
	if r.h.Time.IsZero() {
		r.fatalf("block before genesis")
	}
	if d <= 0 {
		r.fatalf("block time must advance")
	}
	var out []string
	if r.h.Height > 0 {
		out = append(out, r.endBlock())
	}
	r.h = Header{Height: r.h.Height + 1, Time: r.h.Time.Add(d)}
	events := r.l.BeginBlock(r.st, r.h)
	out = append(out, fmt.Sprintf("block %d at %s (genesis+%s)", r.h.Height, r.h.Time.Format(time.RFC3339), r.h.Time.Sub(testGenesisTime)))
	return append(out, r.eventLines(events)...)
}

func (r *scriptRunner) endBlock() string {
	ups := r.l.EndBlock(r.st)
	if len(ups) == 0 {
		return fmt.Sprintf("end block %d: no validator updates", r.h.Height)
	}
	var parts []string
	for _, u := range ups {
		who := "unknown key " + base64.StdEncoding.EncodeToString(u.PubKey)
		for _, c := range allClouds(r.st) {
			if bytes.Equal(c.ValidatorKey, u.PubKey) {
				who = "valkey(" + c.ID + ")"
			}
		}
		parts = append(parts, fmt.Sprintf("%s power=%d", who, u.Power))
	}
	return fmt.Sprintf("end block %d: validator updates: %s", r.h.Height, strings.Join(parts, ", "))
}

func (r *scriptRunner) eventLines(events []Event) []string {
	var out []string
	for _, e := range events {
		l := "  event " + e.Type
		for _, at := range e.Attrs {
			l += " " + at.Key + "=" + at.Value
		}
		out = append(out, l)
	}
	return out
}

func (r *scriptRunner) tx(a *args) []string {
	if r.h.Height == 0 {
		r.fatalf("tx before the first block")
	}
	n := len(r.txs) + 1
	signer := a.need("signer")
	s := txSpec{
		chain:   a.str("chain", testChainID),
		signer:  signer,
		nonce:   uint64(a.int("nonce", int64(n))),
		expires: r.h.Time.Add(a.dur("expires", 10*time.Minute)).Unix(),
	}
	if k := a.str("key", ""); k != "" {
		s.key = testKey(k)
	}
	if len(a.words) == 0 {
		r.fatalf("tx needs an action")
	}
	words := 1
	switch act := a.words[0]; act {
	case "join":
		cj := &bbus.CloudJoin{Name: a.str("name", "cloud "+signer), PubKey: testPub(a.str("pubkey", signer)), API: a.str("api", ""),
			Resources: a.res("", bbus.Resources{})}
		if len(a.words) > 1 && a.words[1] == "validator" {
			cj.ValidatorKey = testValKey(signer)
			words = 2
		}
		if v := a.str("valkey", ""); v != "" {
			cj.ValidatorKey = testValKey(v)
		}
		cj.NodeID, cj.P2PAddress = testNodeID(a.str("node", "")), a.str("p2p", "")
		r.nameCloud(signer)
		s.action.CloudJoin = cj
	case "invite":
		ci := &bbus.CloudInvite{Cloud: a.need("cloud")}
		ci.PubKey = testPub(a.str("pubkey", ci.Cloud))
		if len(a.words) > 1 && a.words[1] == "validator" {
			ci.ValidatorKey = testValKey(ci.Cloud)
			words = 2
		}
		if v := a.str("valkey", ""); v != "" {
			ci.ValidatorKey = testValKey(v)
		}
		ci.NodeID = testNodeID(a.str("node", ""))
		r.nameCloud(ci.Cloud)
		s.action.CloudInvite = ci
	case "oracle_invite":
		oi := &bbus.OracleInvite{Oracle: a.need("oracle")}
		oi.PubKey = testPub(a.str("pubkey", oi.Oracle))
		r.nameCloud(oi.Oracle)
		s.action.OracleInvite = oi
	case "approve":
		id := a.need("cloud")
		s.action.CloudApprove = &bbus.CloudApprove{Cloud: id, PubKey: testPub(a.str("pubkey", id))}
	case "remove":
		s.action.CloudRemove = &bbus.CloudRef{Cloud: a.need("cloud")}
	case "register":
		s.action.VMRegister = &bbus.VMRegister{VM: a.need("vm"), Image: a.str("image", ""), Resources: a.res("", bbus.Resources{})}
	case "terminate":
		s.action.VMTerminate = &bbus.VMRef{VM: a.need("vm")}
	case "propose":
		s.action.MigrationPropose = &bbus.Propose{VM: a.need("vm"), To: a.need("to"), Agreement: a.str("agreement", "")}
	case "accept":
		s.action.MigrationAccept = &bbus.MigrationRef{Migration: a.need("mig")}
	case "complete":
		s.action.MigrationComplete = &bbus.MigrationRef{Migration: a.need("mig")}
	case "reject":
		s.action.MigrationReject = &bbus.MigrationRef{Migration: a.need("mig")}
	case "cancel":
		s.action.MigrationCancel = &bbus.MigrationRef{Migration: a.need("mig")}
	case "offer_publish":
		s.action.OfferPublish = &bbus.OfferPublish{Resources: a.res("", bbus.Resources{}),
			PriceVCPUHour: a.fixed("vcpu", 6, 0), PriceGiBHour: a.fixed("gib", 6, 0), Tags: a.tags("tags")}
	case "agreement_propose":
		s.action.AgreementPropose = &bbus.AgreementPropose{Provider: a.need("provider"), Consumer: a.need("consumer"),
			PriceVCPUHour: a.fixed("vcpu", 6, 0), PriceGiBHour: a.fixed("gib", 6, 0), Availability: a.fixed("avail", 3, 0),
			MaxLatencyMS: a.int("latency", 0), PenaltyPct: a.fixed("penalty", 3, 0), Until: a.unix("until", 0)}
	case "agreement_sign":
		s.action.AgreementSign = &bbus.AgreementRef{Agreement: a.need("agr")}
	case "agreement_decline":
		s.action.AgreementDecline = &bbus.AgreementDecline{Agreement: a.need("agr"), Reason: a.str("reason", "")}
	case "oracle_join":
		s.action.OracleJoin = &bbus.OracleJoin{Name: a.str("name", "oracle "+signer), PubKey: testPub(a.str("pubkey", signer))}
		r.nameCloud(signer)
	case "oracle_approve":
		id := a.need("oracle")
		s.action.OracleApprove = &bbus.OracleApprove{Oracle: id, PubKey: testPub(a.str("pubkey", id))}
	case "report":
		a.need("start")
		a.need("end")
		s.action.Report = &bbus.ReportAction{VM: a.need("vm"), Start: a.unix("start", 0), End: a.unix("end", 0),
			Availability: a.fixed("avail", 3, 0), LatencyMS: a.int("latency", 0)}
	case "invoice_close":
		a.need("until")
		s.action.InvoiceClose = &bbus.InvoiceClose{Provider: a.str("provider", signer), Consumer: a.need("consumer"), Until: a.unix("until", 0)}
	case "invoice_accept":
		s.action.InvoiceAccept = &bbus.InvoiceRef{Invoice: a.need("inv")}
	case "invoice_dispute":
		s.action.InvoiceDispute = &bbus.InvoiceDispute{Invoice: a.need("inv"), Reason: a.str("reason", "")}
	case "update":
		s.action.CloudUpdate = &bbus.CloudUpdate{P2PAddress: a.str("p2p", "")}
	case "observer_invite":
		s.action.ObserverInvite = &bbus.ObserverInvite{Observer: a.need("observer"), NodeID: testNodeID(a.need("node"))}
	case "observer_approve":
		s.action.ObserverApprove = &bbus.ObserverApprove{Observer: a.need("observer"), NodeID: testNodeID(a.need("node"))}
	case "observer_remove":
		s.action.ObserverRemove = &bbus.ObserverRef{Observer: a.need("observer")}
	case "oracle_remove":
		s.action.OracleRemove = &bbus.OracleRef{Oracle: a.need("oracle")}
	default:
		r.fatalf("unknown action %q", act)
	}
	a.done(words)
	raw := s.sign()
	r.txs = append(r.txs, raw)
	tx, err := bbus.DecodeTx(raw)
	if err != nil {
		r.fatalf("decode what was signed: %v", err)
	}
	r.name(tx.ID, "tx#"+strconv.Itoa(n))
	return r.apply(fmt.Sprintf("#%d", n), raw)
}

func (r *scriptRunner) replay(a *args) []string {
	if len(a.words) != 1 {
		r.fatalf("replay N")
	}
	n, err := strconv.Atoi(a.words[0])
	if err != nil || n < 1 || n > len(r.txs) {
		r.fatalf("replay %s: no such transaction", a.words[0])
	}
	a.done(1)
	return r.apply(fmt.Sprintf("#%d again", n), r.txs[n-1])
}

// apply applies raw in the current block and checks that a rejection changed nothing.
func (r *scriptRunner) apply(label string, raw []byte) []string {
	before := dumpStore(r.st)
	res := r.l.Apply(r.st, r.h, raw)
	after := dumpStore(r.st)
	if !res.OK() {
		if !bytes.Equal(before, after) {
			r.t.Errorf("%s: rejected transaction %s changed the state at %s", r.pos, label, firstDiff(before, after))
		}
		return []string{r.shorten(fmt.Sprintf("%s rejected %s: %s", label, res.Code, res.Message))}
	}
	if bytes.Equal(before, after) {
		r.t.Errorf("%s: applied transaction %s changed nothing", r.pos, label)
	}
	out := []string{fmt.Sprintf("%s ok %s id=%s", label, res.Type, res.ID)}
	for _, l := range r.eventLines(res.Events) {
		out = append(out, r.shorten(l))
	}
	return out
}

func (r *scriptRunner) query(a *args) []string {
	if len(a.words) == 0 {
		r.fatalf("query what?")
	}
	id := func() string {
		if len(a.words) < 2 {
			r.fatalf("query %s needs an id", a.words[0])
		}
		return a.words[1]
	}
	var v any
	var err error
	words := 2
	switch a.words[0] {
	case "cloud":
		v, err = Cloud(r.st, id())
	case "clouds":
		a.done(1)
		return r.cloudLines()
	case "vm":
		v, err = VM(r.st, id())
	case "vms":
		a.done(1)
		var out []string
		for _, vm := range allVMs(r.st) {
			l := fmt.Sprintf("%s %s owner=%s host=%s cpu=%d mem=%d intervals=%d", vm.ID, vm.State, vm.Owner, vm.Host, vm.Resources.CPU, vm.Resources.MemMiB, vm.Intervals)
			if vm.Migration != "" {
				l += " open_migration=" + vm.Migration
			}
			out = append(out, l)
		}
		return out
	case "history":
		v, err = VMHistory(r.st, id())
	case "host":
		v, err = HostAt(r.st, id(), testGenesisTime.Add(a.dur("at", 0)))
	case "migration":
		v, err = Migration(r.st, id())
	case "migrations":
		f := bbus.MigrationFilter{VM: a.str("vm", ""), Cloud: a.str("cloud", ""), Status: a.str("status", "")}
		a.done(1)
		var out []string
		for _, m := range allMigrations(r.st, f) {
			out = append(out, fmt.Sprintf("%s vm=%s %s -> %s %s", m.ID, m.VM, m.From, m.To, m.Status))
		}
		if len(out) == 0 {
			out = []string{"(none)"}
		}
		return out
	case "node":
		a.done(2)
		ok, who := NodeAllowed(r.st, testNodeID(id()), r.h.Height)
		return []string{fmt.Sprintf("node %s allowed=%v (%s)", id(), ok, r.shorten(who))}
	case "observer":
		v, err = Observer(r.st, id())
	case "agreement":
		v, err = Agreement(r.st, id())
	case "report":
		v, err = Report(r.st, id())
	case "agreements", "oracles", "violations", "invoice", "invoices", "reputation", "offers", "match", "windows":
		return r.marketQuery(a)
	default:
		r.fatalf("unknown query %q", a.words[0])
	}
	a.done(words)
	if err != nil {
		return []string{r.shorten(fmt.Sprintf("%s: %s", bbus.ErrorCode(err), bbus.ErrorMessage(err)))}
	}
	b, merr := json.MarshalIndent(v, "", "  ")
	if merr != nil {
		r.fatalf("encode: %v", merr)
	}
	return strings.Split(r.shorten(string(b)), "\n")
}

// cloudLines prints each cloud as: id status power vms, then allocated/capacity per resource.
func (r *scriptRunner) cloudLines() []string {
	var out []string
	for _, c := range allClouds(r.st) {
		l := fmt.Sprintf("%s %s power=%d vms=%d cpu=%d/%d mem=%d/%d disk=%d/%d net=%d/%d", c.ID, c.Status, c.Power, c.HostedVMs,
			c.Allocated.CPU, c.Capacity.CPU, c.Allocated.MemMiB, c.Capacity.MemMiB,
			c.Allocated.DiskIOPS, c.Capacity.DiskIOPS, c.Allocated.NetMbps, c.Capacity.NetMbps)
		if len(c.Approvals) > 0 {
			l += " approvals=" + strings.Join(c.Approvals, ",")
		}
		if len(c.Removals) > 0 {
			l += " removals=" + strings.Join(c.Removals, ",")
		}
		out = append(out, l)
	}
	return out
}

// testNodeID returns a node id made from a name ("n1"), as 40 hex digits; a
// name that is already 40 characters long is taken as it is, and "" stays "".
func testNodeID(name string) string {
	if name == "" || len(name) == bbus.NodeIDLen {
		return name
	}
	h := sha256.Sum256([]byte("node " + name))
	return hex.EncodeToString(h[:20])
}
