package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// read answers a GET with what fn computes over one committed snapshot.
func (a *api) read(w http.ResponseWriter, r *http.Request, fn func(kv.Reader) (any, error)) {
	var out any
	err := a.b.View(func(rd kv.Reader) error {
		var err error
		out, err = fn(rd)
		return err
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) clouds(w http.ResponseWriter, r *http.Request) {
	p, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	a.read(w, r, func(rd kv.Reader) (any, error) {
		items, next := ledger.Clouds(rd, p)
		return &bbus.List[bbus.Cloud]{Items: items, Next: next}, nil
	})
}

func (a *api) cloud(w http.ResponseWriter, r *http.Request) {
	a.read(w, r, func(rd kv.Reader) (any, error) { return ledger.Cloud(rd, r.PathValue("id")) })
}

func (a *api) vms(w http.ResponseWriter, r *http.Request) {
	p, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	a.read(w, r, func(rd kv.Reader) (any, error) {
		items, next := ledger.VMs(rd, p)
		return &bbus.List[bbus.VM]{Items: items, Next: next}, nil
	})
}

func (a *api) vm(w http.ResponseWriter, r *http.Request) {
	a.read(w, r, func(rd kv.Reader) (any, error) { return ledger.VM(rd, r.PathValue("id")) })
}

func (a *api) vmHistory(w http.ResponseWriter, r *http.Request) {
	a.read(w, r, func(rd kv.Reader) (any, error) { return ledger.VMHistory(rd, r.PathValue("id")) })
}

// vmIntervals serves one page of a VM's hosting intervals: what history
// holds, for a VM too long-lived to read in one response.
func (a *api) vmIntervals(w http.ResponseWriter, r *http.Request) {
	p, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	a.read(w, r, func(rd kv.Reader) (any, error) {
		items, next, err := ledger.VMIntervals(rd, r.PathValue("id"), p)
		return &bbus.List[bbus.Interval]{Items: items, Next: next}, err
	})
}

// vmWindows serves one page of a VM's reported windows, each with its
// reports by oracle and, once decided, the combined value.
func (a *api) vmWindows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := pageParams(q)
	if err != nil {
		writeError(w, err)
		return
	}
	since, terr := timeParam(q, "since")
	if terr != nil {
		writeError(w, terr)
		return
	}
	var from int64
	if !since.IsZero() {
		from = since.Unix()
	}
	a.read(w, r, func(rd kv.Reader) (any, error) {
		items, next, err := ledger.Windows(rd, r.PathValue("id"), from, p)
		return &bbus.List[bbus.Window]{Items: items, Next: next}, err
	})
}

func (a *api) hostAt(w http.ResponseWriter, r *http.Request) {
	at, err := timeParam(r.URL.Query(), "at")
	if err == nil && at.IsZero() {
		err = bbus.Errorf(bbus.EINVALID, "parameter at is required: the RFC 3339 time to look up, like 2025-01-02T15:04:05Z")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	a.read(w, r, func(rd kv.Reader) (any, error) { return ledger.HostAt(rd, r.PathValue("id"), at) })
}

func (a *api) migration(w http.ResponseWriter, r *http.Request) {
	a.read(w, r, func(rd kv.Reader) (any, error) { return ledger.Migration(rd, r.PathValue("id")) })
}

// migrationStatuses are the values the status filter takes.
var migrationStatuses = []string{
	bbus.MigrationProposed, bbus.MigrationAccepted, bbus.MigrationCompleted,
	bbus.MigrationRejected, bbus.MigrationCancelled, bbus.MigrationLapsed,
}

func (a *api) migrations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := pageParams(q)
	if err != nil {
		writeError(w, err)
		return
	}
	f := bbus.MigrationFilter{VM: q.Get("vm"), Cloud: q.Get("cloud"), Status: q.Get("status")}
	if f.Status != "" && !slices.Contains(migrationStatuses, f.Status) {
		writeError(w, bbus.Errorf(bbus.EINVALID, "status %q is not one of %v", f.Status, migrationStatuses))
		return
	}
	if f.Since, err = timeParam(q, "since"); err != nil {
		writeError(w, err)
		return
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		writeError(w, err)
		return
	}
	a.read(w, r, func(rd kv.Reader) (any, error) {
		items, next, err := ledger.Migrations(rd, f, p)
		if err != nil {
			return nil, err
		}
		return &bbus.List[bbus.Migration]{Items: items, Next: next}, nil
	})
}

// pageParams reads limit (1 to ledger.MaxLimit; absent: ledger.DefaultLimit)
// and after (the next cursor of the previous page).
func pageParams(q url.Values) (bbus.Page, *bbus.Error) {
	p := bbus.Page{After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ledger.MaxLimit {
			return p, bbus.Errorf(bbus.EINVALID, "limit must be a whole number from 1 to %d, got %q", ledger.MaxLimit, v)
		}
		p.Limit = n
	}
	return p, nil
}

// timeParam reads an RFC 3339 time; absent, it is the zero time.
func timeParam(q url.Values, name string) (time.Time, *bbus.Error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil && strings.Contains(v, " ") {
		// An unescaped '+' of a time zone offset arrives as a space.
		t, err = time.Parse(time.RFC3339Nano, strings.ReplaceAll(v, " ", "+"))
	}
	if err != nil {
		return time.Time{}, bbus.Errorf(bbus.EINVALID, "parameter %s=%q is not an RFC 3339 time, like 2025-01-02T15:04:05Z", name, v)
	}
	return t, nil
}
