// Package cloudevents is the agent's source for any orchestrator that can
// send CloudEvents over HTTP (KubeVirt's migration objects, Proxmox tasks, a
// script): the agent serves POST /v1/hooks/cloudevents, in structured or
// binary mode, and reports each event as an agent.Event.
//
// Event types are io.bbus.migration.started, .arrived, .succeeded, .failed,
// io.bbus.vm.created and .deleted; their data is JSON:
//
//	{"vm": "vm-1", "source": "east", "destination": "west",
//	 "resources": {"cpu": 2, "mem_mib": 4096, "disk_iops": 0, "net_mbps": 0}}
//
// source and destination name the clouds a migration leaves and goes to;
// for io.bbus.vm.* events, source names the cloud the VM is on. Each agent
// takes only the steps its cloud signs, so the same event may be sent to the
// agents of both clouds.
package cloudevents

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
)

// Path is where the agent takes CloudEvents.
const Path = "/v1/hooks/cloudevents"

// TypePrefix begins every event type the agent takes.
const TypePrefix = "io.bbus."

// kinds maps event types to what they mean.
var kinds = map[string]agent.Kind{
	"io.bbus.migration.started":   agent.MigrationStarted,
	"io.bbus.migration.arrived":   agent.MigrationArrived,
	"io.bbus.migration.succeeded": agent.MigrationSucceeded,
	"io.bbus.migration.failed":    agent.MigrationFailed,
	"io.bbus.vm.created":          agent.VMCreated,
	"io.bbus.vm.deleted":          agent.VMDeleted,
}

// Data is the data of a bbus CloudEvent.
type Data struct {
	VM          string         `json:"vm"`
	Source      string         `json:"source,omitempty"`
	Destination string         `json:"destination,omitempty"`
	Resources   bbus.Resources `json:"resources,omitzero"`
}

// maxBody bounds one request.
const maxBody = 64 << 10

// Config says where the agent takes CloudEvents.
type Config struct {
	// Addr is the HOST:PORT to listen on (":0" picks a port; see Source.Addr).
	Addr string
	// Token, if set, is the bearer token a sender must present.
	Token string
	// Log gets what the source does (default: discarded).
	Log *slog.Logger
}

// Source serves the CloudEvents hook. It implements agent.Source.
type Source struct {
	cfg   Config
	log   *slog.Logger
	ln    net.Listener
	ready chan struct{}
}

// New returns a source that listens on cfg.Addr once it runs.
func New(cfg Config) (*Source, error) {
	if cfg.Addr == "" {
		return nil, bbus.Errorf(bbus.EINVALID, "the CloudEvents hook needs an address to listen on (HOST:PORT)")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log, ready: make(chan struct{})}, nil
}

// Addr returns the address the hook listens on, once Run has started it.
func (s *Source) Addr(ctx context.Context) (string, error) {
	select {
	case <-s.ready:
		return s.ln.Addr().String(), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Run serves the hook until ctx ends.
func (s *Source) Run(ctx context.Context, emit func(agent.Event)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return bbus.Errorf(bbus.EUNAVAILABLE, "CloudEvents hook: %v", err)
	}
	s.ln = ln
	close(s.ready)
	mux := http.NewServeMux()
	mux.Handle(Path, s.Handler(emit))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return ctx.Err()
	case err := <-errc:
		return bbus.Errorf(bbus.EUNAVAILABLE, "CloudEvents hook: %v", err)
	}
}

// Handler returns the hook's handler: it answers 202 to an event once emit
// returned (the agent's Recorder returns once it handled it: a sender that got
// no answer should send the event again, which records nothing twice), 400 (with the error shape of the node's API) to one it cannot
// take, 401 without the token.
func (s *Source) Handler(emit func(agent.Event)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			fail(w, http.StatusMethodNotAllowed, bbus.Errorf(bbus.EINVALID, "the hook takes POST"))
			return
		}
		if s.cfg.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
				fail(w, http.StatusUnauthorized, bbus.Errorf(bbus.EUNAUTHENTICATED, "the hook needs its bearer token"))
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		ce, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				fail(w, http.StatusRequestEntityTooLarge, bbus.Errorf(bbus.ETOOLARGE, "an event is at most %d bytes", maxBody))
				return
			}
			fail(w, http.StatusBadRequest, bbus.Errorf(bbus.EMALFORMED, "not a CloudEvent: %v", err))
			return
		}
		ev, err := translate(ce)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		s.log.Debug("CloudEvent", "type", ce.Type(), "source", ce.Source(), "id", ce.ID(), "vm", ev.VM)
		emit(ev)
		w.WriteHeader(http.StatusAccepted)
	})
}

// translate maps a CloudEvent to an agent.Event.
func translate(ce *event.Event) (agent.Event, error) {
	kind, ok := kinds[ce.Type()]
	if !ok {
		return agent.Event{}, bbus.Errorf(bbus.EINVALID, "event type %q is not one of io.bbus.migration.started|arrived|succeeded|failed, io.bbus.vm.created|deleted", ce.Type())
	}
	if ct := ce.DataMediaType(); ct != "" && ct != event.ApplicationJSON && !strings.HasSuffix(ct, "+json") {
		return agent.Event{}, bbus.Errorf(bbus.EINVALID, "event data is %s; want application/json", ct)
	}
	var d Data
	dec := json.NewDecoder(strings.NewReader(string(ce.Data())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return agent.Event{}, bbus.Errorf(bbus.EINVALID, "event data: %v", err)
	}
	if err := bbus.ValidateID("vm", d.VM); err != nil {
		return agent.Event{}, err
	}
	for _, c := range []string{d.Source, d.Destination} {
		if c != "" {
			if err := bbus.ValidateID("cloud", c); err != nil {
				return agent.Event{}, err
			}
		}
	}
	if !d.Resources.IsZero() {
		if err := d.Resources.Validate("resources", false); err != nil {
			return agent.Event{}, err
		}
	}
	return agent.Event{Kind: kind, VM: d.VM, Source: d.Source, Destination: d.Destination, Resources: d.Resources,
		At: time.Now(), Ref: fmt.Sprintf("%s %s", ce.Source(), ce.ID())}, nil
}

func fail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": bbus.ErrorCode(err), "message": bbus.ErrorMessage(err)}})
}
