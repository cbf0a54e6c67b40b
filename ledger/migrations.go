package ledger

import (
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

func (c *ctx) loadMigration(seq uint64) *bbus.Migration {
	m := new(bbus.Migration)
	if !getJSON(c.st, migrationKey(seq), m) {
		panic("ledger: missing migration")
	}
	return m
}

// findMigration reads a migration named in a transaction.
func (c *ctx) findMigration(id string) (*bbus.Migration, uint64, error) {
	seq, ok := migrationSeq(id)
	m := new(bbus.Migration)
	if !ok || !getJSON(c.st, migrationKey(seq), m) {
		return nil, 0, bbus.Errorf(bbus.ENOTFOUND, "no migration %q", clipID(id))
	}
	return m, seq, nil
}

// destinationMigration returns the migration id that only its destination
// may act on (verb: accept, complete), which must be in status.
func (c *ctx) destinationMigration(id, verb, status string) (*bbus.Migration, uint64, error) {
	m, seq, err := c.findMigration(id)
	if err != nil {
		return nil, 0, err
	}
	if m.To != c.tx.Signer {
		return nil, 0, bbus.Errorf(bbus.EUNAUTHORIZED, "only the destination %s may %s migration %s, not %s", m.To, verb, m.ID, c.tx.Signer)
	}
	if err := c.mustBe(m, status); err != nil {
		return nil, 0, err
	}
	return m, seq, nil
}

func (c *ctx) migrationPropose(a *bbus.Propose) error {
	vm, err := c.loadVM(a.VM)
	if err != nil {
		return err
	}
	if vm.State != bbus.VMRunning {
		return bbus.Errorf(bbus.ESTATE, "VM %s is %s", vm.ID, vm.State)
	}
	if vm.Host != c.tx.Signer {
		return bbus.Errorf(bbus.EUNAUTHORIZED, "VM %s runs on %s; only its host may propose to migrate it, not %s", vm.ID, vm.Host, c.tx.Signer)
	}
	if vm.Migration != "" {
		// A proposal past its lapse time that BeginBlock has not reached yet
		// (it lapses a bounded number a block) lapses now.
		seq, _ := migrationSeq(vm.Migration)
		if m := c.loadMigration(seq); m.Status == bbus.MigrationProposed && !c.h.Time.Before(m.LapsesAt) {
			c.st.Delete(lapseKey(m.LapsesAt, seq))
			c.events = append(c.events, lapseMigration(c.st, m, c.stamp))
			vm.Migration = ""
		} else {
			return bbus.Errorf(bbus.EOPEN, "VM %s already has open migration %s", vm.ID, vm.Migration)
		}
	}
	if a.To == vm.Host {
		return bbus.Errorf(bbus.EINVALID, "VM %s already runs on %s", vm.ID, a.To)
	}
	to := new(bbus.Cloud)
	if !getJSON(c.st, cloudKey(a.To), to) {
		return bbus.Errorf(bbus.ENOTFOUND, "no cloud %s", a.To)
	}
	if to.Status != bbus.CloudActive {
		return bbus.Errorf(bbus.ENOTMEMBER, "destination %s is %s, not an active member", a.To, to.Status)
	}
	if err := c.checkMigrationAgreement(a.Agreement, vm, a.To); err != nil {
		return err
	}
	seq := nextSeq(c.st, keyMigrationSeq)
	m := &bbus.Migration{
		ID: MigrationID(seq), VM: vm.ID, From: vm.Host, To: a.To, Resources: vm.Resources, Agreement: a.Agreement,
		Status: bbus.MigrationProposed, Proposed: c.stamp,
		LapsesAt: c.h.Time.Add(time.Duration(Params(c.st).MigrationLapseSeconds) * time.Second).UTC(),
	}
	putJSON(c.st, migrationKey(seq), m)
	c.st.Set(migrationByVMKey(vm.ID, seq), []byte{})
	c.st.Set(migrationByCloudKey(m.From, seq), []byte{})
	c.st.Set(migrationByCloudKey(m.To, seq), []byte{})
	c.st.Set(lapseKey(m.LapsesAt, seq), migrationKey(seq))
	noteDue(c.st, dueNanos(m.LapsesAt))
	c.st.Set(openMigrationKey(m.From, seq), []byte{})
	c.st.Set(openMigrationKey(m.To, seq), []byte{})
	vm.Migration = m.ID
	vm.Migrations++
	vm.LastMigration = m.ID
	c.touched(vm)
	putJSON(c.st, vmKey(vm.ID), vm)
	c.id = m.ID
	c.events = append(c.events, migrationEvent("migration.proposed", m))
	return nil
}

func (c *ctx) migrationAccept(id string) error {
	m, seq, err := c.destinationMigration(id, "accept", bbus.MigrationProposed)
	if err != nil {
		return err
	}
	if !c.h.Time.Before(m.LapsesAt) {
		return bbus.Errorf(bbus.ELAPSED, "migration %s lapsed at %s", m.ID, m.LapsesAt.Format(time.RFC3339))
	}
	to := c.signer
	if err := allocate(to, m.Resources); err != nil {
		return err
	}
	putJSON(c.st, cloudKey(to.ID), to)
	c.st.Delete(lapseKey(m.LapsesAt, seq))
	m.Status = bbus.MigrationAccepted
	stamp := c.stamp
	m.Accepted = &stamp
	putJSON(c.st, migrationKey(seq), m)
	vm, err := c.loadVM(m.VM)
	if err != nil {
		return err
	}
	c.touched(vm)
	putJSON(c.st, vmKey(vm.ID), vm)
	c.id = m.ID
	c.events = append(c.events, migrationEvent("migration.accepted", m))
	return nil
}

func (c *ctx) migrationComplete(id string) error {
	m, seq, err := c.destinationMigration(id, "complete", bbus.MigrationAccepted)
	if err != nil {
		return err
	}
	vm, err := c.loadVM(m.VM)
	if err != nil {
		return err
	}
	from := c.loadCloud(m.From)
	from.Allocated = from.Allocated.Sub(m.Resources)
	from.HostedVMs--
	putJSON(c.st, cloudKey(from.ID), from)
	to := c.signer // its capacity was reserved at accept
	to.HostedVMs++
	putJSON(c.st, cloudKey(to.ID), to)
	c.closeInterval(vm)
	vm.Host = m.To
	vm.Migration = ""
	c.openInterval(vm, m)
	c.touched(vm)
	putJSON(c.st, vmKey(vm.ID), vm)
	closeMigration(c.st, m, seq)
	m.Status = bbus.MigrationCompleted
	stamp := c.stamp
	m.Completed = &stamp
	putJSON(c.st, migrationKey(seq), m)
	c.id = m.ID
	c.events = append(c.events, migrationEvent("migration.completed", m))
	return nil
}

// migrationEnd rejects (by the destination) or cancels (by the source) an open migration.
func (c *ctx) migrationEnd(id, status string) error {
	m, _, err := c.findMigration(id)
	if err != nil {
		return err
	}
	who, verb := m.To, "reject"
	if status == bbus.MigrationCancelled {
		who, verb = m.From, "cancel"
	}
	if who != c.tx.Signer {
		return bbus.Errorf(bbus.EUNAUTHORIZED, "only %s may %s migration %s, not %s", who, verb, m.ID, c.tx.Signer)
	}
	if !m.Open() {
		return c.mustBe(m, bbus.MigrationProposed)
	}
	if m.Status == bbus.MigrationProposed && !c.h.Time.Before(m.LapsesAt) {
		return bbus.Errorf(bbus.ELAPSED, "migration %s lapsed at %s", m.ID, m.LapsesAt.Format(time.RFC3339))
	}
	c.id = m.ID
	return c.endMigration(m, status)
}

// endMigration closes an open migration as rejected or cancelled, releasing
// what accepting it reserved.
func (c *ctx) endMigration(m *bbus.Migration, status string) error {
	seq, _ := migrationSeq(m.ID)
	if m.Status == bbus.MigrationAccepted {
		to := c.loadCloud(m.To)
		to.Allocated = to.Allocated.Sub(m.Resources)
		putJSON(c.st, cloudKey(to.ID), to)
	} else {
		c.st.Delete(lapseKey(m.LapsesAt, seq))
	}
	closeMigration(c.st, m, seq)
	m.Status = status
	stamp := c.stamp
	m.Ended = &stamp
	putJSON(c.st, migrationKey(seq), m)
	vm, err := c.loadVM(m.VM)
	if err != nil {
		return err
	}
	vm.Migration = ""
	c.touched(vm)
	putJSON(c.st, vmKey(vm.ID), vm)
	c.events = append(c.events, migrationEvent("migration."+status, m))
	return nil
}

// closeMigration removes a migration that ends from the open migrations of its two clouds.
func closeMigration(st kv.Store, m *bbus.Migration, seq uint64) {
	st.Delete(openMigrationKey(m.From, seq))
	st.Delete(openMigrationKey(m.To, seq))
}

// mustBe fails unless m has status want, naming what happened to it instead.
func (c *ctx) mustBe(m *bbus.Migration, want string) error {
	switch {
	case m.Status == want:
		return nil
	case m.Status == bbus.MigrationLapsed:
		return bbus.Errorf(bbus.ELAPSED, "migration %s lapsed at %s", m.ID, m.LapsesAt.Format(time.RFC3339))
	case want == bbus.MigrationAccepted && m.Status == bbus.MigrationProposed:
		return bbus.Errorf(bbus.ESTATE, "migration %s is not accepted yet", m.ID)
	default:
		return bbus.Errorf(bbus.ESTATE, "migration %s is %s", m.ID, m.Status)
	}
}

// clipID shortens an id a transaction named for an error message.
func clipID(s string) string { return bbus.Clip(s) }
