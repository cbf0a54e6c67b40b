package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// What evidence bundles prove (package evidence) is read here: which state
// keys hold the records a bundle proves, how to decode them, and the charges
// the ledger computed, recomputed by the functions that computed them. The
// state's key layout and its rules stay in this package alone.

// VMKey is the state key of VM id's record.
func VMKey(id string) []byte { return vmKey(id) }

// CloudKey is the state key of cloud id's record.
func CloudKey(id string) []byte { return cloudKey(id) }

// IntervalKey is the state key of VM vm's seq-th hosting interval.
func IntervalKey(vm string, seq int64) []byte { return intervalKey(vm, seq) }

// RecordKey is the state key of the record with the given id of a kind made
// by a sequence: "migration", "agreement", "report", "violation", "invoice".
// ok is false for an id no such record can have.
func RecordKey(kind, id string) (key []byte, ok bool) {
	var tag, prefix string
	switch kind {
	case "migration":
		tag, prefix = "mig", "m/"
	case "agreement":
		tag, prefix = "agr", "a/"
	case "report":
		tag, prefix = "rep", "rp/"
	case "violation":
		tag, prefix = "vio", "vi/"
	case "invoice":
		tag, prefix = "inv", "i/"
	default:
		return nil, false
	}
	seq, ok := parseSeqID(tag, id)
	if !ok {
		return nil, false
	}
	return seqKey(prefix, seq), true
}

func mustRecordKey(kind, id string) []byte {
	k, ok := RecordKey(kind, id)
	if !ok {
		panic("ledger: record " + id + " has no " + kind + " id")
	}
	return k
}

// VMEvidenceKeys returns the state keys whose proofs show a bundle of VM id's
// history complete: its record (which counts its intervals, migrations and
// transactions), its last hosting interval and its last migration.
func VMEvidenceKeys(r kv.Reader, id string) ([][]byte, error) {
	vm, err := VM(r, id)
	if err != nil {
		return nil, err
	}
	keys := [][]byte{vmKey(id), intervalKey(id, vm.Intervals)}
	if vm.LastMigration != "" {
		keys = append(keys, mustRecordKey("migration", vm.LastMigration))
	}
	return keys, nil
}

// InvoiceHead is an invoice's head as the state holds it: the invoice without
// its lines, and the range of sequence numbers of the violations of its pair
// whose penalties it includes.
type InvoiceHead struct {
	bbus.Invoice
	FirstViolation uint64 `json:"first_violation"`
	LastViolation  uint64 `json:"last_violation"`
}

// Line is a hosting line as the state holds it: Overflow marks a charge that
// does not fit in 64 bits, which no issued invoice includes.
type Line struct {
	bbus.InvoiceLine
	Overflow bool `json:"overflow,omitempty"`
}

// InvoiceEvidenceKeys returns the state keys that prove invoice id: its head,
// every hosting line of its period, the index entry of each violation whose
// penalty it includes with the violation and its report, and the records of
// every agreement and VM those name. Only an issued (or answered) invoice
// has evidence.
func InvoiceEvidenceKeys(r kv.Reader, id string) ([][]byte, error) {
	key, ok := RecordKey("invoice", id)
	head := new(InvoiceHead)
	if !ok || !getJSON(r, key, head) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no invoice %q", clipID(id))
	}
	switch head.Status {
	case bbus.InvoiceClosing, bbus.InvoiceVoid:
		return nil, bbus.Errorf(bbus.ESTATE, "invoice %s is %s: it bills nothing to prove yet", head.ID, head.Status)
	}
	keys := [][]byte{key}
	named := map[string]bool{}
	name := func(k []byte) {
		if !named[string(k)] {
			named[string(k)] = true
			keys = append(keys, k)
		}
	}
	P, C := head.Provider, head.Consumer
	prefix := []byte("pl/" + pairID(P, C))
	until := hostingLineKey(P, C, head.Until, 1<<64-1)
	var lines []Line
	r.Iterate(prefix, hostingLineKey(P, C, head.From.Add(time.Nanosecond), 0), func(k, v []byte) bool {
		if bytes.Compare(k, until) > 0 {
			return false
		}
		var l Line
		mustUnmarshal(v, &l)
		lines = append(lines, l)
		keys = append(keys, bytes.Clone(k))
		return true
	})
	for _, l := range lines {
		name(mustRecordKey("agreement", l.Agreement))
		name(vmKey(l.VM))
	}
	vib := "vib/" + pairID(P, C)
	var vios []uint64
	r.Iterate([]byte(vib), seqKey(vib, head.FirstViolation), func(k, _ []byte) bool {
		seq := binary.BigEndian.Uint64(k[len(k)-8:])
		if seq > head.LastViolation {
			return false
		}
		vios = append(vios, seq)
		keys = append(keys, bytes.Clone(k))
		return true
	})
	for _, seq := range vios {
		vk, err := ViolationEvidenceKeys(r, seqID("vio", seq))
		if err != nil {
			return nil, err
		}
		for _, k := range vk {
			name(k)
		}
	}
	return keys, nil
}

// ViolationEvidenceKeys returns the state keys that prove violation id: the
// violation, the report it comes from, the agreement it breaks and the VM
// (whose resources its charge is computed for).
func ViolationEvidenceKeys(r kv.Reader, id string) ([][]byte, error) {
	v, err := Violation(r, id)
	if err != nil {
		return nil, err
	}
	return [][]byte{mustRecordKey("violation", id), mustRecordKey("report", v.Report),
		mustRecordKey("agreement", v.Agreement), vmKey(v.VM)}, nil
}

// HostingLineKeyOf reports whether key is the state key of a hosting line of
// provider's invoices to consumer that ends at end.
func HostingLineKeyOf(key []byte, provider, consumer string, end time.Time) bool {
	if len(key) < 8 {
		return false
	}
	seq := binary.BigEndian.Uint64(key[len(key)-8:])
	return bytes.Equal(key, hostingLineKey(provider, consumer, end, seq))
}

// PenaltyKeyOf returns the sequence number of the violation whose penalty
// key lists among those provider charges consumer, or false if key is no such
// entry.
func PenaltyKeyOf(key []byte, provider, consumer string) (uint64, bool) {
	prefix := "vib/" + pairID(provider, consumer)
	if len(key) != len(prefix)+8 || !bytes.HasPrefix(key, []byte(prefix)) {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[len(prefix):]), true
}

// ViolationSeq returns the sequence number of violation id.
func ViolationSeq(id string) (uint64, bool) { return parseSeqID("vio", id) }

// DecodeRecord decodes a state record as the ledger reads it.
func DecodeRecord(value []byte, v any) error {
	if fastUnmarshal(value, v) {
		return nil
	}
	return json.Unmarshal(value, v)
}

// LineCharge returns what hosting r from start to end costs at the given
// prices, and the whole seconds billed: the charge of a hosting line, and of
// the part of a window a violation covers. ok is false when it does not fit
// in 64 bits.
func LineCharge(start, end time.Time, r bbus.Resources, priceVCPUHour, priceGiBHour int64) (amount, seconds int64, ok bool) {
	nanos, ok := spanNanos(start, end)
	if !ok {
		return 0, 0, false
	}
	amount, fits := bbus.Charge(nanos, r, priceVCPUHour, priceGiBHour)
	return amount, nanos / 1_000_000_000, fits
}

// HostingLineKey is the state key of the seq-th hosting line (of all pairs)
// that provider bills consumer, ending at end.
func HostingLineKey(provider, consumer string, end time.Time, seq uint64) []byte {
	return hostingLineKey(provider, consumer, end, seq)
}

// PenaltyKey is the state key that lists the violation with sequence number
// seq among the penalties provider owes consumer.
func PenaltyKey(provider, consumer string, seq uint64) []byte {
	return seqKey("vib/"+pairID(provider, consumer), seq)
}
