package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
)

// Error is why a bundle failed verification: Field names the part of the
// bundle that broke (like "txs[3].proof" or "headers[5].commit") and Reason
// what is wrong with it.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "evidence: " + e.Reason
	}
	return "evidence: " + e.Field + ": " + e.Reason
}

func fail(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Report is what a verified bundle proves.
type Report struct {
	ChainID   string `json:"chain_id"`
	VM        string `json:"vm,omitempty"`
	Agreement string `json:"agreement,omitempty"`
	Invoice   string `json:"invoice,omitempty"`
	Violation string `json:"violation,omitempty"`
	// State is the height and number of the state records the bundle proves.
	State StateReport `json:"state"`
	// InvoiceRecord is the proved invoice with every line, each amount and
	// total recomputed from the proved records (an invoice's bundle).
	InvoiceRecord *bbus.Invoice `json:"invoice_record,omitempty"`
	// Agreements and Violations are the proved records of the agreements and
	// violations the bundle names.
	Agreements []bbus.Agreement `json:"agreements,omitempty"`
	Violations []bbus.Violation `json:"violations,omitempty"`
	// Txs are the VM's transactions in chain order, each at the time of its
	// block (BFT time).
	Txs []Entry `json:"txs"`
	// Intervals are where the VM ran, as the transactions tell it.
	Intervals []Interval `json:"intervals"`
	// Signers are the clouds that signed Txs and where their keys come from.
	Signers []Signer `json:"signers"`
	// What was checked.
	Headers       int `json:"headers"`
	Commits       int `json:"commits"`
	Signatures    int `json:"commit_signatures"`
	ValidatorSets int `json:"validator_sets"`
	// ValidatorChanges is how many changes of the validator set the bundle
	// proves, each signed by the set before it and by the set after it.
	ValidatorChanges int `json:"validator_changes"`
	// Trust is where the walk through the validator sets started: "genesis",
	// or the checkpoint the auditor trusts.
	Trust string `json:"trust"`
}

// Entry is one proved transaction.
type Entry struct {
	Height  int64     `json:"height"`
	Time    time.Time `json:"time"`
	TxID    string    `json:"tx_id"`
	Type    string    `json:"type"`
	Signer  string    `json:"signer"`
	ID      string    `json:"id,omitempty"` // what the ledger says it made or acted on
	Summary string    `json:"summary"`
}

// Interval is a stretch of time the VM ran at one cloud. End is nil while it
// still ran there at the bundle's last transaction.
type Interval struct {
	Cloud     string `json:"cloud"`
	Migration string `json:"migration,omitempty"` // the migration that brought it there
	Start     Point  `json:"start"`
	End       *Point `json:"end,omitempty"`
}

// Point is a block: its height and time.
type Point struct {
	Height int64     `json:"height"`
	Time   time.Time `json:"time"`
}

// Signer is a cloud whose key signed transactions of the bundle.
type Signer struct {
	Cloud  string `json:"cloud"`
	PubKey []byte `json:"pub_key"`
	// From is "genesis", or the height of its cloud_join transaction, as its
	// proved record gives it.
	From string `json:"from"`
}

// Verify checks a bundle against the genesis document of its chain, and
// nothing else: it reads no file and contacts no node. It returns what the
// bundle proves, or an *Error that names what broke. It checks:
//
//   - the bundle is in the canonical encoding of what it holds (white space
//     aside), so that no byte of it is without meaning;
//   - every header with a commit is signed by more than two thirds of the
//     voting power of its validator set (types.VerifyCommit: every signature
//     in the commit must verify), and that set is the one in force at its
//     height: the genesis validators at first, then, at each change, the set
//     the last header of the old set names as next. A bundle carries every
//     change between genesis and its last header: the header at which the
//     old set names the new one, signed by the old set, and the next header,
//     signed by the new set and naming the first as its parent. A header
//     signed by a set no longer in force at its height, or a skipped change,
//     fails with the height where the walk broke (see VerifyTrusting for a
//     walk from a checkpoint);
//   - every header without a commit is named as parent by a trusted header;
//   - every transaction is a canonical bbus transaction of this chain,
//     signed by its signer's key, at a height below the state's;
//   - every signer's key is in genesis or in its cloud's proved record,
//     which it joined before it signed;
//   - every state proof verifies against the app hash of the trusted header
//     at the state's height, and what the proved records say decides what
//     the bundle must hold: a VM's record counts its migrations (naming the
//     last), its hosting intervals and the transactions that changed it,
//     whose ids, heights and block times it chains into a digest, so that a
//     bundle short of any of them, or with one added, reordered or moved,
//     fails, naming what is wrong; an agreement's record stamps its proposal
//     and answer (id, height, time); an invoice's every amount is recomputed
//     from its proved lines, agreements and violations with the ledger's own
//     charging functions (package ledger), and it holds no transaction; every
//     proved record is one the subject needs, and every header serves the
//     state proofs, a change of validators or the checkpoint.
//
// The transactions are not replayed against the ledger's rules: that each
// was applied, and that none is missing, is proved by the records, which
// the ledger writes only for what it applied. What a bundle cannot show,
// from genesis alone, is a true history from one that a past validator set
// signed for heights after it was replaced, if the bundle ends before
// anything the later sets signed: a checkpoint the auditor trusts
// (VerifyTrusting) closes that (docs/FEDERATION.md).
func Verify(bundle, genesis []byte) (*Report, error) {
	return VerifyTrusting(bundle, genesis, nil)
}

// VerifyTrusting is Verify with a checkpoint the auditor trusts: the hash of
// the header at one height, as any member's node prints it (bbus query
// status). The bundle must hold that header. When the bundle holds nothing
// below it, the walk through the validator sets starts there, with the
// validators that header names, and the validator sets before it are not
// trusted at all; otherwise the walk starts from genesis and must pass
// through the checkpoint, which pins every change of validators up to it.
// Either way the bundle's state must be at or after the checkpoint, so that
// nothing before it is relied on. A nil trust is Verify.
func VerifyTrusting(bundle, genesis []byte, trust *Checkpoint) (*Report, error) {
	g, err := parseGenesis(genesis)
	if err != nil {
		return nil, err
	}
	b, err := parse(bundle)
	if err != nil {
		return nil, err
	}
	// That the bundle is canonical is checked beside the rest, and reported
	// first when it is not.
	canon := make(chan error, 1)
	go func() { canon <- canonical(bundle, b) }()
	rep, err := verify(b, g, trust)
	if cerr := <-canon; cerr != nil {
		return nil, cerr
	}
	return rep, err
}

func verify(b *Bundle, g *genesis, trust *Checkpoint) (*Report, error) {
	v := &verifier{b: b, g: g, headers: map[int64]*header{}, anchor: "genesis"}
	if err := v.top(); err != nil {
		return nil, err
	}
	if err := v.validatorSets(); err != nil {
		return nil, err
	}
	if err := v.chain(trust); err != nil {
		return nil, err
	}
	// What lies before a checkpoint is not relied on: headers there could
	// have been signed by a past validator set that skipped changes it did
	// not want shown.
	if trust != nil && b.State.Height < trust.Height {
		return nil, fail("state.height", "is %d, below the checkpoint at height %d you trust: a bundle for a checkpoint proves a state at or after it, so that nothing before the checkpoint is relied on; export the bundle again with --trust %d", b.State.Height, trust.Height, trust.Height)
	}
	rep := &Report{ChainID: b.ChainID, VM: b.VM, Agreement: b.Agreement, Invoice: b.Invoice, Violation: b.Violation, Headers: len(b.Headers), Commits: v.commits,
		Signatures: v.signatures, ValidatorSets: len(b.ValidatorSets), ValidatorChanges: v.changes, Trust: v.anchor,
		Txs: []Entry{}, Signers: []Signer{}}
	st, err := v.state()
	if err != nil {
		return nil, err
	}
	rep.State = StateReport{Height: b.State.Height, Records: len(b.State.Proofs)}
	hist := &history{intervals: []Interval{}}
	txs := make([]*vtx, 0, len(b.Txs))
	keys := map[string]*Signer{}
	decoded := decodeTxs(b.Txs)
	for i := range b.Txs {
		field := fmt.Sprintf("txs[%d]", i)
		t, err := v.tx(field, &b.Txs[i], decoded[i])
		if err != nil {
			return nil, err
		}
		if n := len(txs); n > 0 && t.height < txs[n-1].height {
			return nil, fail(field+".height", "is %d, below the height %d of the transaction before it: the transactions are in chain order", t.height, txs[n-1].height)
		}
		signer := t.stx.Signer
		key := keys[signer]
		if key == nil {
			if key, err = v.keyOf(field, signer, t.height, st); err != nil {
				return nil, err
			}
			keys[signer] = key
			rep.Signers = append(rep.Signers, *key)
		}
		if err := v.signature(cmted25519.PubKey(key.PubKey), t.stx.BodyBytes, t.stx.Sig, func() error {
			return fail(field+".raw", "the signature does not verify with the key of %s (%s)", signer, key.From)
		}); err != nil {
			return nil, err
		}
		txs = append(txs, t)
		hist.add(t)
	}
	hist.name(txs, b.Agreement)
	if len(txs) > 0 && (b.Invoice != "" || b.Violation != "") {
		return nil, fail("txs", "holds %d transactions, but the bundle of %s proves its records by state proofs alone: they do not belong", len(txs), b.subject())
	}
	switch {
	case b.VM != "":
		err = v.vmComplete(st, txs, hist)
	case b.Agreement != "":
		rep.Agreements, err = v.agreementComplete(st, txs)
	case b.Invoice != "":
		rep.InvoiceRecord, rep.Agreements, rep.Violations, err = v.invoice(st)
	case b.Violation != "":
		rep.Agreements, rep.Violations, err = v.violation(st)
	}
	if err != nil {
		return nil, err
	}
	for _, t := range txs {
		rep.Txs = append(rep.Txs, Entry{Height: t.height, Time: t.time, TxID: t.stx.ID, Type: t.stx.Action.Type(),
			Signer: t.stx.Signer, ID: t.id, Summary: describe(t)})
	}
	if err := st.allUsed(); err != nil {
		return nil, err
	}
	if err := v.everyHeaderServes(trust); err != nil {
		return nil, err
	}
	if err := v.verifySignatures(); err != nil {
		return nil, err
	}
	sort.Slice(rep.Signers, func(i, j int) bool { return rep.Signers[i].Cloud < rep.Signers[j].Cloud })
	rep.Intervals = hist.intervals
	return rep, nil
}

// everyHeaderServes checks that each header is the one whose app hash the
// state proofs verify against, a block at which the validators change or the
// block after it, or the checkpoint the bundle was built for or the auditor
// trusts: a bundle holds nothing it does not need.
func (v *verifier) everyHeaderServes(trust *Checkpoint) error {
	needed := map[int64]bool{v.b.State.Height: true}
	if v.b.Checkpoint != 0 {
		needed[v.b.Checkpoint] = true
	}
	if trust != nil {
		needed[trust.Height] = true
	}
	changed := map[int64]bool{} // heights whose previous block changed validators
	for _, e := range v.b.Headers {
		if h := e.Header; e.Commit != nil && !bytes.Equal(h.ValidatorsHash, h.NextValidatorsHash) {
			changed[h.Height+1] = true
		}
	}
	for i, e := range v.b.Headers {
		h := e.Header
		if !needed[h.Height] && !changed[h.Height] && (e.Commit == nil || bytes.Equal(h.ValidatorsHash, h.NextValidatorsHash)) {
			return fail(fmt.Sprintf("headers[%d]", i), "the block at height %d carries neither the app hash of the bundle's state nor a change of validators, nor is it the checkpoint: it does not belong", h.Height)
		}
	}
	return nil
}

// genesis is what Verify takes from the genesis document.
type genesis struct {
	chainID       string
	initialHeight int64
	valsHash      []byte
	clouds        map[string][]byte // founding cloud -> signing key
}

func parseGenesis(data []byte) (*genesis, error) {
	doc, err := types.GenesisDocFromJSON(data)
	if err != nil {
		return nil, fail("genesis", "not a CometBFT genesis document: %v", err)
	}
	var app bbus.Genesis
	dec := json.NewDecoder(bytes.NewReader(doc.AppState))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&app); err != nil {
		return nil, fail("genesis", "app_state is not a bbus genesis: %v", err)
	}
	g := &genesis{chainID: doc.ChainID, initialHeight: doc.InitialHeight, clouds: map[string][]byte{}}
	if len(doc.Validators) == 0 {
		return nil, fail("genesis", "names no validators")
	}
	g.valsHash = doc.ValidatorHash()
	for _, c := range app.Clouds {
		g.clouds[c.ID] = c.PubKey
	}
	return g, nil
}

// Decode parses a bundle, rejecting unknown fields and any encoding other
// than the one Marshal gives what it holds (white space aside).
func Decode(data []byte) (*Bundle, error) {
	b, err := parse(data)
	if err != nil {
		return nil, err
	}
	if err := canonical(data, b); err != nil {
		return nil, err
	}
	return b, nil
}

// canonical checks that data, white space aside, is the encoding of b, which
// parse read from it.
func canonical(data []byte, b *Bundle) error {
	canon, err := json.Marshal(b)
	if err != nil {
		return fail("", "not a bundle: %v", err)
	}
	if !sameJSON(data, canon) {
		var compact bytes.Buffer
		json.Compact(&compact, data)
		return fail(firstDifference(compact.Bytes(), canon), "not in canonical form: the bundle's bytes differ from the encoding of the values they hold (case of hex digits, escapes, time format, ...)")
	}
	return nil
}

// parse reads a bundle, rejecting unknown fields and times not in UTC.
func parse(data []byte) (*Bundle, error) {
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fail("", "not a bundle: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail("", "data after the end of the bundle")
	}
	// A time keeps its zone offset through decoding and encoding, and
	// signatures and hashes cover only the instant: every time must be in UTC.
	utc := func(field string, t time.Time) error {
		if _, off := t.Zone(); off != 0 {
			return fail(field, "is not in UTC")
		}
		return nil
	}
	for i, t := range b.Txs {
		if err := utc(fmt.Sprintf("txs[%d].time", i), t.Time); err != nil {
			return nil, err
		}
	}
	for i, h := range b.Headers {
		if h.Header != nil {
			if err := utc(fmt.Sprintf("headers[%d].header.time", i), h.Header.Time); err != nil {
				return nil, err
			}
		}
		if h.Commit != nil {
			for j, s := range h.Commit.Signatures {
				if err := utc(fmt.Sprintf("headers[%d].commit.signatures[%d].timestamp", i, j), s.Timestamp); err != nil {
					return nil, err
				}
			}
		}
	}
	return &b, nil
}

// sameJSON reports whether the JSON document data, white space outside
// strings aside, is the compact document canon.
func sameJSON(data, canon []byte) bool {
	j, inString, escaped := 0, false, false
	for _, c := range data {
		if !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			continue
		}
		if j >= len(canon) || canon[j] != c {
			return false
		}
		j++
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inString:
			escaped = true
		case c == '"':
			inString = !inString
		}
	}
	return j == len(canon)
}

// firstDifference returns the path of the first value that differs between
// two JSON documents, or "" if they differ only in encoding.
func firstDifference(a, b []byte) string {
	var x, y any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return ""
	}
	p, _ := diff("", x, y)
	return p
}

func diff(path string, x, y any) (string, bool) {
	switch xv := x.(type) {
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok {
			return path, true
		}
		names := make([]string, 0, len(xv)+len(yv))
		for k := range xv {
			names = append(names, k)
		}
		for k := range yv {
			if _, ok := xv[k]; !ok {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			if p, ok := diff(sub, xv[k], yv[k]); ok {
				return p, true
			}
		}
		return "", false
	case []any:
		yv, ok := y.([]any)
		if !ok {
			return path, true
		}
		for i := 0; i < len(xv) && i < len(yv); i++ {
			if p, ok := diff(fmt.Sprintf("%s[%d]", path, i), xv[i], yv[i]); ok {
				return p, true
			}
		}
		if len(xv) != len(yv) {
			return path, true
		}
		return "", false
	default:
		if fmt.Sprint(x) != fmt.Sprint(y) {
			return path, true
		}
		return "", false
	}
}

type verifier struct {
	b          *Bundle
	g          *genesis
	sets       []*types.ValidatorSet
	headers    map[int64]*header
	commits    int
	signatures int
	changes    int    // changes of validators walked through
	anchor     string // where the walk through the validator sets started
	// Every signature of the bundle is verified last, in batches (one batch
	// of hundreds costs a fraction of as many single verifications), one for
	// each processor; failed says, for each, what failed if it does not
	// verify.
	sigs []sigCheck
}

type sigCheck struct {
	pub, msg, sig []byte
	failed        func() error
}

// signature adds a signature to the batch; failed reports it if it is bad.
func (v *verifier) signature(pub cmted25519.PubKey, msg, sig []byte, failed func() error) error {
	if len(pub) != cmted25519.PubKeySize || len(sig) != cmted25519.SignatureSize {
		return failed()
	}
	v.sigs = append(v.sigs, sigCheck{pub: pub, msg: msg, sig: sig, failed: failed})
	return nil
}

// verifySignatures verifies the batch and reports the first bad signature.
func (v *verifier) verifySignatures() error {
	n := len(v.sigs)
	if n == 0 {
		return nil
	}
	parts := min(runtime.GOMAXPROCS(0), (n+255)/256)
	bad := make([]int, parts) // the first bad signature of each part, or -1
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		from, to := n*p/parts, n*(p+1)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			bad[p] = firstBad(v.sigs[from:to], from)
		}()
	}
	wg.Wait()
	for _, i := range bad {
		if i >= 0 {
			return v.sigs[i].failed()
		}
	}
	return nil
}

// firstBad verifies sigs in one batch and returns the index (counted from
// offset) of the first that does not verify, or -1.
func firstBad(sigs []sigCheck, offset int) int {
	bv := cmted25519.NewBatchVerifier()
	for i, c := range sigs {
		if bv.Add(cmted25519.PubKey(c.pub), c.msg, c.sig) != nil {
			return offset + i
		}
	}
	ok, valid := bv.Verify()
	if ok {
		return -1
	}
	for i, good := range valid {
		if !good {
			return offset + i
		}
	}
	return offset
}

type header struct {
	h    *types.Header
	hash []byte
}

func (v *verifier) top() error {
	b := v.b
	switch {
	case b.Format != Format:
		return fail("format", "is %q; this verifier reads %q", b.Format, Format)
	case b.ChainID != v.g.chainID:
		return fail("chain_id", "the bundle is for chain %q, the genesis document is of chain %q", b.ChainID, v.g.chainID)
	}
	n := 0
	for _, x := range []struct{ field, id string }{{"vm", b.VM}, {"agreement", b.Agreement}, {"invoice", b.Invoice}, {"violation", b.Violation}} {
		if x.id == "" {
			continue
		}
		n++
		if err := bbus.ValidateID(x.field, x.id); err != nil {
			return fail(x.field, "%s", bbus.ErrorMessage(err))
		}
	}
	if n != 1 {
		return fail("vm", "the bundle must name one VM, agreement, invoice or violation")
	}
	return nil
}

// validatorSets builds each set and checks it is in CometBFT's order.
func (v *verifier) validatorSets() error {
	used := make([]bool, len(v.b.ValidatorSets))
	for _, h := range v.b.Headers {
		if h.ValidatorSet != nil && *h.ValidatorSet >= 0 && *h.ValidatorSet < len(used) {
			used[*h.ValidatorSet] = true
		}
	}
	for i, s := range v.b.ValidatorSets {
		field := fmt.Sprintf("validator_sets[%d]", i)
		if !used[i] {
			return fail(field, "is not the validator set of any header of the bundle")
		}
		if len(s.Validators) == 0 {
			return fail(field, "is empty")
		}
		vals := make([]*types.Validator, len(s.Validators))
		for j, val := range s.Validators {
			f := fmt.Sprintf("%s.validators[%d]", field, j)
			if len(val.PubKey) != cmted25519.PubKeySize {
				return fail(f+".pub_key", "is %d bytes, an ed25519 key is %d", len(val.PubKey), cmted25519.PubKeySize)
			}
			pk := cmted25519.PubKey(val.PubKey)
			if !bytes.Equal(val.Address, pk.Address()) {
				return fail(f+".address", "is %s, but the key's address is %s", val.Address, pk.Address())
			}
			if val.Power <= 0 || val.Power > types.MaxTotalVotingPower {
				return fail(f+".power", "%d is not a validator's voting power", val.Power)
			}
			vals[j] = types.NewValidator(pk, val.Power)
		}
		set, err := newValidatorSet(vals)
		if err != nil {
			return fail(field, "%v", err)
		}
		for j, val := range set.Validators {
			if !bytes.Equal(val.Address, s.Validators[j].Address) {
				return fail(field, "is not in CometBFT's order (voting power descending, then address): place %d holds %s, not %s", j, s.Validators[j].Address, val.Address)
			}
		}
		v.sets = append(v.sets, set)
	}
	return nil
}

func newValidatorSet(vals []*types.Validator) (set *types.ValidatorSet, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not a validator set: %v", r)
		}
	}()
	return types.NewValidatorSet(vals), nil
}

// chain verifies the headers. The signed ones, in height order, follow the
// validator sets from the anchor (the genesis validators, or the checkpoint
// the auditor trusts) through every change: each header must be signed by
// more than two thirds of the set in force at its height, and a header whose
// next validators differ from its own (a change) must be followed in the
// bundle by the next block's header, signed by the new set and naming the
// change's hash as its parent, so that the new set itself vouches for where
// the change happened. The headers without a commit are then trusted through
// the hash their next block names.
func (v *verifier) chain(trust *Checkpoint) error {
	b := v.b
	if len(b.Headers) == 0 {
		return fail("headers", "the bundle holds no header")
	}
	var prev int64
	for i, e := range b.Headers {
		field := fmt.Sprintf("headers[%d]", i)
		h := e.Header
		if h == nil {
			return fail(field+".header", "is missing")
		}
		if h.Height <= prev || h.Height < v.g.initialHeight {
			return fail(field+".header.height", "%d is not above the height of the header before it (%d) and at least the chain's initial height %d", h.Height, prev, v.g.initialHeight)
		}
		prev = h.Height
		if h.ChainID != b.ChainID {
			return fail(field+".header.chain_id", "is %q, not %q", h.ChainID, b.ChainID)
		}
		if err := h.ValidateBasic(); err != nil {
			return fail(field+".header", "%v", err)
		}
		if (e.Commit == nil) != (e.ValidatorSet == nil) {
			return fail(field, "has a commit without its validator set, or a validator set without a commit")
		}
	}
	// The anchor: the checkpoint when the bundle holds nothing below it.
	w := walk{vals: v.g.valsHash, from: "the genesis document"}
	if trust != nil {
		if trust.Height < v.g.initialHeight {
			return fail("", "the checkpoint you trust is at height %d, below the chain's initial height %d", trust.Height, v.g.initialHeight)
		}
		if b.Headers[0].Header.Height >= trust.Height {
			w = walk{checkpoint: true}
			v.anchor = fmt.Sprintf("the checkpoint %s", trust)
		} else {
			v.anchor = fmt.Sprintf("genesis, through the checkpoint %s", trust)
		}
	}
	sawCheckpoint := false
	for i, e := range b.Headers {
		field := fmt.Sprintf("headers[%d]", i)
		h := e.Header
		atCheckpoint := trust != nil && h.Height == trust.Height
		if trust != nil && !sawCheckpoint && h.Height > trust.Height {
			return fail("headers", "the bundle holds no header at height %d, the checkpoint you trust; export the bundle with --trust %d", trust.Height, trust.Height)
		}
		if e.Commit == nil && !atCheckpoint {
			continue
		}
		hd := &header{h: h, hash: h.Hash()}
		if w.change != nil {
			c := w.change
			if h.Height != c.h.Height+1 {
				return fail(field, "the validators change after height %d (its header names %s as the next validators), but the bundle lacks the header at height %d, signed by them, that must follow that change", c.h.Height, c.h.NextValidatorsHash, c.h.Height+1)
			}
			if !bytes.Equal(h.LastBlockID.Hash, c.hash) {
				return fail(field+".header.last_block_id.hash", "names %s as the parent of the block at height %d, but the header at height %d, where the validators changed, is %X: the change is not the chain's", h.LastBlockID.Hash, h.Height, c.h.Height, c.hash)
			}
			w = walk{vals: c.h.NextValidatorsHash, from: fmt.Sprintf("the change at height %d", c.h.Height)}
			v.changes++
		}
		if atCheckpoint {
			sawCheckpoint = true
			if !bytes.Equal(hd.hash, trust.Hash) {
				return fail(field+".header", "the block at height %d hashes to %X, but the checkpoint you trust is %s", h.Height, hd.hash, trust)
			}
			if w.checkpoint {
				w = walk{vals: h.ValidatorsHash, from: fmt.Sprintf("the checkpoint at height %d", h.Height)}
			}
		}
		if !bytes.Equal(h.ValidatorsHash, w.vals) {
			return fail(field+".header.validators_hash", "the block at height %d is signed by validators %s, but the validators in force at that height are %X (from %s): the bundle lacks a change of validators, or the block is not the chain's", h.Height, h.ValidatorsHash, w.vals, w.from)
		}
		if e.Commit != nil {
			if *e.ValidatorSet < 0 || *e.ValidatorSet >= len(v.sets) {
				return fail(field+".validator_set", "%d names no validator set of the bundle", *e.ValidatorSet)
			}
			set := v.sets[*e.ValidatorSet]
			if !bytes.Equal(set.Hash(), h.ValidatorsHash) {
				return fail(field+".validator_set", "validator set %d hashes to %X, but the header names validators %s", *e.ValidatorSet, set.Hash(), h.ValidatorsHash)
			}
			if e.Commit.Height != h.Height {
				return fail(field+".commit.height", "is %d, the header's is %d", e.Commit.Height, h.Height)
			}
			if !bytes.Equal(e.Commit.BlockID.Hash, hd.hash) {
				return fail(field+".commit.block_id.hash", "the commit signs block %s, the header is block %X", e.Commit.BlockID.Hash, hd.hash)
			}
			if err := e.Commit.ValidateBasic(); err != nil {
				return fail(field+".commit", "%v", err)
			}
			// types.VerifyCommit finds each signer by its place in the set
			// and ignores the address beside it, which must then be right too.
			if len(e.Commit.Signatures) == set.Size() {
				for j, cs := range e.Commit.Signatures {
					if cs.BlockIDFlag != types.BlockIDFlagAbsent && !bytes.Equal(cs.ValidatorAddress, set.Validators[j].Address) {
						return fail(fmt.Sprintf("%s.commit.signatures[%d].validator_address", field, j), "is %s, but validator %d of the set is %s", cs.ValidatorAddress, j, set.Validators[j].Address)
					}
				}
			}
			if err := types.VerifyCommit(b.ChainID, set, e.Commit.BlockID, h.Height, e.Commit); err != nil {
				return fail(field+".commit", "does not prove the block at height %d: %v", h.Height, err)
			}
			v.commits++
			for _, cs := range e.Commit.Signatures {
				if cs.BlockIDFlag != types.BlockIDFlagAbsent {
					v.signatures++
				}
			}
		}
		v.headers[h.Height] = hd
		if !bytes.Equal(h.ValidatorsHash, h.NextValidatorsHash) {
			w.change = hd
		}
	}
	if trust != nil && !sawCheckpoint {
		return fail("headers", "the bundle holds no header at height %d, the checkpoint you trust; export the bundle with --trust %d", trust.Height, trust.Height)
	}
	for i := len(b.Headers) - 1; i >= 0; i-- {
		e := b.Headers[i]
		if v.headers[e.Header.Height] != nil {
			continue
		}
		field := fmt.Sprintf("headers[%d]", i)
		h := e.Header
		next := v.headers[h.Height+1]
		if next == nil {
			return fail(field, "the block at height %d has no commit, and no trusted header at height %d names it as its parent", h.Height, h.Height+1)
		}
		hash := h.Hash()
		if !bytes.Equal(next.h.LastBlockID.Hash, hash) {
			return fail(field+".header", "hashes to %X, but the trusted header at height %d names %s as its parent", hash, h.Height+1, next.h.LastBlockID.Hash)
		}
		v.headers[h.Height] = &header{h: h, hash: hash}
	}
	return nil
}

// walk is where the walk through the validator sets is: the set in force
// (vals, taken from where from says), or a change whose next header must
// come next, or, before the first header, the checkpoint that starts it.
type walk struct {
	vals       []byte
	from       string
	change     *header
	checkpoint bool
}

// vtx is a transaction of the bundle whose bytes are a bbus transaction of
// the chain.
type vtx struct {
	field  string // where it is in the bundle
	stx    *bbus.SignedTx
	height int64
	time   time.Time
	// id is what it made or acted on, as its action and the transactions
	// after it tell (history.name): for a reader.
	id string
}

// tx decodes one transaction and checks its place: the record that names it
// proves the rest.
func (v *verifier) tx(field string, t *Tx, d decodedTx) (*vtx, error) {
	stx, err := d.stx, d.err
	if err != nil {
		return nil, fail(field+".raw", "is not a bbus transaction: %s", bbus.ErrorMessage(err))
	}
	if stx.ChainID != v.b.ChainID {
		return nil, fail(field+".raw", "is for chain %q, not %q", stx.ChainID, v.b.ChainID)
	}
	if t.Height < v.g.initialHeight || t.Height >= v.b.State.Height {
		return nil, fail(field+".height", "is %d, not from the chain's initial height %d and before the header at height %d whose app hash proves the state", t.Height, v.g.initialHeight, v.b.State.Height)
	}
	return &vtx{field: field, stx: stx, height: t.Height, time: t.Time}, nil
}

type decodedTx struct {
	stx *bbus.SignedTx
	err error
}

// decodeTxs decodes the bundle's transactions, on every processor.
func decodeTxs(txs []Tx) []decodedTx {
	out := make([]decodedTx, len(txs))
	parts := min(runtime.GOMAXPROCS(0), (len(txs)+63)/64)
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(txs) * p / parts; i < len(txs)*(p+1)/parts; i++ {
				out[i].stx, out[i].err = bbus.DecodeTx([]byte(txs[i].Raw))
			}
		}()
	}
	wg.Wait()
	return out
}

// keyOf returns the key that signs cloud's transactions, the first at height:
// from genesis, or from the cloud's proved record, which it must have joined
// before.
func (v *verifier) keyOf(field, cloud string, height int64, p *proved) (*Signer, error) {
	if pub := v.g.clouds[cloud]; pub != nil {
		return &Signer{Cloud: cloud, PubKey: pub, From: "genesis"}, nil
	}
	key := ledger.CloudKey(cloud)
	if _, ok := p.values[string(key)]; !ok {
		return nil, fail(field, "is signed by %s, a cloud not founded in genesis whose record the bundle does not prove (key %q): its key is unknown", cloud, key)
	}
	var c bbus.Cloud
	cf, err := p.record(key, "cloud "+cloud, &c)
	if err != nil {
		return nil, err
	}
	switch {
	case c.ID != cloud:
		return nil, fail(cf+".value", "is the record of cloud %s, not %s", c.ID, cloud)
	case len(c.PubKey) != cmted25519.PubKeySize:
		return nil, fail(cf+".value.pub_key", "is %d bytes, an ed25519 key is %d", len(c.PubKey), cmted25519.PubKeySize)
	case c.Joined.Tx == "" || c.Joined.Height >= height:
		return nil, fail(field, "is signed by %s at height %d, but its record (%s) has it join at height %d", cloud, height, cf, c.Joined.Height)
	}
	return &Signer{Cloud: cloud, PubKey: c.PubKey, From: fmt.Sprintf("cloud_join at height %d, by its proved record", c.Joined.Height)}, nil
}

// String renders a report for a reader.
func (r *Report) String() string {
	var b strings.Builder
	switch {
	case r.Agreement != "":
		fmt.Fprintf(&b, "verified: agreement %s on chain %s\n", r.Agreement, r.ChainID)
	case r.Invoice != "":
		fmt.Fprintf(&b, "verified: invoice %s on chain %s, every amount recomputed\n", r.Invoice, r.ChainID)
	case r.Violation != "":
		fmt.Fprintf(&b, "verified: violation %s on chain %s, its charge and penalty recomputed\n", r.Violation, r.ChainID)
	default:
		fmt.Fprintf(&b, "verified: the history of VM %s on chain %s, complete at height %d\n", r.VM, r.ChainID, r.State.Height-1)
	}
	if len(r.Txs) > 0 {
		fmt.Fprintf(&b, "  %s, each signed by its cloud, at the height and time the proved records give it\n", count(len(r.Txs), "transaction"))
	}
	fmt.Fprintf(&b, "  %s proved against the app hash of the header at height %d\n", count(r.State.Records, "state record"), r.State.Height)
	fmt.Fprintf(&b, "  %s (%d signed: %s by %s)\n",
		count(r.Headers, "header"), r.Commits, count(r.Signatures, "commit signature"), count(r.ValidatorSets, "validator set"))
	if r.ValidatorChanges == 0 {
		fmt.Fprintf(&b, "  validators followed from %s, with no change of the set\n", r.Trust)
	} else {
		fmt.Fprintf(&b, "  validators followed from %s through %s of the set\n", r.Trust, count(r.ValidatorChanges, "change"))
	}
	return b.String()
}

// count says n things: "1 header", "3 headers".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
