package ledger

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// MaxLimit is the most items one page of a list holds.
const MaxLimit = 1000

// DefaultLimit is a page's size when the caller names none.
const DefaultLimit = 100

// Page asks for one page of a list: at most Limit items after the cursor After
// (a Next value from the previous page; empty for the first page).
type Page struct {
	Limit int
	After string
}

func (p Page) limit() int {
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
func Clouds(r kv.Reader, p Page) ([]bbus.Cloud, string) {
	return listByID(r, prefixCloud, p, func(c *bbus.Cloud) string { return c.ID })
}

// listByID pages through the records stored under prefix+<id>, in id order;
// the cursor is the last id of a page.
func listByID[T any](r kv.Reader, prefix []byte, p Page, id func(*T) string) ([]T, string) {
	out := []T{}
	next := ""
	r.Iterate(prefix, after(prefix, p.After), func(_, v []byte) bool {
		if len(out) == p.limit() {
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
func VMs(r kv.Reader, p Page) ([]bbus.VM, string) {
	return listByID(r, prefixVM, p, func(vm *bbus.VM) string { return vm.ID })
}

// History is everything the ledger knows of where a VM ran.
type History struct {
	VM         bbus.VM          `json:"vm"`
	Intervals  []bbus.Interval  `json:"intervals"`
	Migrations []bbus.Migration `json:"migrations"`
}

// VMHistory returns a VM with its hosting intervals and migrations, oldest first.
func VMHistory(r kv.Reader, id string) (*History, error) {
	vm, err := VM(r, id)
	if err != nil {
		return nil, err
	}
	h := &History{VM: *vm, Intervals: intervals(r, id), Migrations: []bbus.Migration{}}
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

// HostAt returns the hosting interval of a VM that covers time t: the one that
// started at or before t and had not ended by t.
func HostAt(r kv.Reader, id string, t time.Time) (*bbus.Interval, error) {
	vm, err := VM(r, id)
	if err != nil {
		return nil, err
	}
	ivs := intervals(r, id)
	for i := len(ivs) - 1; i >= 0; i-- {
		iv := ivs[i]
		if iv.Start.At.After(t) {
			continue
		}
		if iv.End != nil && !t.Before(iv.End.At) {
			if vm.Terminated != nil && i == len(ivs)-1 {
				return nil, bbus.Errorf(bbus.ENOTFOUND, "VM %s was terminated at %s", id, vm.Terminated.At.Format(time.RFC3339Nano))
			}
			break
		}
		return &iv, nil
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

// MigrationFilter narrows a list of migrations. Zero fields match everything.
// Since and Until bound the time it was proposed: Since <= proposed < Until.
type MigrationFilter struct {
	VM     string
	Cloud  string // as source or destination
	Status string
	Since  time.Time
	Until  time.Time
}

// Migrations returns the migrations that match f, in the order they were
// proposed, and the cursor of the next page.
func Migrations(r kv.Reader, f MigrationFilter, p Page) ([]bbus.Migration, string, error) {
	if err := validFilterID("vm", f.VM); err != nil {
		return nil, "", err
	}
	if err := validFilterID("cloud", f.Cloud); err != nil {
		return nil, "", err
	}
	index := ""
	switch {
	case f.VM != "":
		index = "mv/" + f.VM + "/"
	case f.Cloud != "":
		index = "mc/" + f.Cloud + "/"
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
