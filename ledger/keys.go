package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/bbusdev/bbus/kv"
)

// The state's key layout. Ids never contain '/', so "prefix/id/" bounds a scan.
// Numbers and times are 8-byte big-endian so that byte order is numeric order.
var (
	keyChainID      = []byte("meta/chain_id")
	keyRules        = []byte("meta/rules")
	keyParams       = []byte("meta/params")
	keyGenesisTime  = []byte("meta/genesis_time")
	keyMigrationSeq = []byte("meta/seq/migration")
	prefixCloud     = []byte("c/") // c/<cloud> -> Cloud
	prefixVM        = []byte("v/") // v/<vm> -> VM
	// h/<vm>/<seq> -> Interval
	// m/<seq> -> Migration
	// mv/<vm>/<seq> -> ""
	// mc/<cloud>/<seq> -> "" (as source and as destination)
	prefixLapse        = []byte("l/")  // l/<lapses_at ns><seq> -> migration key
	prefixReplayByTime = []byte("rt/") // rt/<expires s><txid 32 bytes> -> "": the replay set, by expiry (derived from rb/)
	// rb/<expires s><height><chunk> -> txids (32 bytes each): the replay
	// set's record in the state tree, the ids of a block's transactions that
	// expire in one second, in chunks of replayChunkIDs (replay.go)
	prefixReplayChunk = []byte("rb/")
	prefixValUpdate   = []byte("vu/") // vu/<validator key> -> ValidatorUpdate, cleared at EndBlock
)

func cloudKey(id string) []byte { return []byte("c/" + id) }
func vmKey(id string) []byte    { return []byte("v/" + id) }

func intervalKey(vm string, seq int64) []byte {
	return append([]byte("h/"+vm+"/"), uint64be(uint64(seq))...)
}

func migrationKey(seq uint64) []byte { return append([]byte("m/"), uint64be(seq)...) }

func migrationByVMKey(vm string, seq uint64) []byte {
	return append([]byte("mv/"+vm+"/"), uint64be(seq)...)
}

func migrationByCloudKey(cloud string, seq uint64) []byte {
	return append([]byte("mc/"+cloud+"/"), uint64be(seq)...)
}

func lapseKey(at time.Time, seq uint64) []byte {
	return append(append([]byte("l/"), timeKey(at)...), uint64be(seq)...)
}

// replayKey is the transaction's entry in the replay set. A transaction's id
// is the hash of its body, which holds its expiry, so the id and the expiry
// find it: the set needs no second key by id alone.
func replayKey(expires int64, txID string) []byte {
	return append(append(bytes.Clone(prefixReplayByTime), uint64be(uint64(expires))...), hexID(txID)...)
}

// MigrationID renders a migration's sequence number as its id.
func MigrationID(seq uint64) string { return seqID("mig", seq) }

// migrationSeq parses a migration id; ok is false for anything MigrationID
// cannot have produced.
func migrationSeq(id string) (uint64, bool) { return parseSeqID("mig", id) }

func uint64be(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// timeKey orders times as big-endian nanoseconds since 1970 (block times are later).
func timeKey(t time.Time) []byte { return uint64be(uint64(t.UnixNano())) }

func hexID(id string) []byte {
	b, err := hex.DecodeString(id)
	if err != nil {
		panic(fmt.Sprintf("ledger: transaction id %q is not hex", id))
	}
	return b
}

// nextSeq returns the next number of the counter at key and stores it.
func nextSeq(st kv.Store, key []byte) uint64 {
	var n uint64
	if v := st.Get(key); v != nil {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	st.Set(key, uint64be(n))
	return n
}

func putJSON(st kv.Store, key []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ledger: encode %s: %v", key, err))
	}
	st.Set(key, b)
}

// getJSON decodes the value at key into v and reports whether there was one.
func getJSON(r kv.Reader, key []byte, v any) bool {
	b := r.Get(key)
	if b == nil {
		return false
	}
	if !memoized(v) || !reflect.ValueOf(v).Elem().IsZero() {
		mustUnmarshal(b, v)
		return true
	}
	if !records.get(b, v) {
		mustUnmarshal(b, v)
		records.put(b, v)
	}
	return true
}

func mustUnmarshal(b []byte, v any) {
	if fastUnmarshal(b, v) {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		panic(fmt.Sprintf("ledger: corrupt state record: %v", err))
	}
}

// Keys of agreements, oracles, reports, violations and invoices.
var (
	keyAgreementSeq = []byte("meta/seq/agreement")
	keyReportSeq    = []byte("meta/seq/report")
	keyViolationSeq = []byte("meta/seq/violation")
	keyInvoiceSeq   = []byte("meta/seq/invoice")
	prefixOffer     = []byte("o/")  // o/<cloud> -> Offer
	prefixOracle    = []byte("or/") // or/<oracle> -> Oracle
	// a/<seq> -> Agreement; ac/<cloud>/<seq>, ap/<provider>/<consumer>/<seq> -> ""
	// vi/<seq> -> Violation; viv/<vm>/<seq>, vic/<cloud>/<seq> -> ""
	// i/<seq> -> Invoice; ic/<cloud>/<seq> -> ""; ip/<provider>/<consumer> -> last invoice
	// rp/<seq> -> Report; wg/, dw/, ro/: the windows of the oracles' quorum (quorum.go)
	// ib/<agreement seq>/<vm>/<interval seq> -> "": hosting intervals billed under an agreement
	// vib/<provider>/<consumer>/<seq> -> "": violations to invoice
)

func offerKey(cloud string) []byte          { return []byte("o/" + cloud) }
func oracleKey(id string) []byte            { return []byte("or/" + id) }
func seqKey(prefix string, n uint64) []byte { return append([]byte(prefix), uint64be(n)...) }

// seqID renders the n-th record of a kind as "<kind>-<n>": agr-1, rep-7, ...
func seqID(kind string, n uint64) string { return kind + "-" + strconv.FormatUint(n, 10) }

// parseSeqID parses an id seqID made; ok is false for anything else.
func parseSeqID(kind, id string) (uint64, bool) {
	s, ok := strings.CutPrefix(id, kind+"-")
	if !ok || s == "" || s[0] == '0' || len(s) > 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// billedKey indexes a hosting interval billed under the agreement with sequence number agr.
func billedKey(agr uint64, vm string, seq int64) []byte {
	k := append(append([]byte("ib/"), uint64be(agr)...), "/"+vm+"/"...)
	return append(k, uint64be(uint64(seq))...)
}

// Keys of open agreement proposals and open migrations: indexes that hold only
// what is open, so that expiring proposals and ending what a removed cloud
// touched costs what is open, never what the ledger ever recorded.
var (
	// ax/<expires_at s><seq> -> "": unsigned proposals by expiry
	prefixProposalExpiry = []byte("ax/")
	// ao/<cloud>/<seq> -> "": unsigned proposals naming the cloud (as provider or consumer)
	// mo/<cloud>/<seq> -> "": open migrations from or to the cloud
)

func proposalExpiryKey(at time.Time, seq uint64) []byte {
	return append(append(bytes.Clone(prefixProposalExpiry), uint64be(uint64(at.Unix()))...), uint64be(seq)...)
}

func openProposalKey(cloud string, seq uint64) []byte { return seqKey("ao/"+cloud+"/", seq) }

func openMigrationKey(cloud string, seq uint64) []byte { return seqKey("mo/"+cloud+"/", seq) }
