package bbus

import "time"

// The questions a reader asks of the ledger and the shapes of its answers that
// are not records themselves: package ledger answers them, package httpapi
// serves them, package client asks them.

// Page asks for one page of a list: at most Limit items after the cursor After
// (a Next value from the previous page; empty for the first page). A Limit of
// 0 or less asks for the ledger's default, and it caps what is larger
// (ledger.DefaultLimit, ledger.MaxLimit).
type Page struct {
	Limit int
	After string
}

// History is everything the ledger knows of where a VM ran.
type History struct {
	VM         VM          `json:"vm"`
	Intervals  []Interval  `json:"intervals"`
	Migrations []Migration `json:"migrations"`
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

// AgreementFilter narrows a list of agreements; zero fields match everything.
type AgreementFilter struct {
	Cloud  string // as provider or consumer
	Status string
}

// ViolationFilter narrows a list of violations; zero fields match everything.
type ViolationFilter struct {
	Cloud string // the cloud it is attributed to
	VM    string
}

// MatchRequest is what a cloud looks for: resources, a price ceiling per
// vCPU-hour (negative: none), tags the offer must carry, and a cloud to leave out.
type MatchRequest struct {
	Resources        Resources
	MaxPriceVCPUHour int64
	Tags             []Tag
	Exclude          string
}

// Match is one cloud able to host a request, as match-making ranks it.
type Match struct {
	Cloud        string    `json:"cloud"`
	Free         Resources `json:"free"`
	Offer        Offer     `json:"offer"`
	CostPerHour  int64     `json:"cost_per_hour_micro"` // what the request costs per hour at the offer's prices
	ReputationBP int64     `json:"reputation_bp"`
	Score        int64     `json:"score"` // CostPerHour * 10000 / ReputationBP: lower ranks first
}

// Standing is a cloud's reputation.
type Standing struct {
	Cloud        string `json:"cloud"`
	ReputationBP int64  `json:"reputation_bp"`
	Reports      int64  `json:"reports"`
	Compliant    int64  `json:"compliant_reports"`
}

// OracleStanding is an oracle's accountability: its reports and how those in
// decided windows compared with the combined value.
type OracleStanding struct {
	Oracle       string `json:"oracle"`
	Status       string `json:"status"`
	ReputationBP int64  `json:"reputation_bp"`
	Reports      int64  `json:"reports"`
	Agreeing     int64  `json:"agreeing_reports"`
	Disagreeing  int64  `json:"disagreeing_reports"`
}

// ReputationList is the body of GET /v1/reputation: the members' standings
// (items) and the oracles' (oracles), each best first.
type ReputationList struct {
	Items   []Standing       `json:"items"`
	Oracles []OracleStanding `json:"oracles"`
}
