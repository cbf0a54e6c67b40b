package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/bbusdev/bbus"
)

// Outcomes of an Entry: what the agent made of an event.
const (
	Recorded   = "recorded"   // it committed a step (Entry.Step) to the ledger
	Nothing    = "nothing"    // the ledger already says what the event means, or the event is off
	Waiting    = "waiting"    // the other cloud (or the node) must act first; the agent retries
	Difference = "difference" // the layer and the ledger disagree in a way the agent may not mend
	Refused    = "refused"    // the ledger refused the step (Entry.Code)
)

// Entry is one thing the agent did, or decided not to do, and why.
type Entry struct {
	At        time.Time `json:"at"`
	Event     Kind      `json:"event,omitempty"` // empty for what the agent did when it started
	VM        string    `json:"vm,omitempty"`
	Ref       string    `json:"ref,omitempty"`
	Outcome   string    `json:"outcome"`
	Step      string    `json:"step,omitempty"` // the transaction's type, as migration_accept
	Migration string    `json:"migration,omitempty"`
	Tx        string    `json:"tx,omitempty"`
	Height    int64     `json:"height,omitempty"`
	Code      string    `json:"code,omitempty"` // the ledger's code of a refusal, or of a failure
	Why       string    `json:"why"`
	// LatencyMS is from the layer's event to the step's commit.
	LatencyMS int64 `json:"latency_ms,omitempty"`
}

// State is what the agent keeps in its home for bbus agent status and log:
// counts since it started, what it waits for, its last refusal and its latest
// entries.
type State struct {
	Cloud       string    `json:"cloud"`
	Node        string    `json:"node"`
	Source      string    `json:"source,omitempty"`
	PID         int       `json:"pid"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
	Events      int64     `json:"events"`
	Steps       int64     `json:"steps"`
	Refusals    int64     `json:"refusals"`
	Differences int64     `json:"differences"`
	Pending     []Entry   `json:"pending,omitempty"` // steps waiting for the other cloud, by VM
	LastRefusal *Entry    `json:"last_refusal,omitempty"`
	Log         []Entry   `json:"log"` // the latest MaxLog entries, oldest first
}

// MaxLog is how many entries the state file keeps.
const MaxLog = 500

// StatePath returns the agent's state file in home.
func StatePath(home string) string { return filepath.Join(home, "agent", "state.json") }

// ReadState reads the state the agent of home last wrote.
func ReadState(home string) (*State, error) {
	b, err := os.ReadFile(StatePath(home))
	if os.IsNotExist(err) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no agent has run with home %s (no %s)", home, StatePath(home))
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "%s: %v", StatePath(home), err)
	}
	return &s, nil
}

// writeState replaces path with s atomically: a reader sees the old state or
// the new one, whole, even if the agent is killed while it writes.
func writeState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".state-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
