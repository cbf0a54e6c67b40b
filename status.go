package bbus

import "time"

// Validator is one member of the consensus engine's validator set.
type Validator struct {
	Address string `json:"address"` // hex, as CometBFT prints it
	PubKey  []byte `json:"pub_key"`
	Power   int64  `json:"power"`
	Cloud   string `json:"cloud,omitempty"` // the cloud whose validator key it is, if known
}

// Status describes a node and the chain it follows.
type Status struct {
	ChainID    string      `json:"chain_id"`
	Cloud      string      `json:"cloud"` // the cloud this node signs for
	NodeID     string      `json:"node_id"`
	Height     int64       `json:"latest_height"`
	AppHash    string      `json:"app_hash"` // hex
	BlockTime  time.Time   `json:"latest_block_time"`
	CatchingUp bool        `json:"catching_up"`
	Version    string      `json:"version,omitempty"` // the bbus version the node runs
	Params     *Params     `json:"params,omitempty"`  // the federation's parameters (genesis)
	Validators []Validator `json:"validators"`
	Trust      string      `json:"trust,omitempty"` // HEIGHT:HASH of the latest block's header: a checkpoint for bbus evidence verify --trust
}

// TxResult is the outcome of a submitted transaction. Code and Message are set
// when the ledger rejected it; Height is 0 when it was not (yet) committed.
type TxResult struct {
	TxID    string `json:"tx"`   // the bbus transaction id: SHA-256 of the signed body
	Hash    string `json:"hash"` // the consensus engine's hash of the whole transaction bytes
	Height  int64  `json:"height,omitempty"`
	Index   int    `json:"index,omitempty"`
	Type    string `json:"type,omitempty"`
	Signer  string `json:"signer,omitempty"`
	ID      string `json:"id,omitempty"` // the id the action made or acted on
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}
