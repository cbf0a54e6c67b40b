package ledger

import (
	"encoding/base64"
	"reflect"
	"time"

	"github.com/bbusdev/bbus"
)

// A fast decoder for the records the ledger reads on every transaction
// (clouds, VMs, migrations, hosting intervals, parameters), written by
// json.Marshal: encoding/json's reflection reads them at ~40 MB/s, a third of a
// node's time per transaction. It accepts only what json.Marshal writes for
// these types and any deviation (an unknown, duplicate or differently spelt
// key, an escape, a non-ASCII byte, null, a float, ...) makes it decline, and
// mustUnmarshal falls back to encoding/json. What it accepts, it decodes
// exactly as encoding/json does (decode_test.go checks both on the same input).

// fastUnmarshal decodes b into v if it can, and reports whether it did. v is
// left untouched when it declines.
func fastUnmarshal(b []byte, v any) bool {
	switch p := v.(type) {
	case *bbus.Cloud:
		if !reflect.ValueOf(p).Elem().IsZero() {
			return false
		}
		d := decoder{b: b}
		var x bbus.Cloud
		if d.cloud(&x) && d.end() {
			*p = x
			return true
		}
	case *bbus.VM:
		if !reflect.ValueOf(p).Elem().IsZero() {
			return false
		}
		d := decoder{b: b}
		var x bbus.VM
		if d.vm(&x) && d.end() {
			*p = x
			return true
		}
	case *bbus.Migration:
		if !reflect.ValueOf(p).Elem().IsZero() {
			return false
		}
		d := decoder{b: b}
		var x bbus.Migration
		if d.migration(&x) && d.end() {
			*p = x
			return true
		}
	case *bbus.Interval:
		if !reflect.ValueOf(p).Elem().IsZero() {
			return false
		}
		d := decoder{b: b}
		var x bbus.Interval
		if d.interval(&x) && d.end() {
			*p = x
			return true
		}
	case *bbus.Params:
		if *p != (bbus.Params{}) {
			return false
		}
		d := decoder{b: b}
		var x bbus.Params
		if d.params(&x) && d.end() {
			*p = x
			return true
		}
	}
	return false
}

// decoder reads the canonical JSON of one value from b. Its methods return
// false on anything else; then the value is to be decoded by encoding/json.
type decoder struct {
	b []byte
	i int
}

func (d *decoder) end() bool { return d.i == len(d.b) }

func (d *decoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// quoted returns the bytes between the quotes of a string without escapes,
// control or non-ASCII characters.
func (d *decoder) quoted() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

func (d *decoder) str(dst *string) bool {
	s, ok := d.quoted()
	*dst = string(s)
	return ok
}

func (d *decoder) int(dst *int64) bool {
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || d.i-digits > 1 && d.b[digits] == '0' {
		return false
	}
	// A fraction or an exponent is no int64 json.Marshal writes.
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return false
	}
	// 19 digits fit a uint64; longer numbers are left to encoding/json.
	if d.i-digits > 19 {
		return false
	}
	var n uint64
	for _, c := range d.b[digits:d.i] {
		n = n*10 + uint64(c-'0')
	}
	neg := digits > start
	if !neg && n > 1<<63-1 || neg && n > 1<<63 {
		return false
	}
	if neg {
		*dst = int64(-n)
	} else {
		*dst = int64(n)
	}
	return true
}

func (d *decoder) bool(dst *bool) bool {
	switch {
	case d.lit("true"):
		*dst = true
	case d.lit("false"):
		*dst = false
	default:
		return false
	}
	return true
}

func (d *decoder) lit(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// bytes decodes base64 as encoding/json decodes a []byte.
func (d *decoder) bytes(dst *[]byte) bool {
	s, ok := d.quoted()
	if !ok {
		return false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	*dst = b[:n]
	return err == nil
}

// time decodes a time as encoding/json does: by time.Time's UnmarshalJSON.
func (d *decoder) time(dst *time.Time) bool {
	start := d.i
	if _, ok := d.quoted(); !ok {
		return false
	}
	return dst.UnmarshalJSON(d.b[start:d.i]) == nil
}

func (d *decoder) strings(dst *[]string) bool {
	if !d.byte('[') || d.byte(']') {
		return false // json.Marshal writes no empty list here (omitempty)
	}
	var out []string
	for {
		var s string
		if !d.str(&s) {
			return false
		}
		out = append(out, s)
		if d.byte(']') {
			*dst = out
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

// open starts an object; more reports whether it has a first key.
func (d *decoder) open() (more, ok bool) {
	if !d.byte('{') {
		return false, false
	}
	return !d.byte('}'), true
}

// key reads a key and its colon.
func (d *decoder) key() ([]byte, bool) {
	k, ok := d.quoted()
	return k, ok && d.byte(':')
}

// next follows a value: another key (more) or the end of the object. Every
// key index may come once: seen has a bit per index.
func (d *decoder) next(seen *uint64, index int, valueOK bool) (more, ok bool) {
	if !valueOK || *seen&(1<<index) != 0 {
		return false, false
	}
	*seen |= 1 << index
	if d.byte('}') {
		return false, true
	}
	return true, d.byte(',')
}

func (d *decoder) resources(r *bbus.Resources) bool {
	more, ok := d.open()
	var seen uint64
	for more && ok {
		k, kok := d.key()
		if !kok {
			return false
		}
		var i int
		var vok bool
		switch string(k) {
		case "cpu":
			i, vok = 0, d.int(&r.CPU)
		case "mem_mib":
			i, vok = 1, d.int(&r.MemMiB)
		case "disk_iops":
			i, vok = 2, d.int(&r.DiskIOPS)
		case "net_mbps":
			i, vok = 3, d.int(&r.NetMbps)
		default:
			return false
		}
		more, ok = d.next(&seen, i, vok)
	}
	return ok
}

func (d *decoder) stamp(s *bbus.Stamp) bool {
	more, ok := d.open()
	var seen uint64
	for more && ok {
		k, kok := d.key()
		if !kok {
			return false
		}
		var i int
		var vok bool
		switch string(k) {
		case "at":
			i, vok = 0, d.time(&s.At)
		case "height":
			i, vok = 1, d.int(&s.Height)
		case "tx":
			i, vok = 2, d.str(&s.Tx)
		default:
			return false
		}
		more, ok = d.next(&seen, i, vok)
	}
	return ok
}

func (d *decoder) stampPtr(dst **bbus.Stamp) bool {
	s := new(bbus.Stamp)
	*dst = s
	return d.stamp(s)
}

func (d *decoder) cloud(c *bbus.Cloud) bool {
	more, ok := d.open()
	var seen uint64
	for more && ok {
		k, kok := d.key()
		if !kok {
			return false
		}
		var i int
		var vok bool
		switch string(k) {
		case "id":
			i, vok = 0, d.str(&c.ID)
		case "name":
			i, vok = 1, d.str(&c.Name)
		case "pub_key":
			i, vok = 2, d.bytes(&c.PubKey)
		case "validator_pub_key":
			i, vok = 3, d.bytes(&c.ValidatorKey)
		case "power":
			i, vok = 4, d.int(&c.Power)
		case "api":
			i, vok = 5, d.str(&c.API)
		case "status":
			i, vok = 6, d.str(&c.Status)
		case "capacity":
			i, vok = 7, d.resources(&c.Capacity)
		case "allocated":
			i, vok = 8, d.resources(&c.Allocated)
		case "joined":
			i, vok = 9, d.stamp(&c.Joined)
		case "admitted":
			i, vok = 10, d.stampPtr(&c.Admitted)
		case "removed":
			i, vok = 11, d.stampPtr(&c.Removed)
		case "approvals":
			i, vok = 12, d.strings(&c.Approvals)
		case "removals":
			i, vok = 13, d.strings(&c.Removals)
		case "hosted_vms":
			i, vok = 14, d.int(&c.HostedVMs)
		case "reports":
			i, vok = 15, d.int(&c.Reports)
		case "compliant_reports":
			i, vok = 16, d.int(&c.Compliant)
		case "reputation_bp":
			i, vok = 17, d.int(&c.ReputationBP)
		default:
			return false
		}
		more, ok = d.next(&seen, i, vok)
	}
	return ok
}

func (d *decoder) vm(v *bbus.VM) bool {
	more, ok := d.open()
	var seen uint64
	for more && ok {
		k, kok := d.key()
		if !kok {
			return false
		}
		var i int
		var vok bool
		switch string(k) {
		case "id":
			i, vok = 0, d.str(&v.ID)
		case "owner":
			i, vok = 1, d.str(&v.Owner)
		case "host":
			i, vok = 2, d.str(&v.Host)
		case "resources":
			i, vok = 3, d.resources(&v.Resources)
		case "image":
			i, vok = 4, d.str(&v.Image)
		case "state":
			i, vok = 5, d.str(&v.State)
		case "open_migration":
			i, vok = 6, d.str(&v.Migration)
		case "registered":
			i, vok = 7, d.stamp(&v.Registered)
		case "terminated":
			i, vok = 8, d.stampPtr(&v.Terminated)
		case "intervals":
			i, vok = 9, d.int(&v.Intervals)
		case "migrations":
			i, vok = 10, d.int(&v.Migrations)
		case "last_migration":
			i, vok = 11, d.str(&v.LastMigration)
		case "txs":
			i, vok = 12, d.int(&v.Txs)
		case "tx_digest":
			i, vok = 13, d.str(&v.TxDigest)
		case "last_tx":
			i, vok = 14, d.str(&v.LastTx)
		default:
			return false
		}
		more, ok = d.next(&seen, i, vok)
	}
	return ok
}

func (d *decoder) migration(m *bbus.Migration) bool {
	more, ok := d.open()
	var seen uint64
	for more && ok {
		k, kok := d.key()
		if !kok {
			return false
		}
		var i int
		var vok bool
		switch string(k) {
		case "id":
			i, vok = 0, d.str(&m.ID)
		case "vm":
			i, vok = 1, d.str(&m.VM)
		case "from":
			i, vok = 2, d.str(&m.From)
		case "to":
			i, vok = 3, d.str(&m.To)
		case "resources":
			i, vok = 4, d.resources(&m.Resources)
		case "agreement":
			i, vok = 5, d.str(&m.Agreement)
		case "status":
			i, vok = 6, d.str(&m.Status)
		case "proposed":
			i, vok = 7, d.stamp(&m.Proposed)
		case "lapses_at":
			i, vok = 8, d.time(&m.LapsesAt)
		case "accepted":
			i, vok = 9, d.stampPtr(&m.Accepted)
		case "completed":
			i, vok = 10, d.stampPtr(&m.Completed)
		case "ended":
			i, vok = 11, d.stampPtr(&m.Ended)
		default:
			return false
		}
		more, ok = d.next(&seen, i, vok)
	}
	return ok
}

func (d *decoder) interval(iv *bbus.Interval) bool {
	more, ok := d.open()
	var seen uint64
	for more && ok {
		k, kok := d.key()
		if !kok {
			return false
		}
		var i int
		var vok bool
		switch string(k) {
		case "vm":
			i, vok = 0, d.str(&iv.VM)
		case "seq":
			i, vok = 1, d.int(&iv.Seq)
		case "cloud":
			i, vok = 2, d.str(&iv.Cloud)
		case "agreement":
			i, vok = 3, d.str(&iv.Agreement)
		case "migration":
			i, vok = 4, d.str(&iv.Migration)
		case "start":
			i, vok = 5, d.stamp(&iv.Start)
		case "end":
			i, vok = 6, d.stampPtr(&iv.End)
		default:
			return false
		}
		more, ok = d.next(&seen, i, vok)
	}
	return ok
}

func (d *decoder) params(p *bbus.Params) bool {
	more, ok := d.open()
	var seen uint64
	for more && ok {
		k, kok := d.key()
		if !kok {
			return false
		}
		var i int
		var vok bool
		switch string(k) {
		case "approval_num":
			i, vok = 0, d.int(&p.ApprovalNum)
		case "approval_den":
			i, vok = 1, d.int(&p.ApprovalDen)
		case "migration_lapse_seconds":
			i, vok = 2, d.int(&p.MigrationLapseSeconds)
		case "tx_max_ttl_seconds":
			i, vok = 3, d.int(&p.TxMaxTTLSeconds)
		case "join_power":
			i, vok = 4, d.int(&p.JoinPower)
		case "require_agreement":
			i, vok = 5, d.bool(&p.RequireAgreement)
		case "invitation_ttl_seconds":
			i, vok = 6, d.int(&p.InvitationTTLSeconds)
		case "application_ttl_seconds":
			i, vok = 7, d.int(&p.ApplicationTTLSeconds)
		case "agreement_proposal_ttl_seconds":
			i, vok = 8, d.int(&p.AgreementProposalTTLSeconds)
		case "oracle_quorum":
			i, vok = 9, d.int(&p.OracleQuorum)
		default:
			return false
		}
		more, ok = d.next(&seen, i, vok)
	}
	return ok
}
