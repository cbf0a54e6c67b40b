package ledger

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// MaxLimit is the most items one page of a list holds.
const MaxLimit = 1000

// DefaultLimit is a page's size when the caller names none.
const DefaultLimit = 100

// pageLimit is how many items a page holds: p.Limit within 1 and MaxLimit,
// DefaultLimit when p names none.
func pageLimit(p bbus.Page) int {
	switch {
	case p.Limit <= 0:
		return DefaultLimit
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

// Cloud returns the cloud with the given id.
func Cloud(r kv.Reader, id string) (*bbus.Cloud, error) {
	c := new(bbus.Cloud)
	if bbus.ValidateID("cloud", id) != nil || !getJSON(r, cloudKey(id), c) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no cloud %q", clipID(id))
	}
	return c, nil
}

// Clouds returns clouds in id order, and the cursor of the next page ("" at the end).
func Clouds(r kv.Reader, p bbus.Page) ([]bbus.Cloud, string) {
	return listByID(r, prefixCloud, p, func(c *bbus.Cloud) string { return c.ID })
}

// listByID pages through the records stored under prefix+<id>, in id order;
// the cursor is the last id of a page.
func listByID[T any](r kv.Reader, prefix []byte, p bbus.Page, id func(*T) string) ([]T, string) {
	out := []T{}
	next := ""
	r.Iterate(prefix, after(prefix, p.After), func(_, v []byte) bool {
		if len(out) == pageLimit(p) {
			next = id(&out[len(out)-1])
			return false
		}
		var rec T
		mustUnmarshal(v, &rec)
		out = append(out, rec)
		return true
	})
	return out, next
}

// VM returns the VM with the given id.
func VM(r kv.Reader, id string) (*bbus.VM, error) {
	vm := new(bbus.VM)
	if bbus.ValidateID("vm", id) != nil || !getJSON(r, vmKey(id), vm) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no VM %q", clipID(id))
	}
	return vm, nil
}

// VMs returns VMs in id order, and the cursor of the next page.
func VMs(r kv.Reader, p bbus.Page) ([]bbus.VM, string) {
	return listByID(r, prefixVM, p, func(vm *bbus.VM) string { return vm.ID })
}

// VMHistory returns a VM with its hosting intervals and migrations, oldest first.
func VMHistory(r kv.Reader, id string) (*bbus.History, error) {
	vm, err := VM(r, id)
	if err != nil {
		return nil, err
	}
	h := &bbus.History{VM: *vm, Intervals: intervals(r, id), Migrations: []bbus.Migration{}}
	r.Iterate([]byte("mv/"+id+"/"), nil, func(k, _ []byte) bool {
		var m bbus.Migration
		getJSON(r, migrationKey(binary.BigEndian.Uint64(k[len(k)-8:])), &m)
		h.Migrations = append(h.Migrations, m)
		return true
	})
	return h, nil
}

func intervals(r kv.Reader, vm string) []bbus.Interval {
	out := []bbus.Interval{}
	r.Iterate([]byte("h/"+vm+"/"), nil, func(_, v []byte) bool {
		var iv bbus.Interval
		mustUnmarshal(v, &iv)
		out = append(out, iv)
		return true
	})
	return out
}

// VMIntervals returns one page of a VM's hosting intervals, oldest first, and
// the cursor of the next page: the last interval's sequence number ("" at the
// end). It seeks to the cursor, so a page costs what it holds, however long
// the VM's history.
func VMIntervals(r kv.Reader, id string, p bbus.Page) ([]bbus.Interval, string, error) {
	if _, err := VM(r, id); err != nil {
		return nil, "", err
	}
	var from int64 = 1
	if p.After != "" {
		n, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil || n < 0 {
			return nil, "", bbus.Errorf(bbus.EINVALID, "after %q is not a cursor of this list (an interval's sequence number)", clipID(p.After))
		}
		from = n + 1
	}
	out := []bbus.Interval{}
	next := ""
	r.Iterate([]byte("h/"+id+"/"), intervalKey(id, from), func(_, v []byte) bool {
		if len(out) == pageLimit(p) {
			next = strconv.FormatInt(out[len(out)-1].Seq, 10)
			return false
		}
		var iv bbus.Interval
		mustUnmarshal(v, &iv)
		out = append(out, iv)
		return true
	})
	return out, next, nil
}

// intervalAt returns the last of the VM's n intervals that started at or
// before t, found by binary search over their sequence numbers (intervals
// start in the order of their numbers), reading O(log n) records; ok is false
// if none had started by t.
func intervalAt(r kv.Reader, vm string, n int64, t time.Time) (iv bbus.Interval, ok bool) {
	lo, hi := int64(1), n // the answer is in [lo-1, hi]
	for lo <= hi {
		mid := lo + (hi-lo)/2
		var m bbus.Interval
		if !getJSON(r, intervalKey(vm, mid), &m) {
			panic("ledger: VM " + vm + " is missing a hosting interval")
		}
		if m.Start.At.After(t) {
			hi = mid - 1
		} else {
			iv, ok, lo = m, true, mid+1
		}
	}
	return iv, ok
}

// HostAt returns the hosting interval of a VM that covers time t: the one that
// started at or before t and had not ended by t. It seeks to that interval,
// reading O(log n) of the VM's n intervals.
func HostAt(r kv.Reader, id string, t time.Time) (*bbus.Interval, error) {
	vm, err := VM(r, id)
	if err != nil {
		return nil, err
	}
	iv, ok := intervalAt(r, id, vm.Intervals, t)
	if ok {
		if iv.End == nil || t.Before(iv.End.At) {
			return &iv, nil
		}
		if vm.Terminated != nil && iv.Seq == vm.Intervals {
			return nil, bbus.Errorf(bbus.ENOTFOUND, "VM %s was terminated at %s", id, vm.Terminated.At.Format(time.RFC3339Nano))
		}
	}
	return nil, bbus.Errorf(bbus.ENOTFOUND, "VM %s was not registered until %s", id, vm.Registered.At.Format(time.RFC3339Nano))
}

// Migration returns the migration with the given id.
func Migration(r kv.Reader, id string) (*bbus.Migration, error) {
	seq, ok := migrationSeq(id)
	m := new(bbus.Migration)
	if !ok || !getJSON(r, migrationKey(seq), m) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no migration %q", clipID(id))
	}
	return m, nil
}

// filterIndex checks a filter's vm and cloud ids and returns the prefix of
// the index a listing filtered by them reads: byVM + vm + "/" when vm is
// given, else byCloud + cloud + "/" when cloud is, else "" (the whole list).
func filterIndex(vm, cloud, byVM, byCloud string) (string, error) {
	if err := validFilterID("vm", vm); err != nil {
		return "", err
	}
	if err := validFilterID("cloud", cloud); err != nil {
		return "", err
	}
	switch {
	case vm != "":
		return byVM + vm + "/", nil
	case cloud != "":
		return byCloud + cloud + "/", nil
	}
	return "", nil
}

// Migrations returns the migrations that match f, in the order they were
// proposed, and the cursor of the next page.
func Migrations(r kv.Reader, f bbus.MigrationFilter, p bbus.Page) ([]bbus.Migration, string, error) {
	index, err := filterIndex(f.VM, f.Cloud, "mv/", "mc/")
	if err != nil {
		return nil, "", err
	}
	return listSeq(r, "mig", "m/", index, p, func(m *bbus.Migration) bool {
		return (f.Cloud == "" || m.From == f.Cloud || m.To == f.Cloud) &&
			(f.Status == "" || m.Status == f.Status) &&
			(f.Since.IsZero() || !m.Proposed.At.Before(f.Since)) &&
			(f.Until.IsZero() || m.Proposed.At.Before(f.Until))
	}, func(m *bbus.Migration) string { return m.ID })
}

// after returns the iteration start just past id under prefix, or nil.
func after(prefix []byte, id string) []byte {
	if id == "" {
		return nil
	}
	return append(append(bytes.Clone(prefix), id...), 0)
}
