package bbus

import "time"

// Cloud statuses.
const (
	CloudPending = "pending" // applied to join, waiting for the members' approval
	CloudActive  = "active"  // a member: may sign, host VMs and vote
	CloudRemoved = "removed" // removed by the members' vote; signs nothing more
)

// VM states.
const (
	VMRunning    = "running"
	VMTerminated = "terminated"
)

// Migration statuses. Proposed and accepted are open; the others are final.
const (
	MigrationProposed  = "proposed"
	MigrationAccepted  = "accepted"
	MigrationCompleted = "completed"
	MigrationRejected  = "rejected"
	MigrationCancelled = "cancelled"
	MigrationLapsed    = "lapsed"
)

// Stamp says when and by which transaction the ledger recorded something. At is
// the block time (BFT time), never a client's clock. Tx is the transaction id; it
// is empty for what the ledger did by itself at the start of a block (a lapse).
type Stamp struct {
	At     time.Time `json:"at"`
	Height int64     `json:"height"`
	Tx     string    `json:"tx,omitempty"`
}

// Cloud is a participant of the federation.
type Cloud struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	PubKey       []byte    `json:"pub_key"`                     // ed25519 key that signs the cloud's transactions
	ValidatorKey []byte    `json:"validator_pub_key,omitempty"` // ed25519 consensus key of the cloud's node, if it runs a validator
	Power        int64     `json:"power"`                       // voting power in consensus; 0 when not a validator
	API          string    `json:"api,omitempty"`
	NodeID       string    `json:"node_id,omitempty"`     // the cloud's node: CometBFT node id (hex of 20 bytes)
	P2PAddress   string    `json:"p2p_address,omitempty"` // the node's public peer address, HOST:PORT
	Status       string    `json:"status"`
	Capacity     Resources `json:"capacity"`
	Allocated    Resources `json:"allocated"` // hosted plus reserved for accepted incoming migrations
	Joined       Stamp     `json:"joined"`    // when it applied (or genesis)
	Admitted     *Stamp    `json:"admitted,omitempty"`
	Removed      *Stamp    `json:"removed,omitempty"`
	Approvals    []string  `json:"approvals,omitempty"` // members who voted to admit it, sorted
	Removals     []string  `json:"removals,omitempty"`  // members who voted to remove it, sorted
	HostedVMs    int64     `json:"hosted_vms"`
	// Reputation, from oracle reports on VMs it hosted under an agreement:
	// ReputationBP = 10000 * (Compliant + 2) / (Reports + 2), in basis points.
	Reports      int64 `json:"reports"`
	Compliant    int64 `json:"compliant_reports"`
	ReputationBP int64 `json:"reputation_bp"`
	// Removing is set on a removed cloud while what it touched (its open
	// migrations and proposals) is still being ended: members send
	// cloud_remove again to continue it (docs/TRANSACTIONS.md).
	Removing bool `json:"removing,omitempty"`
}

// Reputation returns the reputation, in basis points, of a cloud with the given
// report counts: a compliance ratio smoothed by two compliant reports, so a new
// cloud starts at 10000 and one miss does not ruin it.
func Reputation(reports, compliant int64) int64 { return 10000 * (compliant + 2) / (reports + 2) }

// Free returns what the cloud has not allocated.
func (c *Cloud) Free() Resources { return c.Capacity.Sub(c.Allocated) }

// VM is a virtual machine: an asset owned by the cloud whose customer it serves
// and hosted by exactly one cloud at any time.
type VM struct {
	ID         string    `json:"id"`
	Owner      string    `json:"owner"`
	Host       string    `json:"host"`
	Resources  Resources `json:"resources"`
	Image      string    `json:"image,omitempty"`
	State      string    `json:"state"`
	Migration  string    `json:"open_migration,omitempty"` // the open migration, if any
	Registered Stamp     `json:"registered"`
	Terminated *Stamp    `json:"terminated,omitempty"`
	Intervals  int64     `json:"intervals"` // number of hosting intervals so far
	// Migrations is how many migrations were proposed for the VM, the last
	// of them LastMigration.
	Migrations    int64  `json:"migrations"`
	LastMigration string `json:"last_migration,omitempty"`
	// Txs is how many transactions changed the VM, its intervals or its
	// migrations, and TxDigest chains their ids, heights and block times in
	// chain order (NextTxDigest):
	// what proves a bundle of the VM's history complete.
	Txs      int64  `json:"txs"`
	TxDigest string `json:"tx_digest,omitempty"`
	LastTx   string `json:"last_tx,omitempty"` // the last of them
}

// Interval is one stretch of a VM's life on one cloud: the paper's timestamps of
// when the VM starts and finishes running there. End is nil while it runs there.
type Interval struct {
	VM        string `json:"vm"`
	Seq       int64  `json:"seq"` // 1 for the first interval of the VM, then 2, 3, ...
	Cloud     string `json:"cloud"`
	Agreement string `json:"agreement,omitempty"`
	Migration string `json:"migration,omitempty"` // the migration that opened it; empty for registration
	Start     Stamp  `json:"start"`
	End       *Stamp `json:"end,omitempty"`
}

// Migration is "cloud From sends VM with constraints Resources to cloud To".
type Migration struct {
	ID        string    `json:"id"`
	VM        string    `json:"vm"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Resources Resources `json:"resources"`
	Agreement string    `json:"agreement,omitempty"`
	Status    string    `json:"status"`
	Proposed  Stamp     `json:"proposed"`
	LapsesAt  time.Time `json:"lapses_at"` // a proposal not accepted by then lapses
	Accepted  *Stamp    `json:"accepted,omitempty"`
	Completed *Stamp    `json:"completed,omitempty"`
	Ended     *Stamp    `json:"ended,omitempty"` // rejected, cancelled or lapsed
}

// Open reports whether the migration is still proposed or accepted.
func (m *Migration) Open() bool {
	return m.Status == MigrationProposed || m.Status == MigrationAccepted
}

// Params are the federation's rules that genesis sets.
type Params struct {
	// A vote passes when approvals*ApprovalDen > ApprovalNum*active members
	// (default 2/3: more than two thirds).
	ApprovalNum int64 `json:"approval_num"`
	ApprovalDen int64 `json:"approval_den"`
	// MigrationLapseSeconds is how long a proposal may wait for acceptance.
	MigrationLapseSeconds int64 `json:"migration_lapse_seconds"`
	// TxMaxTTLSeconds is how far past the block time a transaction's expiry may lie.
	TxMaxTTLSeconds int64 `json:"tx_max_ttl_seconds"`
	// JoinPower is the voting power of an admitted cloud that names a validator key.
	JoinPower int64 `json:"join_power"`
	// RequireAgreement refuses migrations to a cloud other than the VM's owner
	// that name no agreement.
	RequireAgreement bool `json:"require_agreement,omitempty"`
	// InvitationTTLSeconds is how long an invitation to apply stays valid.
	InvitationTTLSeconds int64 `json:"invitation_ttl_seconds"`
	// ApplicationTTLSeconds is how long an application (a pending cloud or
	// oracle) may wait for admission before it is removed and its id released.
	ApplicationTTLSeconds int64 `json:"application_ttl_seconds"`
	// AgreementProposalTTLSeconds is how long an agreement proposal may wait
	// for the other party's signature before it expires and is removed. 0 (a
	// genesis written before the parameter existed) means the default, 7 days.
	AgreementProposalTTLSeconds int64 `json:"agreement_proposal_ttl_seconds,omitempty"`
	// OracleQuorum is how many oracles' reports of a VM's window decide it
	// (docs/CHARGING.md). 0 (a genesis written before the parameter existed)
	// means 1: the first report decides.
	OracleQuorum int64 `json:"oracle_quorum,omitempty"`
}

// MaxOracleQuorum bounds oracle_quorum: the reports of one window that take
// part in its decision, which one transaction combines.
const MaxOracleQuorum = 32

// Quorum returns oracle_quorum, or 1 when unset.
func (p Params) Quorum() int64 {
	if p.OracleQuorum == 0 {
		return 1
	}
	return p.OracleQuorum
}

// DefaultAgreementProposalTTLSeconds is the default agreement_proposal_ttl_seconds: 7 days.
const DefaultAgreementProposalTTLSeconds = 7 * 24 * 3600

// MaxParamSeconds bounds every duration parameter: 100 years, so that block
// time plus any of them stays far inside what times and keys represent.
const MaxParamSeconds = 100 * 365 * 24 * 3600

// AgreementProposalTTL returns agreement_proposal_ttl_seconds, or its default when unset.
func (p Params) AgreementProposalTTL() int64 {
	if p.AgreementProposalTTLSeconds == 0 {
		return DefaultAgreementProposalTTLSeconds
	}
	return p.AgreementProposalTTLSeconds
}

// DefaultParams returns the parameters a new federation starts with.
func DefaultParams() Params {
	return Params{ApprovalNum: 2, ApprovalDen: 3, MigrationLapseSeconds: 3600, TxMaxTTLSeconds: 3600, JoinPower: 10,
		InvitationTTLSeconds: 7 * 24 * 3600, ApplicationTTLSeconds: 7 * 24 * 3600,
		AgreementProposalTTLSeconds: DefaultAgreementProposalTTLSeconds, OracleQuorum: 1}
}

// Validate checks that p can govern a federation.
func (p Params) Validate() error {
	switch {
	case p.ApprovalDen <= 0 || p.ApprovalNum < 0 || p.ApprovalNum >= p.ApprovalDen:
		return Errorf(EINVALID, "approval threshold %d/%d must be a fraction in [0, 1)", p.ApprovalNum, p.ApprovalDen)
	case p.MigrationLapseSeconds <= 0:
		return Errorf(EINVALID, "migration_lapse_seconds must be positive")
	case p.TxMaxTTLSeconds <= 0:
		return Errorf(EINVALID, "tx_max_ttl_seconds must be positive")
	case p.JoinPower < 0:
		return Errorf(EINVALID, "join_power must not be negative")
	case p.InvitationTTLSeconds <= 0 || p.InvitationTTLSeconds > MaxParamSeconds:
		return Errorf(EINVALID, "invitation_ttl_seconds must be between 1 and %d", MaxParamSeconds)
	case p.ApplicationTTLSeconds <= 0 || p.ApplicationTTLSeconds > MaxParamSeconds:
		return Errorf(EINVALID, "application_ttl_seconds must be between 1 and %d", MaxParamSeconds)
	case p.AgreementProposalTTLSeconds < 0 || p.AgreementProposalTTLSeconds > MaxParamSeconds:
		return Errorf(EINVALID, "agreement_proposal_ttl_seconds must be between 1 and %d (100 years), or absent for the default %d (7 days)", MaxParamSeconds, DefaultAgreementProposalTTLSeconds)
	case p.OracleQuorum < 0 || p.OracleQuorum > MaxOracleQuorum:
		return Errorf(EINVALID, "oracle_quorum must be between 1 and %d, or absent for 1", MaxOracleQuorum)
	case p.MigrationLapseSeconds > MaxParamSeconds || p.TxMaxTTLSeconds > MaxParamSeconds:
		return Errorf(EINVALID, "migration_lapse_seconds and tx_max_ttl_seconds must be at most %d (100 years)", MaxParamSeconds)
	}
	return nil
}

// GenesisCloud is a founding member of a federation.
type GenesisCloud struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	PubKey       []byte    `json:"pub_key"`
	ValidatorKey []byte    `json:"validator_pub_key,omitempty"`
	Power        int64     `json:"power"`
	API          string    `json:"api,omitempty"`
	Capacity     Resources `json:"capacity"`
	NodeID       string    `json:"node_id,omitempty"`
	P2PAddress   string    `json:"p2p_address,omitempty"`
}

// Genesis is the ledger's initial state: the founding clouds and the parameters.
// It travels as the app_state of the consensus engine's genesis document.
type Genesis struct {
	Params Params         `json:"params"`
	Clouds []GenesisCloud `json:"clouds"`
}
