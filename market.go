package bbus

import "time"

// Tag is a key=value label of an offer, such as region=eu-west.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Offer is what a cloud publishes for discovery: the capacity it offers the
// federation, its prices and its tags. A new offer replaces the cloud's last one.
type Offer struct {
	Cloud         string    `json:"cloud"`
	Resources     Resources `json:"resources"`
	PriceVCPUHour int64     `json:"price_vcpu_hour_micro"`
	PriceGiBHour  int64     `json:"price_gib_hour_micro,omitempty"`
	Tags          []Tag     `json:"tags,omitempty"`
	Published     Stamp     `json:"published"`
}

// Agreement statuses.
const (
	AgreementProposed = "proposed" // signed by its proposer only
	AgreementActive   = "active"   // signed by both provider and consumer
	AgreementDeclined = "declined" // refused by the party that did not propose; final
)

// Agreement is a service level agreement between a provider cloud, which hosts
// VMs, and a consumer cloud, which owns them: prices, objectives, penalty.
type Agreement struct {
	ID            string    `json:"id"`
	Provider      string    `json:"provider"`
	Consumer      string    `json:"consumer"`
	Proposer      string    `json:"proposer"`
	PriceVCPUHour int64     `json:"price_vcpu_hour_micro"`
	PriceGiBHour  int64     `json:"price_gib_hour_micro,omitempty"`
	Availability  int64     `json:"availability_mpct"`        // objective, thousandths of a percent
	MaxLatencyMS  int64     `json:"max_latency_ms,omitempty"` // objective; 0: none
	PenaltyPct    int64     `json:"penalty_mpct"`             // share of a part's charge, thousandths of a percent
	Until         time.Time `json:"until,omitzero"`           // end of validity; zero: open-ended
	Status        string    `json:"status"`
	Proposed      Stamp     `json:"proposed"`
	Signed        *Stamp    `json:"signed,omitempty"` // the other party's signature; validity starts here
	// ExpiresAt is when a proposal not signed by then expires and is removed;
	// zero once it is signed or declined.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Declined  *Stamp    `json:"declined,omitempty"` // the other party's refusal
	Reason    string    `json:"reason,omitempty"`   // the reason given with the refusal
}

// InForce reports whether the agreement binds at time t.
func (a *Agreement) InForce(t time.Time) bool {
	return a.Status == AgreementActive && !t.Before(a.Signed.At) && (a.Until.IsZero() || t.Before(a.Until))
}

// Oracle statuses are the cloud statuses: pending until approved, then active.

// Oracle is an identity the federation voted in to report VM performance.
type Oracle struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	PubKey    []byte   `json:"pub_key"`
	Status    string   `json:"status"`
	Joined    Stamp    `json:"joined"`
	Admitted  *Stamp   `json:"admitted,omitempty"`
	Approvals []string `json:"approvals,omitempty"`
	Removed   *Stamp   `json:"removed,omitempty"`  // removed by the members' vote; reports no more
	Removals  []string `json:"removals,omitempty"` // members who voted to remove it, sorted
	// Accountability (docs/CHARGING.md): Reports counts every report it made;
	// of those in decided windows, Agreeing were within OracleToleranceMpct of
	// the window's combined value and Disagreeing were not.
	// ReputationBP = 10000 * (Agreeing + 2) / (Agreeing + Disagreeing + 2).
	Reports      int64 `json:"reports"`
	Agreeing     int64 `json:"agreeing_reports"`
	Disagreeing  int64 `json:"disagreeing_reports"`
	ReputationBP int64 `json:"reputation_bp"`
}

// OracleToleranceMpct is how far, in thousandths of a percent, an oracle's
// report may lie from its window's combined value and still agree with it:
// availability within 5 percentage points, and latency within 5 % of the
// combined latency or OracleLatencySlackMS, whichever is more.
const OracleToleranceMpct = 5_000

// OracleLatencySlackMS is the least latency difference that counts as a
// disagreement: probes of one VM from different places differ by that much.
const OracleLatencySlackMS = 20

// Agrees reports whether a measurement (availability, latency) agrees with a
// window's combined value within the tolerance.
func Agrees(avail, latency, combinedAvail, combinedLatency int64) bool {
	d := avail - combinedAvail
	if d < 0 {
		d = -d
	}
	if d > OracleToleranceMpct {
		return false
	}
	if combinedLatency == 0 {
		return true
	}
	dl := latency - combinedLatency
	if dl < 0 {
		dl = -dl
	}
	return dl <= OracleLatencySlackMS || dl*MaxPct <= OracleToleranceMpct*combinedLatency
}

// Window statuses.
const (
	WindowOpen       = "open"       // fewer reports than the quorum so far
	WindowDecided    = "decided"    // combined from the quorum's reports
	WindowOverlapped = "overlapped" // reached the quorum, but overlaps a window decided before: decides nothing
)

// Window is one window [Start, End) of a VM as its oracles reported it: every
// report of that exact window, and once a quorum of them came, the combined
// value the ledger checked against the agreements (docs/CHARGING.md).
type Window struct {
	VM      string         `json:"vm"`
	Start   time.Time      `json:"start"`
	End     time.Time      `json:"end"`
	Status  string         `json:"status"`
	Reports []WindowReport `json:"reports"`
	// Decided is when the quorum-th report came; Availability and LatencyMS
	// are then the combined value, Decider the report that completed the
	// quorum, and Violations what the combined value recorded.
	Decided      *Stamp   `json:"decided,omitempty"`
	Availability int64    `json:"availability_mpct,omitempty"`
	LatencyMS    int64    `json:"latency_ms,omitempty"`
	Decider      string   `json:"decider,omitempty"`
	Violations   []string `json:"violations,omitempty"`
	Overlaps     string   `json:"overlaps,omitempty"` // for an overlapped window: the decided window's report it overlaps
}

// WindowReport is one oracle's report of a window. Verdict is "" while the
// window is open, then "agree" or "disagree" with the combined value, or
// "excluded" for a report whose oracle was removed before the decision.
type WindowReport struct {
	Report       string `json:"report"`
	Oracle       string `json:"oracle"`
	Availability int64  `json:"availability_mpct"`
	LatencyMS    int64  `json:"latency_ms,omitempty"`
	Verdict      string `json:"verdict,omitempty"`
}

// Report is an oracle's signed measurement of a VM over a past window.
type Report struct {
	ID           string    `json:"id"`
	Oracle       string    `json:"oracle"`
	VM           string    `json:"vm"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Availability int64     `json:"availability_mpct"`
	LatencyMS    int64     `json:"latency_ms,omitempty"`
	Violations   []string  `json:"violations,omitempty"`
	Recorded     Stamp     `json:"recorded"`
}

// Violation is a missed service objective, attributed to the cloud that hosted
// the VM during the part of a report's window it covers.
type Violation struct {
	ID           string    `json:"id"`
	VM           string    `json:"vm"`
	Cloud        string    `json:"cloud"`    // the provider that hosted the VM
	Consumer     string    `json:"consumer"` // the VM's owner
	Agreement    string    `json:"agreement"`
	Report       string    `json:"report"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Seconds      int64     `json:"seconds"`
	Availability int64     `json:"availability_mpct"`           // measured
	Objective    int64     `json:"availability_objective_mpct"` // agreed
	LatencyMS    int64     `json:"latency_ms,omitempty"`
	MaxLatencyMS int64     `json:"max_latency_ms,omitempty"`
	Charge       int64     `json:"charge_micro"`  // what the part costs at the agreement's prices
	Penalty      int64     `json:"penalty_micro"` // the agreement's penalty share of Charge
	Recorded     Stamp     `json:"recorded"`
}

// Invoice statuses.
const (
	InvoiceIssued   = "issued"
	InvoiceAccepted = "accepted"
	InvoiceDisputed = "disputed"
	// InvoiceClosing is an invoice too large for one transaction, while its
	// provider's invoice_close transactions continue it (docs/CHARGING.md).
	InvoiceClosing = "closing"
	// InvoiceVoid is an invoice closed in several transactions whose total
	// turned out not to fit in 64 bits: it bills nothing, its period is the
	// next invoice's.
	InvoiceVoid = "void"
)

// InvoiceLine is one hosting part or one penalty of an invoice, with the
// evidence it rests on: the stamps (transaction id and height) that recorded it.
type InvoiceLine struct {
	Kind          string     `json:"kind"` // "hosting" or "penalty"
	VM            string     `json:"vm"`
	Agreement     string     `json:"agreement"`
	Start         time.Time  `json:"start"`
	End           time.Time  `json:"end"`
	Seconds       int64      `json:"seconds"`
	Resources     *Resources `json:"resources,omitempty"`
	PriceVCPUHour int64      `json:"price_vcpu_hour_micro,omitempty"`
	PriceGiBHour  int64      `json:"price_gib_hour_micro,omitempty"`
	Violation     string     `json:"violation,omitempty"`
	Amount        int64      `json:"amount_micro"` // negative for a penalty
	Evidence      []Stamp    `json:"evidence"`
}

// Invoice is what a consumer owes a provider for a period: hosting parts at the
// agreed prices, less penalties. It is immutable once closed, but for the
// consumer's answer.
type Invoice struct {
	ID       string        `json:"id"`
	Provider string        `json:"provider"`
	Consumer string        `json:"consumer"`
	From     time.Time     `json:"from"`
	Until    time.Time     `json:"until"`
	Lines    []InvoiceLine `json:"lines"`
	// LinesNext is the cursor of the lines after those in Lines ("" if
	// Lines holds them all): GET /v1/invoices/{id}/lines?after=LinesNext.
	LinesNext    string `json:"lines_next,omitempty"`
	HostingLines int64  `json:"hosting_lines"` // how many hosting lines the invoice has
	PenaltyLines int64  `json:"penalty_lines"` // and how many penalties
	Hosting      int64  `json:"hosting_micro"`
	Penalties    int64  `json:"penalties_micro"`
	Total        int64  `json:"total_micro"`
	Status       string `json:"status"`
	Closed       Stamp  `json:"closed"`
	Answered     *Stamp `json:"answered,omitempty"`
	Reason       string `json:"reason,omitempty"` // the consumer's reason for a dispute
	// Corrects is, on a corrected invoice (a credit note), the disputed
	// invoice it answers; CorrectedBy is, on that disputed invoice, its
	// correction. Credit is how much less than the disputed invoice the
	// correction asks, and CorrectionReason the provider's reason for it.
	Corrects         string `json:"corrects,omitempty"`
	CorrectedBy      string `json:"corrected_by,omitempty"`
	Credit           int64  `json:"credit_micro,omitempty"`
	CorrectionReason string `json:"correction_reason,omitempty"`
}

// Charge returns what hosting r for the given nanoseconds costs at the given
// prices per vCPU-hour and per GiB-hour, rounded down to a micro-credit:
// floor(seconds * (vcpu_price * cpu * 1024 + gib_price * mem_mib) / (3600 * 1024)),
// with seconds = floor(nanoseconds / 1e9). It reports false on overflow.
func Charge(nanos int64, r Resources, priceVCPUHour, priceGiBHour int64) (int64, bool) {
	return charge(nanos/1_000_000_000, r, priceVCPUHour, priceGiBHour)
}
