package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
)

// Config is what a Recorder records with.
type Config struct {
	// Cloud is the cloud the agent signs for; Key is its ed25519 private key
	// (keys.Load(home, cloud).PrivKey).
	Cloud string
	Key   []byte
	// Client talks to a node of the federation; transactions go through
	// POST /v1/txs, signed with Key.
	Client *client.Client
	// Home, if set, is where the agent keeps its state file (StatePath).
	Home string
	// Source names the layer watched, for bbus agent status.
	Source string
	// RegisterNew records a VM created on the layer that the ledger does not
	// know (VMCreated) as a new VM of Cloud.
	RegisterNew bool
	// TerminateOnDestroy records a VM of Cloud destroyed on the layer
	// (VMDeleted) as terminated.
	TerminateOnDestroy bool
	// Agreements names, by destination cloud, the agreement a migration the
	// agent proposes is under (needed where the federation requires one).
	Agreements map[string]string
	// Wait is how long a step that waits for the other cloud is retried
	// before the agent gives up on it and reports it (default 10 minutes,
	// past which an unaccepted proposal has usually lapsed anyway); Poll is
	// how often it is retried (default 100 ms).
	Wait time.Duration
	Poll time.Duration
	// Registerer, if set, gets the agent's bbus_agent_* metrics.
	Registerer prometheus.Registerer
	// Log gets a line for each entry (default: discarded).
	Log io.Writer
}

// Recorder turns the Events of its cloud's virtualisation layer into the
// ledger steps its cloud is authorised to sign. Before each step it reads the
// ledger, so an event seen twice, or seen again after a restart, records
// nothing twice.
type Recorder struct {
	cfg    Config
	c      *client.Client
	signer client.Signer
	m      *metrics
	log    *slog.Logger

	mu      sync.Mutex
	state   State
	pending map[string]*goal // by VM
}

// goal is an event whose step waits for the other cloud.
type goal struct {
	ev    Event
	since time.Time
	last  Entry
}

// New returns a recorder for cfg.
func New(cfg Config) (*Recorder, error) {
	if err := bbus.ValidateID("cloud", cfg.Cloud); err != nil {
		return nil, err
	}
	if len(cfg.Key) != 64 {
		return nil, bbus.Errorf(bbus.EINVALID, "the agent of %s needs the cloud's ed25519 private key", cfg.Cloud)
	}
	if cfg.Client == nil {
		return nil, bbus.Errorf(bbus.EINVALID, "the agent needs a node to talk to")
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 10 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	r := &Recorder{
		cfg: cfg, c: cfg.Client, m: newMetrics(cfg.Registerer),
		signer:  client.Signer{ID: cfg.Cloud, Key: cfg.Key},
		log:     slog.New(slog.NewTextHandler(cfg.Log, nil)),
		pending: map[string]*goal{},
	}
	now := time.Now().UTC()
	r.state = State{Cloud: cfg.Cloud, Node: cfg.Client.BaseURL(), Source: cfg.Source, PID: os.Getpid(), Started: now, Updated: now, Log: []Entry{}}
	if cfg.Home != "" {
		// The log and the last refusal go on across restarts; the counts
		// are since this start.
		if old, err := ReadState(cfg.Home); err == nil && old.Cloud == cfg.Cloud {
			r.state.Log, r.state.LastRefusal = old.Log, old.LastRefusal
		}
	}
	return r, nil
}

// Run reconciles (if src is a Reconciler) and then records what src reports,
// until ctx ends or src fails; it returns src's error, or ctx's. The emit it
// gives src returns once the event is handled (recorded, refused, or waiting
// for the other cloud).
func (r *Recorder) Run(ctx context.Context, src Source) error {
	if err := r.chain(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan handled, 64)
	errc := make(chan error, 1)
	go func() {
		// emit returns once the event is handled: a source that answers its
		// sender (the CloudEvents hook) answers after the step is taken.
		errc <- src.Run(ctx, func(ev Event) {
			h := handled{ev, make(chan struct{})}
			select {
			case events <- h:
			case <-ctx.Done():
				return
			}
			select {
			case <-h.done:
			case <-ctx.Done():
			}
		})
	}()
	if rec, ok := src.(Reconciler); ok {
		running, err := rec.Running(ctx)
		if err != nil {
			return fmt.Errorf("agent: listing what runs on %s: %w", r.cfg.Source, err)
		}
		r.Reconcile(ctx, running)
	}
	r.save()
	tick := time.NewTicker(r.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case h := <-events:
			r.Handle(ctx, h.ev)
			close(h.done)
		case <-tick.C:
			r.Retry(ctx)
		case err := <-errc:
			// What the source reported before it ended is still recorded.
		drain:
			for {
				select {
				case h := <-events:
					r.Handle(ctx, h.ev)
					close(h.done)
				default:
					break drain
				}
			}
			if err == nil {
				err = ctx.Err()
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handled is an event on its way to the recorder, and the signal that it was handled.
type handled struct {
	ev   Event
	done chan struct{}
}

// chain learns the chain id the agent signs for.
func (r *Recorder) chain(ctx context.Context) error {
	if r.signer.ChainID != "" {
		return nil
	}
	for {
		st, err := r.c.Status(ctx)
		if err == nil {
			r.signer.ChainID = st.ChainID
			return nil
		}
		if bbus.ErrorCode(err) != bbus.EUNAVAILABLE {
			return err
		}
		r.log.Warn("waiting for the node", "node", r.c.BaseURL(), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Handle records the step ev calls for, if any and if its cloud may sign it,
// and returns what it did. A step that must wait for the other cloud is kept
// and retried by Run (or Retry) until it can be taken.
func (r *Recorder) Handle(ctx context.Context, ev Event) Entry {
	if err := r.chain(ctx); err != nil {
		return r.note(Event{}, Entry{Outcome: Waiting, Code: bbus.ErrorCode(err), Why: bbus.ErrorMessage(err)})
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	r.m.events.WithLabelValues(string(ev.Kind)).Inc()
	r.mu.Lock()
	r.state.Events++
	g := r.pending[ev.VM]
	r.mu.Unlock()
	// An arrival seen again does not undo a success that waits.
	if g != nil && ev.Kind == MigrationArrived && g.ev.Kind == MigrationSucceeded {
		ev = g.ev
	}
	e := r.attempt(ctx, ev)
	r.settle(ev, e, true)
	return e
}

// Retry tries again the steps that wait, and gives up on those that waited
// longer than Config.Wait.
func (r *Recorder) Retry(ctx context.Context) {
	r.mu.Lock()
	goals := make([]*goal, 0, len(r.pending))
	for _, g := range r.pending {
		goals = append(goals, g)
	}
	r.mu.Unlock()
	sort.Slice(goals, func(i, j int) bool { return goals[i].since.Before(goals[j].since) })
	for _, g := range goals {
		if ctx.Err() != nil {
			return
		}
		e := r.attempt(ctx, g.ev)
		if e.Outcome == Waiting && time.Since(g.since) > r.cfg.Wait {
			e.Outcome = Difference
			e.Why = fmt.Sprintf("gave up after %s: %s", r.cfg.Wait, e.Why)
		}
		r.settle(g.ev, e, false)
	}
}

// settle logs e (a wait only when it is new or its reason changed) and keeps
// or drops ev's goal.
func (r *Recorder) settle(ev Event, e Entry, fresh bool) {
	r.mu.Lock()
	g := r.pending[ev.VM]
	if e.Outcome == Waiting {
		if g == nil || g.ev.Kind != ev.Kind || g.ev.Ref != ev.Ref {
			g = &goal{ev: ev, since: time.Now()}
			r.pending[ev.VM] = g
			fresh = true
		}
		same := g.last.Why == e.Why && g.last.Code == e.Code
		g.last = e
		r.m.pending.Set(float64(len(r.pending)))
		r.mu.Unlock()
		if fresh || !same {
			r.note(ev, e)
		}
		return
	}
	if g != nil && (g.ev.Kind == ev.Kind && g.ev.Ref == ev.Ref || fresh) {
		delete(r.pending, ev.VM)
	}
	r.m.pending.Set(float64(len(r.pending)))
	r.mu.Unlock()
	r.note(ev, e)
}

// note completes e with what ev says, logs it, counts it and saves the state.
func (r *Recorder) note(ev Event, e Entry) Entry {
	e.At = time.Now().UTC()
	if e.Event == "" {
		e.Event = ev.Kind
	}
	if e.VM == "" {
		e.VM = ev.VM
	}
	if e.Ref == "" {
		e.Ref = ev.Ref
	}
	attrs := []any{"outcome", e.Outcome, "event", e.Event, "vm", e.VM}
	for _, kv := range [][2]string{{"step", e.Step}, {"migration", e.Migration}, {"tx", e.Tx}, {"code", e.Code}, {"ref", e.Ref}} {
		if kv[1] != "" {
			attrs = append(attrs, kv[0], kv[1])
		}
	}
	if e.Height > 0 {
		attrs = append(attrs, "height", e.Height)
	}
	if e.Outcome == Recorded {
		attrs = append(attrs, "latency_ms", e.LatencyMS)
	}
	attrs = append(attrs, "why", e.Why)
	level := slog.LevelInfo
	if e.Outcome == Refused || e.Outcome == Difference {
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "agent", attrs...)
	r.mu.Lock()
	switch e.Outcome {
	case Recorded:
		r.state.Steps++
	case Refused:
		r.state.Refusals++
		last := e
		r.state.LastRefusal = &last
		r.m.refusals.WithLabelValues(e.Code).Inc()
	case Difference:
		r.state.Differences++
		r.m.differences.Inc()
	}
	r.state.Log = append(r.state.Log, e)
	if n := len(r.state.Log) - MaxLog; n > 0 {
		r.state.Log = slices.Delete(r.state.Log, 0, n)
	}
	r.mu.Unlock()
	r.save()
	return e
}

// save writes the state file, if the agent has a home.
func (r *Recorder) save() {
	if r.cfg.Home == "" {
		return
	}
	r.mu.Lock()
	s := r.state
	s.Updated = time.Now().UTC()
	s.Pending = make([]Entry, 0, len(r.pending))
	for _, g := range r.pending {
		s.Pending = append(s.Pending, g.last)
	}
	sort.Slice(s.Pending, func(i, j int) bool { return s.Pending[i].VM < s.Pending[j].VM })
	s.Log = slices.Clone(s.Log)
	r.mu.Unlock()
	if err := writeState(StatePath(r.cfg.Home), &s); err != nil {
		r.log.Error("cannot write the agent's state", "err", err)
	}
}

// State returns a copy of what the agent would write to its state file.
func (r *Recorder) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.state
	s.Log = slices.Clone(s.Log)
	for _, g := range r.pending {
		s.Pending = append(s.Pending, g.last)
	}
	return s
}
