package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/bbusdev/bbus"
)

// genesisFlags are bbus init's flags for a new chain's parameters.
type genesisFlags struct {
	f                                            *flags
	approval                                     *string
	lapse, txTTL, inviteTTL, appTTL, proposalTTL *time.Duration
	requireAgreement                             *bool
	joinPower, oracleQuorum                      *int64
	names                                        []string
}

func defineGenesisFlags(f *flags) *genesisFlags {
	d := bbus.DefaultParams()
	g := &genesisFlags{f: f}
	sec := func(s int64) time.Duration { return time.Duration(s) * time.Second }
	g.approval = f.String("approval", "2/3", "a vote passes with more than this share of the active members, NUM/DEN")
	g.lapse = f.Duration("migration-lapse", sec(d.MigrationLapseSeconds), "how long a migration proposal may wait for acceptance")
	g.txTTL = f.Duration("tx-ttl", sec(d.TxMaxTTLSeconds), "how far past the block time a transaction's expiry may lie")
	g.inviteTTL = f.Duration("invitation-ttl", sec(d.InvitationTTLSeconds), "how long an invitation to apply stays valid")
	g.appTTL = f.Duration("application-ttl", sec(d.ApplicationTTLSeconds), "how long an application may wait for admission")
	g.proposalTTL = f.Duration("agreement-proposal-ttl", sec(d.AgreementProposalTTLSeconds), "how long an agreement proposal may wait for the other party")
	g.requireAgreement = f.Bool("require-agreement", false, "refuse migrations to a cloud other than the VM's owner that name no agreement")
	g.joinPower = f.Int64("join-power", d.JoinPower, "the voting power of an admitted cloud that names a validator key")
	g.oracleQuorum = f.Int64("oracle-quorum", d.Quorum(), "how many oracles' reports of a VM's window decide it, 1 to 32 (docs/CHARGING.md)")
	g.names = []string{"approval", "migration-lapse", "tx-ttl", "invitation-ttl", "application-ttl", "agreement-proposal-ttl", "require-agreement", "join-power", "oracle-quorum"}
	return g
}

// given returns the first genesis flag the command line set, or "".
func (g *genesisFlags) given() string {
	set := ""
	g.f.Visit(func(fl *pflag.Flag) {
		for _, n := range g.names {
			if fl.Name == n && set == "" {
				set = n
			}
		}
	})
	return set
}

// params returns the parameters the flags say, checked.
func (g *genesisFlags) params() (*bbus.Params, error) {
	p := bbus.DefaultParams()
	num, den, ok := strings.Cut(*g.approval, "/")
	n, err1 := strconv.ParseInt(num, 10, 64)
	d, err2 := strconv.ParseInt(den, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return nil, g.f.fail("--approval must be NUM/DEN, such as 2/3, not %q", *g.approval)
	}
	p.ApprovalNum, p.ApprovalDen = n, d
	for _, s := range []struct {
		name string
		d    time.Duration
		into *int64
	}{
		{"migration-lapse", *g.lapse, &p.MigrationLapseSeconds}, {"tx-ttl", *g.txTTL, &p.TxMaxTTLSeconds},
		{"invitation-ttl", *g.inviteTTL, &p.InvitationTTLSeconds}, {"application-ttl", *g.appTTL, &p.ApplicationTTLSeconds},
		{"agreement-proposal-ttl", *g.proposalTTL, &p.AgreementProposalTTLSeconds},
	} {
		if s.d%time.Second != 0 || s.d <= 0 {
			return nil, g.f.fail("--%s must be a positive whole number of seconds (such as 90s, 1h, 168h), not %s", s.name, s.d)
		}
		*s.into = int64(s.d / time.Second)
	}
	p.RequireAgreement, p.JoinPower = *g.requireAgreement, *g.joinPower
	if q := *g.oracleQuorum; q < 1 || q > bbus.MaxOracleQuorum {
		return nil, g.f.fail("--oracle-quorum must be between 1 and %d, not %d", bbus.MaxOracleQuorum, q)
	}
	p.OracleQuorum = *g.oracleQuorum
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}
