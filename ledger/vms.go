package ledger

import (
	"github.com/bbusdev/bbus"
)

// loadCloud reads a cloud that must exist.
func (c *ctx) loadCloud(id string) *bbus.Cloud {
	cl := new(bbus.Cloud)
	if !getJSON(c.st, cloudKey(id), cl) {
		panic("ledger: missing cloud " + id)
	}
	return cl
}

// loadVM reads a VM named in a transaction.
func (c *ctx) loadVM(id string) (*bbus.VM, error) {
	vm := new(bbus.VM)
	if !getJSON(c.st, vmKey(id), vm) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no VM %s", id)
	}
	return vm, nil
}

// allocate reserves r on cloud cl or fails with ECAPACITY.
func allocate(cl *bbus.Cloud, r bbus.Resources) error {
	if !r.Fits(cl.Free()) {
		return bbus.Errorf(bbus.ECAPACITY, "cloud %s has %s free, the VM needs %s", cl.ID, cl.Free(), r)
	}
	cl.Allocated = cl.Allocated.Add(r)
	return nil
}

func (c *ctx) vmRegister(a *bbus.VMRegister) error {
	if getJSON(c.st, vmKey(a.VM), new(bbus.VM)) {
		return bbus.Errorf(bbus.EEXISTS, "VM id %s is taken", a.VM)
	}
	host := c.signer
	if err := allocate(host, a.Resources); err != nil {
		return err
	}
	host.HostedVMs++
	putJSON(c.st, cloudKey(host.ID), host)
	vm := &bbus.VM{ID: a.VM, Owner: host.ID, Host: host.ID, Resources: a.Resources, Image: a.Image,
		State: bbus.VMRunning, Registered: c.stamp}
	c.openInterval(vm, nil)
	c.touched(vm)
	putJSON(c.st, vmKey(vm.ID), vm)
	c.id = vm.ID
	c.emit("vm.registered", "vm", vm.ID, "cloud", host.ID)
	return nil
}

func (c *ctx) vmTerminate(id string) error {
	vm, err := c.loadVM(id)
	if err != nil {
		return err
	}
	if vm.Owner != c.tx.Signer {
		// The host may end a VM whose owner the members removed: nobody else
		// is left to, and it would run (and be recorded as hosted) forever.
		switch owner := c.loadCloud(vm.Owner); {
		case owner.Status != bbus.CloudRemoved:
			return bbus.Errorf(bbus.EUNAUTHORIZED, "only VM %s's owner %s may terminate it, not %s", id, vm.Owner, c.tx.Signer)
		case vm.Host != c.tx.Signer:
			return bbus.Errorf(bbus.EUNAUTHORIZED, "VM %s's owner %s was removed; only its host %s may terminate it, not %s", id, vm.Owner, vm.Host, c.tx.Signer)
		}
	}
	if vm.State == bbus.VMTerminated {
		return bbus.Errorf(bbus.ESTATE, "VM %s is already terminated", id)
	}
	if vm.Migration != "" {
		seq, _ := migrationSeq(vm.Migration)
		m := c.loadMigration(seq)
		if err := c.endMigration(m, bbus.MigrationCancelled); err != nil {
			return err
		}
		vm.Migration = ""
	}
	host := c.loadCloud(vm.Host)
	host.Allocated = host.Allocated.Sub(vm.Resources)
	host.HostedVMs--
	putJSON(c.st, cloudKey(host.ID), host)
	c.closeInterval(vm)
	vm.State = bbus.VMTerminated
	stamp := c.stamp
	vm.Terminated = &stamp
	c.touched(vm)
	putJSON(c.st, vmKey(vm.ID), vm)
	c.id = vm.ID
	c.emit("vm.terminated", "vm", vm.ID, "cloud", vm.Host)
	return nil
}

// touched counts the transaction being applied among those that changed vm
// (VM.Txs; VM.TxDigest chains its id, height and block time: what a bundle
// of its history must hold). A transaction touches a VM once: a second call
// for the same one changes nothing.
func (c *ctx) touched(vm *bbus.VM) {
	if vm.Txs > 0 && vm.LastTx == c.tx.ID {
		return
	}
	vm.Txs++
	vm.TxDigest = bbus.NextTxDigest(vm.TxDigest, c.stamp)
	vm.LastTx = c.tx.ID
}

// openInterval starts the VM's next hosting interval on its current host, under
// the agreement of the migration m that brought it there (nil: registration).
func (c *ctx) openInterval(vm *bbus.VM, m *bbus.Migration) {
	vm.Intervals++
	iv := &bbus.Interval{VM: vm.ID, Seq: vm.Intervals, Cloud: vm.Host, Start: c.stamp}
	if m != nil {
		iv.Migration, iv.Agreement = m.ID, m.Agreement
	}
	putJSON(c.st, intervalKey(vm.ID, vm.Intervals), iv)
	if seq, ok := parseSeqID("agr", iv.Agreement); ok {
		c.st.Set(billedKey(seq, vm.ID, vm.Intervals), []byte{})
	}
	c.billOpened(iv)
}

// closeInterval ends the VM's current hosting interval at this block.
func (c *ctx) closeInterval(vm *bbus.VM) {
	var iv bbus.Interval
	if !getJSON(c.st, intervalKey(vm.ID, vm.Intervals), &iv) || iv.End != nil {
		panic("ledger: VM " + vm.ID + " has no open hosting interval")
	}
	stamp := c.stamp
	iv.End = &stamp
	putJSON(c.st, intervalKey(vm.ID, vm.Intervals), &iv)
	c.billClosed(vm, &iv)
}
