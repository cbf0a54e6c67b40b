package oracle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bbusdev/bbus"
)

// StateDir returns the folder of a home that holds its oracles' state files.
func StateDir(home string) string { return filepath.Join(home, "oracle") }

// StatePath returns the path of the state file of oracle id in home.
func StatePath(home, id string) string { return filepath.Join(StateDir(home), id+".json") }

// State is what an oracle remembers across restarts: per VM, the window being
// measured, the completed windows not yet settled (with the exact transaction
// signed for each), the last window settled, and counts. It is written
// atomically after every change that matters, and before each submission of a
// transaction it has not yet recorded.
type State struct {
	Oracle  string              `json:"oracle"`
	ChainID string              `json:"chain_id,omitempty"`
	VMs     map[string]*VMState `json:"vms"`
}

// VMState is the oracle's record of one VM.
type VMState struct {
	// LastEnd is the end (Unix seconds) of the last window settled: recorded
	// on the ledger, found already recorded, refused or lost. No window ending
	// at or before it is measured or submitted again.
	LastEnd int64 `json:"last_end,omitempty"`
	// LastReport is the id of the last report of this oracle's the ledger
	// recorded for the VM.
	LastReport string `json:"last_report,omitempty"`
	// Since is the first second a window of the VM may start at: the second
	// after its registration on the ledger, read before its first window.
	// The ledger refuses a window that starts before the VM was registered.
	Since int64 `json:"since,omitempty"`
	// Open is the window being measured.
	Open *Tally `json:"open,omitempty"`
	// Queue holds the completed windows not yet settled, oldest first.
	Queue []Window `json:"queue,omitempty"`

	Probes        int64 `json:"probes"`
	ProbeFailures int64 `json:"probe_failures"`
	// Reported counts the windows the ledger recorded from this oracle
	// (Resolved of them were found committed after a restart or a lost answer).
	Reported int64 `json:"reported"`
	Resolved int64 `json:"resolved,omitempty"`
	// Duplicates counts windows the ledger refused because this oracle had
	// already reported them with another transaction (a state file lost or
	// restored from a backup).
	Duplicates int64 `json:"duplicates,omitempty"`
	// Conflicts counts windows the ledger refused because another oracle
	// reported them first: this oracle's measurement is not on the ledger.
	Conflicts int64 `json:"conflicts,omitempty"`
	// Rejected counts windows the ledger refused for another reason.
	Rejected int64 `json:"rejected,omitempty"`
	// Lost counts windows not committed before their transaction expired.
	Lost int64 `json:"lost,omitempty"`
	// Unmeasured counts windows skipped because no probe ran in them (the
	// oracle was not running).
	Unmeasured   int64     `json:"unmeasured,omitempty"`
	SubmitErrors int64     `json:"submit_errors"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
}

// Tally is the probes of one window so far.
type Tally struct {
	Start     int64   `json:"start"`
	End       int64   `json:"end"`
	Probes    int64   `json:"probes"`
	OK        int64   `json:"ok"`
	Latencies []int64 `json:"latencies_ms,omitempty"` // of the successful probes, when latency is measured
	Latency   bool    `json:"latency,omitempty"`
}

// Window is a completed window and the report made of it.
type Window struct {
	Start        int64 `json:"start"`
	End          int64 `json:"end"`
	Probes       int64 `json:"probes"`
	OK           int64 `json:"ok"`
	Availability int64 `json:"availability_mpct"`
	LatencyMS    int64 `json:"latency_ms,omitempty"`
	// Expires is when its transaction expires: End plus the tx_ttl.
	Expires int64 `json:"expires"`
	// TxID and Raw are the transaction signed for it, once signed: every
	// submission of the window sends exactly these bytes.
	TxID string `json:"tx,omitempty"`
	Raw  []byte `json:"raw,omitempty"`
	// Attempts counts its submissions.
	Attempts int64 `json:"attempts,omitempty"`
}

// LoadState reads the state file at path; a missing file is an empty state.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{VMs: map[string]*VMState{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("oracle: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "oracle: state file %s is not an oracle's state: %v", path, err)
	}
	if s.VMs == nil {
		s.VMs = map[string]*VMState{}
	}
	return &s, nil
}

// Save writes s to path atomically: a temporary file in the same folder,
// synced, renamed over path, and the folder synced, so that a crash leaves
// either the old state or the new one.
func (s *State) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("oracle: saving state: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("oracle: saving state: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("oracle: saving state: %w", werr)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
