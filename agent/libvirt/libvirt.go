// Package libvirt is the agent's source for libvirt, the layer under most KVM
// clouds: it follows a libvirtd's domain lifecycle events (qemu+tcp://,
// qemu+tls://, qemu:///system or qemu+unix:// URIs) and reports them as
// agent.Events.
//
// A domain's bbus VM id is the id attribute of the element
// <bbus:vm xmlns:bbus="https://bbus.dev/xmlns/agent/1" id="..."/> in the
// domain's metadata, or else the domain's UUID. The cloud a migration goes to
// is the cloud of the peer libvirt (Config.Peers) where the domain is arriving
// when it leaves: libvirt does not tell the source where its domain goes.
package libvirt

import (
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
)

// Namespace is the XML namespace of the domain metadata element naming a
// domain's bbus VM id.
const Namespace = "https://bbus.dev/xmlns/agent/1"

// Config says which libvirt to watch and which clouds its peers are.
type Config struct {
	// URI is the libvirt to watch, like qemu+tcp://HOST:16509/system.
	URI string
	// Peers maps the libvirt URIs of other clouds' hosts to their cloud ids:
	// where a domain that leaves goes is the peer where it is arriving.
	Peers map[string]string
	// Destination, if set, is the cloud of a migration whose domain no peer
	// holds (or when no peers are given).
	Destination string
	// Log gets what the source does (default: discarded).
	Log *slog.Logger
}

// Source watches one libvirtd. It implements agent.Source and agent.Reconciler.
type Source struct {
	cfg Config
	log *slog.Logger

	mu  sync.Mutex
	ids map[golibvirt.UUID]string // domain → bbus VM id, as last seen
	out map[golibvirt.UUID]string // domains leaving: their destination cloud
	in  map[golibvirt.UUID]bool   // domains arriving, not yet running
}

// New returns a source for cfg; it connects when it runs.
func New(cfg Config) (*Source, error) {
	if _, err := parseURI(cfg.URI); err != nil {
		return nil, err
	}
	for uri, cloud := range cfg.Peers {
		if _, err := parseURI(uri); err != nil {
			return nil, err
		}
		if err := bbus.ValidateID("cloud", cloud); err != nil {
			return nil, err
		}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log, ids: map[golibvirt.UUID]string{}, out: map[golibvirt.UUID]string{}, in: map[golibvirt.UUID]bool{}}, nil
}

func parseURI(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return nil, bbus.Errorf(bbus.EINVALID, "libvirt URI %q: want one like qemu+tcp://HOST:PORT/system or qemu:///system", s)
	}
	return u, nil
}

// dial connects to the libvirt at uri.
func dial(uri string) (*golibvirt.Libvirt, error) {
	u, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	l, err := golibvirt.ConnectToURI(u)
	if err != nil {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "libvirt %s: %v", uri, err)
	}
	return l, nil
}

// Run follows the libvirt's lifecycle events until ctx ends or the connection
// is lost.
func (s *Source) Run(ctx context.Context, emit func(agent.Event)) error {
	l, err := dial(s.cfg.URI)
	if err != nil {
		return err
	}
	defer l.Disconnect()
	events, err := l.LifecycleEvents(ctx)
	if err != nil {
		return bbus.Errorf(bbus.EUNAVAILABLE, "libvirt %s: subscribing to lifecycle events: %v", s.cfg.URI, err)
	}
	// Learn the ids of the domains there now, for those that stop later.
	if doms, _, err := l.ConnectListAllDomains(1, 0); err == nil {
		for _, d := range doms {
			s.vmID(l, d)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.Disconnected():
			return bbus.Errorf(bbus.EUNAVAILABLE, "libvirt %s: connection lost", s.cfg.URI)
		case msg, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return bbus.Errorf(bbus.EUNAVAILABLE, "libvirt %s: the event stream ended", s.cfg.URI)
			}
			at := time.Now()
			d := msg.Dom
			if ev, ok := s.translate(msg, s.vmID(l, d), func() bbus.Resources { return resources(l, d) }, func() string { return s.destination(d) }); ok {
				ev.At = at
				emit(ev)
			}
		}
	}
}

// translate maps one lifecycle event of the domain with bbus id vm to what it
// means to the agent; res and dest are asked only where the event needs them.
func (s *Source) translate(msg golibvirt.DomainEventLifecycleMsg, vm string, res func() bbus.Resources, dest func() string) (agent.Event, bool) {
	d := msg.Dom
	ev := agent.Event{VM: vm, Ref: fmt.Sprintf("%s %s/%s", d.Name, eventName(msg.Event), detailName(msg.Event, msg.Detail))}
	s.log.Debug("libvirt event", "uri", s.cfg.URI, "domain", d.Name, "event", ev.Ref)
	s.mu.Lock()
	_, leaving := s.out[d.UUID]
	arriving := s.in[d.UUID]
	s.mu.Unlock()
	typ, detail := golibvirt.DomainEventType(msg.Event), msg.Detail
	switch {
	case typ == golibvirt.DomainEventSuspended && (detail == int32(golibvirt.DomainEventSuspendedMigrated) || detail == int32(golibvirt.DomainEventSuspendedPostcopy)):
		if leaving {
			return ev, false // post-copy after pre-copy: the same migration
		}
		ev.Kind = agent.MigrationStarted
		ev.Destination = dest()
		s.mu.Lock()
		s.out[d.UUID] = ev.Destination
		s.mu.Unlock()
	case typ == golibvirt.DomainEventResumed && leaving:
		// A domain that left resumes here: its migration failed.
		ev.Kind = agent.MigrationFailed
		s.forget(d.UUID, false)
	case typ == golibvirt.DomainEventSuspended && leaving && detail == int32(golibvirt.DomainEventSuspendedPostcopyFailed):
		ev.Kind = agent.MigrationFailed
		s.forget(d.UUID, false)
	case typ == golibvirt.DomainEventStopped && leaving:
		s.forget(d.UUID, false)
		if detail == int32(golibvirt.DomainEventStoppedMigrated) {
			return ev, false // it runs at the destination now
		}
		ev.Kind = agent.MigrationFailed
	case typ == golibvirt.DomainEventStarted && detail == int32(golibvirt.DomainEventStartedMigrated):
		ev.Kind = agent.MigrationArrived
		s.mu.Lock()
		s.in[d.UUID] = true
		s.mu.Unlock()
	case typ == golibvirt.DomainEventResumed && (detail == int32(golibvirt.DomainEventResumedMigrated) || detail == int32(golibvirt.DomainEventResumedPostcopy)),
		typ == golibvirt.DomainEventResumed && arriving:
		ev.Kind = agent.MigrationSucceeded
		s.forget(d.UUID, true)
	case typ == golibvirt.DomainEventStopped && arriving:
		// What arrived stopped before it ran here: the migration failed.
		ev.Kind = agent.MigrationFailed
		s.forget(d.UUID, true)
	case typ == golibvirt.DomainEventStarted && detail == int32(golibvirt.DomainEventStartedBooted):
		ev.Kind = agent.VMCreated
		ev.Resources = res()
	case typ == golibvirt.DomainEventStopped && detail != int32(golibvirt.DomainEventStoppedMigrated) && detail != int32(golibvirt.DomainEventStoppedSaved):
		ev.Kind = agent.VMDeleted
	default:
		return ev, false
	}
	return ev, true
}

func (s *Source) forget(id golibvirt.UUID, incoming bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if incoming {
		delete(s.in, id)
	} else {
		delete(s.out, id)
	}
}

// vmID returns the bbus id of domain d: its metadata element's, else its UUID.
func (s *Source) vmID(l *golibvirt.Libvirt, d golibvirt.Domain) string {
	id := ""
	if meta, err := l.DomainGetMetadata(d, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{Namespace}, golibvirt.DomainAffectLive); err == nil {
		id = metadataID(meta)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = s.ids[d.UUID] // a domain gone: its id as last seen
	}
	if id == "" {
		id = uuidString(d.UUID)
	}
	s.ids[d.UUID] = id
	return id
}

// metadataID returns the id attribute of a <vm id="..."/> metadata element.
func metadataID(meta string) string {
	var el struct {
		XMLName xml.Name
		ID      string `xml:"id,attr"`
	}
	if xml.Unmarshal([]byte(meta), &el) != nil || el.XMLName.Local != "vm" {
		return ""
	}
	return strings.TrimSpace(el.ID)
}

func uuidString(u golibvirt.UUID) string {
	b := u[:]
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// resources returns what domain d has, as bbus counts it.
func resources(l *golibvirt.Libvirt, d golibvirt.Domain) bbus.Resources {
	_, maxMem, _, cpus, _, err := l.DomainGetInfo(d)
	if err != nil {
		return bbus.Resources{}
	}
	return bbus.Resources{CPU: int64(cpus), MemMiB: int64(maxMem / 1024)}
}

// destination returns the cloud of the peer where domain d is arriving, or
// Config.Destination.
func (s *Source) destination(d golibvirt.Domain) string {
	uris := make([]string, 0, len(s.cfg.Peers))
	for uri := range s.cfg.Peers {
		uris = append(uris, uri)
	}
	sort.Strings(uris)
	for _, uri := range uris {
		if s.holds(uri, d.UUID) {
			return s.cfg.Peers[uri]
		}
	}
	if s.cfg.Destination != "" {
		return s.cfg.Destination
	}
	if len(uris) == 1 {
		return s.cfg.Peers[uris[0]]
	}
	s.log.Warn("no peer holds the domain that leaves", "domain", d.Name, "peers", len(uris))
	return ""
}

// holds reports whether the libvirt at uri has domain id.
func (s *Source) holds(uri string, id golibvirt.UUID) bool {
	l, err := dial(uri)
	if err != nil {
		s.log.Warn("cannot reach a peer libvirt", "uri", uri, "err", err)
		return false
	}
	defer l.Disconnect()
	_, err = l.DomainLookupByUUID(id)
	return err == nil
}

// Running returns the bbus ids of the domains that run now, leaving out those
// with a job under way (a migration, in or out): they are not settled.
func (s *Source) Running(ctx context.Context) ([]string, error) {
	l, err := dial(s.cfg.URI)
	if err != nil {
		return nil, err
	}
	defer l.Disconnect()
	doms, _, err := l.ConnectListAllDomains(1, golibvirt.ConnectListDomainsRunning)
	if err != nil {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "libvirt %s: listing domains: %v", s.cfg.URI, err)
	}
	var ids []string
	for _, d := range doms {
		if job, _, _, _, _, _, _, _, _, _, _, _, err := l.DomainGetJobInfo(d); err == nil && job != int32(golibvirt.DomainJobNone) {
			continue
		}
		ids = append(ids, s.vmID(l, d))
	}
	sort.Strings(ids)
	return ids, nil
}

func eventName(e int32) string {
	names := []string{"Defined", "Undefined", "Started", "Suspended", "Resumed", "Stopped", "Shutdown", "PMSuspended", "Crashed"}
	if e >= 0 && int(e) < len(names) {
		return names[e]
	}
	return fmt.Sprint(e)
}

func detailName(e, d int32) string {
	details := map[int32][]string{
		2: {"Booted", "Migrated", "Restored", "FromSnapshot", "Wakeup", "Recreated"},
		3: {"Paused", "Migrated", "IOError", "Watchdog", "Restored", "FromSnapshot", "APIError", "Postcopy", "PostcopyFailed"},
		4: {"Unpaused", "Migrated", "FromSnapshot", "Postcopy", "PostcopyFailed"},
		5: {"Shutdown", "Destroyed", "Crashed", "Migrated", "Saved", "Failed", "FromSnapshot", "Recreated"},
	}
	if n := details[e]; d >= 0 && int(d) < len(n) {
		return n[d]
	}
	return fmt.Sprint(d)
}
