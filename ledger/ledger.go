// Package ledger is the bbus state machine: a pure function from (state, block
// header, transaction) to (new state, result). It reads and writes state through
// kv.Store and nothing else: no network, no file system, no wall clock, no random
// numbers, no floating point and no consensus engine. Every validator that feeds
// it the same blocks computes the same state.
package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// VerifyFunc reports whether sig is pub's ed25519 signature of msg. It must be
// deterministic and apply the same rules on every validator.
type VerifyFunc func(pub, msg, sig []byte) bool

// KeyCheckFunc returns an error if pub may not be an ed25519 public key on the
// ledger (package keys' CheckPublicKey refuses non-canonical encodings and
// points of small order). It must be deterministic and apply the same rules on
// every validator.
type KeyCheckFunc func(pub []byte) error

// Ledger applies transactions to state. It holds no state of its own.
type Ledger struct {
	verify   VerifyFunc
	decode   DecodeFunc
	checkKey KeyCheckFunc
}

// DecodeFunc decodes a transaction as bbus.DecodeTx does.
type DecodeFunc func(raw []byte) (*bbus.SignedTx, error)

// New returns a ledger that checks signatures with verify.
func New(verify VerifyFunc) *Ledger {
	return &Ledger{verify: verify, decode: bbus.DecodeTx, checkKey: func([]byte) error { return nil }}
}

// WithKeyCheck makes the ledger refuse, with EINVALID, every public key that
// check refuses wherever a key enters the ledger: in genesis, and in the
// actions that carry keys (bbus.KeyCarrier), before they reach a block. A
// node passes keys.CheckPublicKey. It returns l.
func (l *Ledger) WithKeyCheck(check KeyCheckFunc) *Ledger {
	l.checkKey = check
	return l
}

// CheckKey applies the ledger's key rules to the key in field: nil, or an
// EINVALID error naming the field.
func (l *Ledger) CheckKey(field string, pub []byte) error {
	if len(pub) != 32 {
		return bbus.Errorf(bbus.EINVALID, "%s is %d bytes, an ed25519 key is 32", field, len(pub))
	}
	if err := l.checkKey(pub); err != nil {
		return bbus.Errorf(bbus.EINVALID, "%s: %s", field, bbus.ErrorMessage(err))
	}
	return nil
}

// WithDecoder makes Check and Apply decode transactions with dec, which must
// give what bbus.DecodeTx gives: for instance a cache of what a node already
// decoded on submission. The ledger never changes a transaction it decoded
// (the tests' invariants check every one they hand it), so dec may hand the
// same one to several callers at once. It returns l.
func (l *Ledger) WithDecoder(dec DecodeFunc) *Ledger {
	l.decode = dec
	return l
}

// Header is what the ledger takes from a block: its height and its time (BFT
// time, the only clock the ledger knows).
type Header struct {
	Height int64
	Time   time.Time
}

// utc returns h with its time in UTC: the same instant in another zone
// would encode differently in state, and validators must write the same bytes.
func (h Header) utc() Header {
	h.Time = h.Time.UTC()
	return h
}

// Attr is one attribute of an Event.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Event is something the ledger did, for subscribers and indexers.
type Event struct {
	Type  string `json:"type"`
	Attrs []Attr `json:"attrs"`
}

// Result is the outcome of one transaction. Code is empty when it was applied.
type Result struct {
	Code    string  `json:"code,omitempty"`
	Message string  `json:"message,omitempty"`
	TxID    string  `json:"tx,omitempty"`
	Type    string  `json:"type,omitempty"`
	Signer  string  `json:"signer,omitempty"`
	ID      string  `json:"id,omitempty"` // the id the action made or acted on
	Events  []Event `json:"events,omitempty"`
	// Fault is, for an EINTERNAL rejection caused by a panic, the panic's
	// value: for the node's log only, since it may differ between validators.
	Fault string `json:"-"`
}

// OK reports whether the transaction was applied.
func (r *Result) OK() bool { return r.Code == "" }

// Err returns the rejection as an *bbus.Error, or nil.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	return &bbus.Error{Code: r.Code, Message: r.Message}
}

// ValidatorUpdate changes a validator's voting power (0 removes it).
type ValidatorUpdate struct {
	PubKey []byte `json:"pub_key"`
	Power  int64  `json:"power"`
}

// InitGenesis writes the initial state of a chain into an empty store.
func (l *Ledger) InitGenesis(st kv.Store, chainID string, g *bbus.Genesis, genesisTime time.Time) error {
	if st.Get(keyChainID) != nil {
		return bbus.Errorf(bbus.ESTATE, "the ledger already holds a chain")
	}
	if err := bbus.ValidateText("chain id", chainID, true); err != nil {
		return err
	}
	if err := g.Params.Validate(); err != nil {
		return err
	}
	if len(g.Clouds) == 0 {
		return bbus.Errorf(bbus.EINVALID, "genesis has no clouds")
	}
	var power int64
	stamp := bbus.Stamp{At: genesisTime.UTC()}
	for _, gc := range g.Clouds {
		if err := bbus.ValidateID("cloud", gc.ID); err != nil {
			return err
		}
		if err := bbus.ValidateText("cloud name", gc.Name, false); err != nil {
			return err
		}
		if len(gc.PubKey) != 32 || (gc.ValidatorKey != nil && len(gc.ValidatorKey) != 32) {
			return bbus.Errorf(bbus.EINVALID, "genesis cloud %s: ed25519 keys are 32 bytes", gc.ID)
		}
		if err := l.CheckKey("genesis cloud "+gc.ID+" pub_key", gc.PubKey); err != nil {
			return err
		}
		if gc.ValidatorKey != nil {
			if err := l.CheckKey("genesis cloud "+gc.ID+" validator_pub_key", gc.ValidatorKey); err != nil {
				return err
			}
		}
		if err := gc.Capacity.Validate("genesis cloud "+gc.ID+" capacity", false); err != nil {
			return err
		}
		if err := bbus.ValidateNodeID("genesis cloud "+gc.ID+" node_id", gc.NodeID, false); err != nil {
			return err
		}
		if err := bbus.ValidateP2PAddress("genesis cloud "+gc.ID+" p2p_address", gc.P2PAddress, false); err != nil {
			return err
		}
		if err := claimNode(st, gc.NodeID, ownerCloud+gc.ID); err != nil {
			return err
		}
		if gc.Power < 0 || gc.Power > 1<<40 || (gc.Power > 0 && gc.ValidatorKey == nil) {
			return bbus.Errorf(bbus.EINVALID, "genesis cloud %s: power must be in [0, 2^40] and needs a validator key", gc.ID)
		}
		if st.Get(cloudKey(gc.ID)) != nil {
			return bbus.Errorf(bbus.EEXISTS, "genesis names cloud %s twice", gc.ID)
		}
		if gc.ValidatorKey != nil {
			if owner := validatorKeyOwner(st, gc.ValidatorKey); owner != "" {
				return bbus.Errorf(bbus.EEXISTS, "genesis cloud %s: validator_pub_key is already cloud %s's", gc.ID, owner)
			}
			st.Set(validatorOwnerKey(gc.ValidatorKey), []byte(gc.ID))
		}
		power += gc.Power
		admitted := stamp
		putJSON(st, cloudKey(gc.ID), &bbus.Cloud{
			ID: gc.ID, Name: gc.Name, PubKey: gc.PubKey, ValidatorKey: gc.ValidatorKey, Power: gc.Power,
			API: gc.API, NodeID: gc.NodeID, P2PAddress: gc.P2PAddress, Status: bbus.CloudActive, Capacity: gc.Capacity, Joined: stamp, Admitted: &admitted,
			ReputationBP: bbus.Reputation(0, 0),
		})
	}
	if power == 0 {
		return bbus.Errorf(bbus.EINVALID, "genesis has no validator power")
	}
	st.Set(keyChainID, []byte(chainID))
	st.Set(keyRules, []byte(strconv.Itoa(RulesVersion)))
	putJSON(st, keyGenesisTime, genesisTime.UTC())
	putJSON(st, keyParams, &g.Params)
	return nil
}

// Params returns the federation's parameters.
func Params(r kv.Reader) bbus.Params {
	var p bbus.Params
	if !getJSON(r, keyParams, &p) {
		panic("ledger: state has no parameters (no genesis?)")
	}
	return p
}

// RulesVersion is the version of the ledger's rules, which the genesis state
// records (meta/rules): 4 since VM.TxDigest chains each transaction's height
// and block time besides its id. A state without the record was written by
// rules version 3 or older.
const RulesVersion = 4

// CheckRules returns an error for a state written under other rules than
// these, which would compute other app hashes for the same blocks: this
// bbus cannot continue its chain. An empty state passes.
func CheckRules(r kv.Reader) error {
	if r.Get(keyChainID) == nil {
		return nil
	}
	v := r.Get(keyRules)
	if string(v) == strconv.Itoa(RulesVersion) {
		return nil
	}
	was := "version 3 or older (it records no version)"
	if v != nil {
		was = "version " + strconv.Quote(string(v))
	}
	return bbus.Errorf(bbus.ESTATE, "the state of chain %s was written under ledger rules %s, and this bbus applies version %d, which computes other app hashes for the same blocks: it cannot continue that chain; keep running the bbus that made it, or start a new chain in a new home", ChainID(r), was, RulesVersion)
}

// ChainID returns the chain id the state was created for.
func ChainID(r kv.Reader) string { return string(r.Get(keyChainID)) }

// BeginBlock does what the ledger does by itself as a block starts: proposals
// not accepted in time lapse, invitations and applications whose time is up
// are removed, agreement proposals not signed in time expire, and expired
// transaction ids are forgotten (their expiry alone now rejects them).
func (l *Ledger) BeginBlock(st kv.Store, h Header) []Event {
	h = h.utc()
	if nothingDue(st, h.Time) {
		return nil // docs/TRANSACTIONS.md: an idle block reads one key and writes nothing
	}
	var events []Event
	// Proposals not accepted in time lapse, at most MaxExpiriesPerBlock a
	// block in the order they lapse; the rest in the next blocks (a proposal
	// past its time is refused as lapsed meanwhile).
	lapseKeys, lapsed := dueEntries(st, prefixLapse, keyLapseCursor, lapseBound(h.Time), MaxLapsesPerBlock, uint64(time.Minute))
	for i, k := range lapseKeys {
		st.Delete(k)
		var m bbus.Migration
		if !getJSON(st, lapsed[i], &m) || m.Status != bbus.MigrationProposed {
			continue
		}
		events = append(events, lapseMigration(st, &m, bbus.Stamp{At: h.Time, Height: h.Height}))
	}
	events = append(events, lapseInvitations(st, h.Time)...)
	events = append(events, lapseApplications(st, h.Time)...)
	events = append(events, expireProposals(st, h)...)
	// Forget ids of transactions whose expiry is before this block's time
	// (their expiry alone rejects them meanwhile), at most MaxExpiriesPerBlock.
	forgetExpired(st, h.Time)
	setNextDue(st)
	return events
}

// MaxExpiriesPerBlock bounds the expired transaction ids BeginBlock forgets
// in one block (it forgets whole chunks of the replay set, up to
// MaxExpiriesPerBlock/replayChunkIDs of them), and MaxLapsesPerBlock the
// migration proposals it lapses (each reads and writes the migration and its
// VM); the rest wait for the next blocks, in the same order.
const (
	MaxExpiriesPerBlock = 4096
	MaxLapsesPerBlock   = 100
)

// lapseMigration ends a proposal not accepted in time, whose lapse entry is
// gone, at stamp.
func lapseMigration(st kv.Store, m *bbus.Migration, stamp bbus.Stamp) Event {
	if seq, ok := migrationSeq(m.ID); ok {
		closeMigration(st, m, seq)
	}
	m.Status = bbus.MigrationLapsed
	m.Ended = &stamp
	if seq, ok := migrationSeq(m.ID); ok {
		putJSON(st, migrationKey(seq), m)
	}
	var vm bbus.VM
	if getJSON(st, vmKey(m.VM), &vm) && vm.Migration == m.ID {
		vm.Migration = ""
		putJSON(st, vmKey(vm.ID), &vm)
	}
	return migrationEvent("migration.lapsed", m)
}

// Where each queue's scan starts: just past what it processed last. Entries
// behind it are all gone, so the scan never walks over their deletions (a
// database iterator skips deleted entries one by one until they are compacted).
var (
	keyLapseCursor  = []byte("meta/cursor/lapse")
	keyReplayCursor = []byte("meta/cursor/replay")
)

// lapseBound is the first lapse key not due at block time t: a proposal
// lapses at its time.
func lapseBound(t time.Time) []byte { return append(bytes.Clone(prefixLapse), timeKey(t.Add(1))...) }

// replayBound is the first key under prefix (of the replay set: rt/ or rb/)
// not due at block time t: an id is forgotten once its expiry (whole seconds)
// is before t.
func replayBound(prefix []byte, t time.Time) []byte {
	return append(bytes.Clone(prefix), uint64be(uint64(t.Unix()))...)
}

// dueEntries returns, in key order, the keys and values of at most max
// entries under prefix below bound, starting at the
// queue's cursor, and moves the cursor past them (or to bound, when nothing
// is due and the cursor lags bound by idleStep or more, in the unit of the
// queue's 8-byte keys). New entries never come before bound: their time is
// never before the block's.
func dueEntries(st kv.Store, prefix, cursorKey, bound []byte, max int, idleStep uint64) (keys, values [][]byte) {
	start := st.Get(cursorKey)
	from := start
	if from == nil {
		from = prefix
	}
	full := false
	// Bounded at bound, so the scan never walks over deleted entries after it
	// (those of proposals accepted, which would have lapsed later).
	kv.IterateRange(st, from, bound, func(k, v []byte) bool {
		if full = len(keys) == max; full {
			return false
		}
		keys = append(keys, bytes.Clone(k))
		values = append(values, bytes.Clone(v))
		return true
	})
	cursor := bound
	switch {
	case full:
		cursor = append(bytes.Clone(keys[len(keys)-1]), 0)
	case len(keys) == 0 && !lagsBy(start, bound, len(prefix), idleStep):
		// Nothing due, and the cursor is close behind: leave it, so that a
		// block with nothing to do writes nothing and the chain can idle (an
		// app hash that changed makes the engine propose another block). It
		// moves at least every idleStep, so a scan walks over at most that
		// much of the queue's deleted entries.
		return keys, values
	}
	if bytes.Compare(cursor, start) > 0 {
		st.Set(cursorKey, cursor)
	}
	return keys, values
}

// lagsBy reports whether the 8-byte big-endian number after the prefix in
// cursor (of prefix length n) is step or more below bound's; a missing cursor
// lags.
func lagsBy(cursor, bound []byte, n int, step uint64) bool {
	if len(cursor) < n+8 || len(bound) < n+8 {
		return true
	}
	c, b := binary.BigEndian.Uint64(cursor[n:n+8]), binary.BigEndian.Uint64(bound[n:n+8])
	return c < b && b-c >= step
}

// ExpiryBacklog returns how many lapsing migration proposals and expired
// transaction ids wait for BeginBlock at block time t, each counted up to
// limit: beyond MaxExpiriesPerBlock they wait for the next blocks.
func ExpiryBacklog(r kv.Reader, t time.Time, limit int) (lapses, replays int) {
	count := func(prefix, cursorKey, bound []byte) int {
		n := 0
		from := r.Get(cursorKey)
		if from == nil {
			from = prefix
		}
		kv.IterateRange(r, from, bound, func(k, _ []byte) bool {
			if n == limit {
				return false
			}
			n++
			return true
		})
		return n
	}
	lapses = count(prefixLapse, keyLapseCursor, lapseBound(t))
	// The replay set's ids below the bound, from the chunk the cursor names.
	from := bytes.Clone(prefixReplayByTime)
	if c := r.Get(keyReplayCursor); len(c) >= len(prefixReplayChunk)+8 {
		from = append(from, c[len(prefixReplayChunk):len(prefixReplayChunk)+8]...)
	}
	kv.IterateRange(r, from, replayBound(prefixReplayByTime, t), func(k, _ []byte) bool {
		if replays == limit {
			return false
		}
		replays++
		return true
	})
	return lapses, replays
}

// EndBlock returns the validator changes the block's transactions made, sorted by
// key, and clears them.
func (l *Ledger) EndBlock(st kv.Store) []ValidatorUpdate {
	var out []ValidatorUpdate
	var keys [][]byte
	st.Iterate(prefixValUpdate, nil, func(k, v []byte) bool {
		var u ValidatorUpdate
		if err := json.Unmarshal(v, &u); err != nil {
			panic(fmt.Sprintf("ledger: corrupt validator update: %v", err))
		}
		out = append(out, u)
		keys = append(keys, bytes.Clone(k))
		return true
	})
	for _, k := range keys {
		st.Delete(k)
	}
	return out
}

// Check runs the checks that need no block: encoding, chain, expiry against
// the time of last (the last block's height, and the time the caller expects
// the next block to carry), replay, signer and signature. A consensus engine
// calls it before admitting a transaction to its mempool.
func (l *Ledger) Check(r kv.Reader, last Header, raw []byte) Result {
	last = last.utc()
	tx, _, err := l.authenticate(r, last, raw, l.decode)
	res := Result{}
	if tx != nil {
		res.TxID, res.Type, res.Signer = tx.ID, tx.Action.Type(), tx.Signer
	}
	if err != nil {
		res.Code, res.Message = bbus.ErrorCode(err), bbus.ErrorMessage(err)
	}
	return res
}

// Apply applies one transaction of the block with header h. A rejected
// transaction changes nothing in st.
//
// Apply is total: a panic raised while the ledger applies its rules (a bug)
// rejects the transaction with EINTERNAL and a message that is the same on
// every validator, its staged writes discarded, and Result.Fault says what
// failed. A storage fault (a panic with a *kv.StorageError) is not caught: a
// validator that cannot read its state must stop.
func (l *Ledger) Apply(st kv.Store, h Header, raw []byte) (res Result) {
	h = h.utc()
	defer func() {
		if v := recover(); v != nil {
			if kv.IsStorageFault(v) {
				panic(v)
			}
			typ := res.Type
			if typ == "" {
				typ = "unknown"
			}
			res.Code = bbus.EINTERNAL
			res.Message = "internal error: the ledger failed applying this " + typ + " transaction; it was rejected and changed nothing"
			res.ID, res.Events = "", nil
			res.Fault = fmt.Sprint(v)
		}
	}()
	tx, who, err := l.authenticate(st, h, raw, l.decode)
	if tx != nil {
		res.TxID, res.Type, res.Signer = tx.ID, tx.Action.Type(), tx.Signer
	}
	if err == nil {
		c := &ctx{st: kv.NewOverlay(st), h: h, tx: tx, signer: who.cloud, oracle: who.oracle, invitation: who.invitation, stamp: bbus.Stamp{At: h.Time, Height: h.Height, Tx: tx.ID}}
		if err = c.run(); err == nil {
			c.rememberTx()
			err = c.checkWrites()
		}
		if err == nil {
			c.st.WriteTo(st)
			res.ID, res.Events = c.id, c.events
			return res
		}
	}
	res.Code, res.Message = bbus.ErrorCode(err), bbus.ErrorMessage(err)
	if res.Code == bbus.EINTERNAL {
		// Only a bug gets here; the message must still be the same on every validator.
		res.Message = "internal error: " + res.Message
	}
	return res
}

// principal is who signed a transaction: a cloud or an oracle, or for an
// application to join, the invitation it applies with.
type principal struct {
	cloud      *bbus.Cloud
	oracle     *bbus.Oracle
	invitation *bbus.Invitation
}

// authenticate decodes raw and checks chain, expiry, replay, that an
// applicant was invited, the signature, the signer's standing, and the ranges
// of every field.
func (l *Ledger) authenticate(r kv.Reader, h Header, raw []byte, decode DecodeFunc) (*bbus.SignedTx, principal, error) {
	var who principal
	tx, err := decode(raw)
	if err != nil {
		return nil, who, err
	}
	if chain := ChainID(r); tx.ChainID != chain {
		return tx, who, bbus.Errorf(bbus.EWRONGCHAIN, "transaction is for chain %q, this is chain %q", tx.ChainID, chain)
	}
	now := h.Time.Unix()
	if tx.Expires < now {
		return tx, who, bbus.Errorf(bbus.EEXPIRED, "transaction expired at %s, block time is %s", unixString(tx.Expires), h.Time.UTC().Format(time.RFC3339))
	}
	if ttl := Params(r).TxMaxTTLSeconds; tx.Expires-now > ttl { // expires >= now here: no overflow
		return tx, who, bbus.Errorf(bbus.EEXPIRED, "transaction expires at %s, more than %d seconds after block time %s (is the signer's clock right?)", unixString(tx.Expires), ttl, h.Time.UTC().Format(time.RFC3339))
	}
	if r.Get(replayKey(tx.Expires, tx.ID)) != nil {
		return tx, who, bbus.Errorf(bbus.EREPLAY, "transaction %s was already committed", tx.ID)
	}
	if err := bbus.ValidateID("signer", tx.Signer); err != nil {
		return tx, who, err
	}
	var pub []byte
	status := bbus.CloudActive
	switch a := &tx.Action; {
	case a.CloudJoin != nil:
		pub = a.CloudJoin.PubKey
		if who.invitation, err = invitationFor(r, h, tx.Signer, bbus.InviteCloud, pub, a.CloudJoin.ValidatorKey); err != nil {
			return tx, who, err
		}
	case a.OracleJoin != nil:
		pub = a.OracleJoin.PubKey
		if who.invitation, err = invitationFor(r, h, tx.Signer, bbus.InviteOracle, pub, nil); err != nil {
			return tx, who, err
		}
	default:
		if c := new(bbus.Cloud); getJSON(r, cloudKey(tx.Signer), c) {
			who.cloud, pub, status = c, c.PubKey, c.Status
		} else if o := new(bbus.Oracle); getJSON(r, oracleKey(tx.Signer), o) {
			who.oracle, pub, status = o, o.PubKey, o.Status
		} else {
			return tx, who, bbus.Errorf(bbus.EUNKNOWNSIGNER, "no cloud or oracle %s is known to the federation", tx.Signer)
		}
	}
	if len(pub) != 32 {
		return tx, who, bbus.Errorf(bbus.EINVALID, "pub_key is %d bytes, an ed25519 key is 32", len(pub))
	}
	if !l.verify(pub, tx.BodyBytes, tx.Sig) {
		return tx, who, bbus.Errorf(bbus.EBADSIG, "signature does not verify with the key of %s", tx.Signer)
	}
	if status != bbus.CloudActive {
		return tx, who, bbus.Errorf(bbus.ENOTMEMBER, "%s is %s, not an active member", tx.Signer, status)
	}
	// Every value in range (bbus.Body.Validate) before any rule uses it, and
	// the keys the action brings in sound: so CheckTx refuses what the rules
	// could not represent, and no block carries it.
	if err := tx.Body.Validate(); err != nil {
		return tx, who, err
	}
	for _, k := range tx.Action.PublicKeys() {
		if err := l.CheckKey(k.Field, k.Key); err != nil {
			return tx, who, err
		}
	}
	return tx, who, nil
}

// SignerKey returns the key authenticate checks tx's signature with, read
// from r: its signer's (or, for an application to join, the key it names);
// nil when r knows no such signer. A node uses it to check signatures ahead
// of CheckTx, many at once (keys.VerifyCache.Prime); the ledger still checks
// each one itself.
func SignerKey(r kv.Reader, tx *bbus.SignedTx) []byte {
	switch a := &tx.Action; {
	case a.CloudJoin != nil:
		return a.CloudJoin.PubKey
	case a.OracleJoin != nil:
		return a.OracleJoin.PubKey
	case bbus.ValidateID("signer", tx.Signer) != nil:
		return nil
	}
	if c := new(bbus.Cloud); getJSON(r, cloudKey(tx.Signer), c) {
		return c.PubKey
	}
	if o := new(bbus.Oracle); getJSON(r, oracleKey(tx.Signer), o) {
		return o.PubKey
	}
	return nil
}

// ctx is one transaction being applied: its writes are staged in st and reach
// the block's state only if run succeeds.
type ctx struct {
	st     *kv.Overlay
	h      Header
	tx     *bbus.SignedTx
	signer *bbus.Cloud  // the signing cloud, if a cloud signed
	oracle *bbus.Oracle // the signing oracle, if an oracle signed
	// invitation is what an applicant (cloud_join, oracle_join) applies with.
	invitation *bbus.Invitation
	stamp      bbus.Stamp
	id         string
	events     []Event
}

func (c *ctx) run() error {
	a := &c.tx.Action
	switch {
	case c.oracle != nil && a.Report == nil:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "%s is an oracle; oracles may only report", c.tx.Signer)
	case a.Report != nil && c.oracle == nil:
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only an approved oracle may report; %s is not one", c.tx.Signer)
	}
	switch {
	case a.CloudJoin != nil:
		return c.cloudJoin(a.CloudJoin)
	case a.CloudApprove != nil:
		return c.cloudApprove(a.CloudApprove)
	case a.CloudRemove != nil:
		return c.cloudRemove(a.CloudRemove.Cloud)
	case a.VMRegister != nil:
		return c.vmRegister(a.VMRegister)
	case a.VMTerminate != nil:
		return c.vmTerminate(a.VMTerminate.VM)
	case a.MigrationPropose != nil:
		return c.migrationPropose(a.MigrationPropose)
	case a.MigrationAccept != nil:
		return c.migrationAccept(a.MigrationAccept.Migration)
	case a.MigrationComplete != nil:
		return c.migrationComplete(a.MigrationComplete.Migration)
	case a.MigrationReject != nil:
		return c.migrationEnd(a.MigrationReject.Migration, bbus.MigrationRejected)
	case a.MigrationCancel != nil:
		return c.migrationEnd(a.MigrationCancel.Migration, bbus.MigrationCancelled)
	case a.OfferPublish != nil:
		return c.offerPublish(a.OfferPublish)
	case a.AgreementPropose != nil:
		return c.agreementPropose(a.AgreementPropose)
	case a.AgreementSign != nil:
		return c.agreementSign(a.AgreementSign.Agreement)
	case a.AgreementDecline != nil:
		return c.agreementDecline(a.AgreementDecline)
	case a.OracleJoin != nil:
		return c.oracleJoin(a.OracleJoin)
	case a.OracleApprove != nil:
		return c.oracleApprove(a.OracleApprove)
	case a.Report != nil:
		return c.report(a.Report)
	case a.InvoiceClose != nil:
		return c.invoiceClose(a.InvoiceClose)
	case a.InvoiceAccept != nil:
		return c.invoiceAnswer(a.InvoiceAccept.Invoice, bbus.InvoiceAccepted, "")
	case a.InvoiceDispute != nil:
		return c.invoiceAnswer(a.InvoiceDispute.Invoice, bbus.InvoiceDisputed, a.InvoiceDispute.Reason)
	case a.CloudInvite != nil:
		return c.cloudInvite(a.CloudInvite)
	case a.OracleInvite != nil:
		return c.oracleInvite(a.OracleInvite)
	case a.CloudUpdate != nil:
		return c.cloudUpdate(a.CloudUpdate)
	case a.ObserverInvite != nil:
		return c.observerInvite(a.ObserverInvite)
	case a.ObserverApprove != nil:
		return c.observerApprove(a.ObserverApprove)
	case a.ObserverRemove != nil:
		return c.observerRemove(a.ObserverRemove)
	case a.OracleRemove != nil:
		return c.oracleRemove(a.OracleRemove)
	case a.InvoiceCorrect != nil:
		return c.invoiceCorrect(a.InvoiceCorrect)
	}
	return bbus.Errorf(bbus.EMALFORMED, "unknown action")
}

// The most one transaction may write: keys (each set or delete counts once)
// and bytes of keys and values. A transaction's own content is at most
// bbus.MaxTxBytes (refused at CheckTx), so only what a transaction does to
// what the state holds (an invoice's lines, a removal's ends) can come near:
// over either bound it is rejected with ETOOLARGE and changes nothing.
const (
	MaxTxWriteKeys  = 12_000
	MaxTxWriteBytes = 8 << 20
)

// txWriteLimit is what checkWrites enforces (tests lower it).
var txWriteLimit = struct{ keys, bytes int }{MaxTxWriteKeys, MaxTxWriteBytes}

// checkWrites refuses a transaction whose staged writes are over the bound.
func (c *ctx) checkWrites() error {
	if n, b := c.st.Len(), c.st.Bytes(); n > txWriteLimit.keys || b > txWriteLimit.bytes {
		return bbus.Errorf(bbus.ETOOLARGE, "this %s would write %d keys and %d bytes of state; one transaction may write at most %d keys and %d bytes",
			c.tx.Action.Type(), n, b, txWriteLimit.keys, txWriteLimit.bytes)
	}
	return nil
}

// rememberTx records the transaction's id until its expiry so it cannot be
// replayed: in its chunk of the replay set (replay.go) and in the index of
// ids that admission reads.
func (c *ctx) rememberTx() {
	c.st.Set(replayKey(c.tx.Expires, c.tx.ID), []byte{})
	k := replayChunkKey(c.tx.Expires, c.h.Height, nextInBlock(c.st, c.h.Height)/replayChunkIDs)
	c.st.Set(k, append(bytes.Clone(c.st.Get(k)), hexID(c.tx.ID)...))
	noteDue(c.st, dueSecond(uint64(c.tx.Expires), true))
}

func (c *ctx) emit(typ string, kvs ...string) {
	e := Event{Type: typ}
	for i := 0; i+1 < len(kvs); i += 2 {
		e.Attrs = append(e.Attrs, Attr{kvs[i], kvs[i+1]})
	}
	c.events = append(c.events, e)
}

func migrationEvent(typ string, m *bbus.Migration) Event {
	return Event{Type: typ, Attrs: []Attr{{"migration", m.ID}, {"vm", m.VM}, {"from", m.From}, {"to", m.To}}}
}

// activeMembers returns the ids of active clouds, sorted.
func activeMembers(r kv.Reader) []string {
	var ids []string
	r.Iterate(prefixCloud, nil, func(k, v []byte) bool {
		var c bbus.Cloud
		mustUnmarshal(v, &c)
		if c.Status == bbus.CloudActive {
			ids = append(ids, c.ID)
		}
		return true
	})
	return ids
}

// insertSorted adds s to the sorted slice xs if absent and reports whether it did.
func insertSorted(xs []string, s string) ([]string, bool) {
	i := sort.SearchStrings(xs, s)
	if i < len(xs) && xs[i] == s {
		return xs, false
	}
	xs = append(xs, "")
	copy(xs[i+1:], xs[i:])
	xs[i] = s
	return xs, true
}
