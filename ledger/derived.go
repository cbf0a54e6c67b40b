package ledger

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// The migration lifecycle writes four indexes beside each migration record:
// mv/ (a VM's migrations), mc/ (a cloud's, as source and as destination), mo/
// (a cloud's open ones) and l/ (the proposals by lapse time). Each is a
// function of the migration records alone, so the state tree (the app hash)
// leaves them out: it commits to the records, and the records decide the
// indexes. They are four of a lifecycle's six writes per transaction, and
// keeping them out of the tree takes about a quarter off a block's work
// (docs/DESIGN.md). A node restored from a snapshot, which carries only what
// the tree holds, rebuilds them with RebuildDerived.

// Derived reports whether key belongs to an index derived from the migration
// records, or to the replay set's index of ids (replay.go): outside the state
// tree, rebuilt by RebuildDerived.
func Derived(key []byte) bool {
	if len(key) < 2 {
		return false
	}
	switch key[0] {
	case 'r':
		return len(key) > 2 && key[1] == 't' && key[2] == '/'
	case 'l':
		return key[1] == '/'
	case 'm':
		return len(key) > 2 && key[2] == '/' && (key[1] == 'v' || key[1] == 'c' || key[1] == 'o')
	}
	return false
}

// derivedOf returns the index keys, and their values, that the ledger keeps
// for migration m with sequence number seq: what migrationPropose writes,
// less what accepting, ending and lapsing it delete.
func derivedOf(m *bbus.Migration, seq uint64) []kv.Change {
	ch := []kv.Change{
		{Key: migrationByVMKey(m.VM, seq), Value: []byte{}},
		{Key: migrationByCloudKey(m.From, seq), Value: []byte{}},
		{Key: migrationByCloudKey(m.To, seq), Value: []byte{}},
	}
	if m.Open() {
		ch = append(ch, kv.Change{Key: openMigrationKey(m.From, seq), Value: []byte{}},
			kv.Change{Key: openMigrationKey(m.To, seq), Value: []byte{}})
	}
	if m.Status == bbus.MigrationProposed {
		ch = append(ch, kv.Change{Key: lapseKey(m.LapsesAt, seq), Value: migrationKey(seq)})
	}
	return ch
}

// eachMigration calls fn with every migration record of r, in sequence order.
func eachMigration(r kv.Reader, fn func(m *bbus.Migration, seq uint64)) {
	r.Iterate([]byte("m/"), nil, func(k, v []byte) bool {
		var m bbus.Migration
		mustUnmarshal(v, &m)
		fn(&m, binary.BigEndian.Uint64(k[len(k)-8:]))
		return true
	})
}

// RebuildDerived writes, into st, the derived indexes of every migration
// record st holds, and the replay set's index of the ids its chunks hold. It
// reads the whole state: it runs once, when a node restores a snapshot, not
// in a block.
func RebuildDerived(st kv.Store) {
	var writes []kv.Change // collected first: st is not written while it is read
	eachMigration(st, func(m *bbus.Migration, seq uint64) { writes = append(writes, derivedOf(m, seq)...) })
	eachReplayed(st, func(k []byte) { writes = append(writes, kv.Change{Key: k, Value: []byte{}}) })
	for _, c := range writes {
		st.Set(c.Key, c.Value)
	}
}

// CheckDerived compares the derived indexes r holds with those its
// migration records and replay chunks decide, and names the first difference: the invariant
// that lets the tree leave them out. Tests run it after every history.
func CheckDerived(r kv.Reader) error {
	want := map[string]string{}
	eachMigration(r, func(m *bbus.Migration, seq uint64) {
		for _, c := range derivedOf(m, seq) {
			want[string(c.Key)] = string(c.Value)
		}
	})
	eachReplayed(r, func(k []byte) { want[string(k)] = "" })
	var err error
	seen := map[string]bool{}
	for _, prefix := range []string{"l/", "mc/", "mo/", "mv/", "rt/"} {
		r.Iterate([]byte(prefix), nil, func(k, v []byte) bool {
			seen[string(k)] = true
			w, ok := want[string(k)]
			switch {
			case !ok:
				err = fmt.Errorf("ledger: index key %q is in the state, but no migration record decides it", k)
			case w != string(v):
				err = fmt.Errorf("ledger: index key %q holds %q, its migration record decides %q", k, v, w)
			}
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	var missing []string
	for k := range want {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("ledger: %d index keys are missing from the state, though their migration records decide them: %q first", len(missing), missing[0])
	}
	return nil
}
