// Package nova is the agent's source for OpenStack Nova: it consumes Nova's
// versioned notifications from RabbitMQ, unwraps oslo.messaging's envelope
// and Nova's versioned payload, and reports live and cold migrations, VM
// creation and deletion as agent.Events in terms of bbus clouds and VM ids.
//
// Source does not implement agent.Reconciler: what runs on Nova now is
// known only to Nova's API, which this source does not use, and the
// notifications it has seen since it started are no substitute.
package nova

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
)

// Config says which RabbitMQ to read and how Nova's hosts map to bbus.
type Config struct {
	// URL is the AMQP URL of the RabbitMQ Nova notifies through,
	// amqp://USER:PASSWORD@HOST:5672/VHOST.
	URL string
	// Exchange is the topic exchange Nova's notifications are published
	// to (oslo.messaging's control_exchange; default "nova").
	Exchange string
	// ExchangeDurable must match how oslo.messaging declared the
	// exchange (its amqp_durable_queues; default false).
	ExchangeDurable bool
	// Topics are the routing keys to bind (default
	// versioned_notifications.info and versioned_notifications.error).
	Topics []string
	// Queue is the agent's own durable queue, bound to Exchange for each
	// topic, so that notifications sent while the agent is down wait for
	// it (default "bbus-agent").
	Queue string
	// Hosts maps Nova compute hosts (as in publisher_id "nova-compute:HOST"
	// and the payload's host, or the payload's node) to bbus cloud ids.
	// Notifications about unmapped hosts are ignored.
	Hosts map[string]string
	// MetadataKey is the instance metadata key holding the bbus VM id
	// (default "bbus_vm"); instances without it are named by their uuid.
	MetadataKey string
	// Retry is the pause before reconnecting after the connection is lost
	// (default 2 s).
	Retry time.Duration
	// Log, when set, receives what the source does not report as an
	// Event (reconnections, notifications it cannot read).
	Log func(format string, args ...any)
}

// Source consumes one RabbitMQ's Nova notifications. It implements
// agent.Source.
type Source struct {
	cfg Config

	mu    sync.Mutex
	moves map[string]*move // by instance uuid: the migration in course
}

// move is what the source remembers of a migration between its
// notifications, since some name only the side that sends them.
type move struct {
	src, dst string
	closed   bool
}

// New checks cfg and returns a Source; it does not connect yet.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.URL)
	if cfg.URL == "" || err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return nil, fmt.Errorf("nova: URL %q is not amqp(s)://USER:PASSWORD@HOST:PORT/VHOST", cfg.URL)
	}
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("nova: no compute host mapped to a cloud")
	}
	for h, c := range cfg.Hosts {
		if h == "" || c == "" {
			return nil, fmt.Errorf("nova: empty host or cloud in mapping %q=%q", h, c)
		}
	}
	if cfg.Exchange == "" {
		cfg.Exchange = "nova"
	}
	if len(cfg.Topics) == 0 {
		cfg.Topics = []string{"versioned_notifications.info", "versioned_notifications.error"}
	}
	if cfg.Queue == "" {
		cfg.Queue = "bbus-agent"
	}
	if cfg.MetadataKey == "" {
		cfg.MetadataKey = "bbus_vm"
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	return &Source{cfg: cfg, moves: map[string]*move{}}, nil
}

func (s *Source) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log(format, args...)
	}
}

// Run consumes notifications until ctx ends. The first connection's failure
// is returned; later losses are retried every Config.Retry. A message is
// acknowledged once emit has returned for what it reports and ctx has not
// ended, so a message read but not acknowledged when the agent stops comes
// again (with the same Ref).
func (s *Source) Run(ctx context.Context, emit func(agent.Event)) error {
	first := true
	for {
		err := s.consume(ctx, emit, &first)
		if ctx.Err() != nil {
			return nil
		}
		if first {
			return err
		}
		s.logf("nova: connection lost (%v), reconnecting", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.Retry):
		}
	}
}

func (s *Source) consume(ctx context.Context, emit func(agent.Event), first *bool) error {
	conn, err := amqp.Dial(s.cfg.URL)
	if err != nil {
		return fmt.Errorf("nova: connect: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("nova: channel: %w", err)
	}
	if err := ch.ExchangeDeclare(s.cfg.Exchange, amqp.ExchangeTopic, s.cfg.ExchangeDurable, false, false, false, nil); err != nil {
		return fmt.Errorf("nova: exchange %q: %w", s.cfg.Exchange, err)
	}
	if _, err := ch.QueueDeclare(s.cfg.Queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("nova: queue %q: %w", s.cfg.Queue, err)
	}
	for _, t := range s.cfg.Topics {
		if err := ch.QueueBind(s.cfg.Queue, t, s.cfg.Exchange, false, nil); err != nil {
			return fmt.Errorf("nova: bind %q to %q: %w", s.cfg.Queue, t, err)
		}
	}
	if err := ch.Qos(32, 0, false); err != nil {
		return fmt.Errorf("nova: qos: %w", err)
	}
	deliveries, err := ch.Consume(s.cfg.Queue, "", false, true, false, false, nil)
	if err != nil {
		return fmt.Errorf("nova: consume %q: %w", s.cfg.Queue, err)
	}
	*first = false
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-closed:
			if e == nil {
				return errors.New("nova: connection closed")
			}
			return e
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("nova: deliveries ended")
			}
			for _, ev := range s.Translate(d.Body, d.MessageId) {
				emit(ev)
			}
			if ctx.Err() != nil {
				// Stopped while recording: leave the message to the
				// next run rather than risk losing it.
				return nil
			}
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("nova: ack: %w", err)
			}
		}
	}
}

// notification is an oslo.messaging notification, once out of its envelope.
type notification struct {
	MessageID   string          `json:"message_id"`
	PublisherID string          `json:"publisher_id"`
	EventType   string          `json:"event_type"`
	Priority    string          `json:"priority"`
	Timestamp   string          `json:"timestamp"`
	Payload     json.RawMessage `json:"payload"`
}

// versioned is a Nova versioned object: the payload and its parts.
type versioned struct {
	Name string          `json:"nova_object.name"`
	Data json.RawMessage `json:"nova_object.data"`
}

// instance is the part of InstanceActionPayload the source reads.
type instance struct {
	UUID     string            `json:"uuid"`
	Host     *string           `json:"host"`
	Node     *string           `json:"node"`
	Metadata map[string]string `json:"metadata"`
	Flavor   *versioned        `json:"flavor"`
}

type flavor struct {
	VCPUs    int64 `json:"vcpus"`
	MemoryMB int64 `json:"memory_mb"`
}

// Translate turns one RabbitMQ message body (an oslo.messaging envelope
// or a bare notification) into the Events it reports; ref names the message
// when the notification carries no message_id. Messages it cannot read or
// that concern no mapped host report nothing.
func (s *Source) Translate(body []byte, ref string) []agent.Event {
	var env struct {
		Version string  `json:"oslo.version"`
		Message *string `json:"oslo.message"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		s.logf("nova: message %s is not JSON: %v", ref, err)
		return nil
	}
	if env.Message != nil {
		body = []byte(*env.Message)
	}
	var n notification
	if err := json.Unmarshal(body, &n); err != nil || n.EventType == "" {
		s.logf("nova: message %s is not a notification", ref)
		return nil
	}
	if n.MessageID != "" {
		ref = n.MessageID
	}
	if !strings.HasPrefix(n.EventType, "instance.") {
		return nil
	}
	var p versioned
	var in instance
	if err := json.Unmarshal(n.Payload, &p); err != nil || json.Unmarshal(p.Data, &in) != nil || in.UUID == "" {
		s.logf("nova: %s %s: no instance in the payload", n.EventType, ref)
		return nil
	}
	at, err := time.Parse("2006-01-02 15:04:05.999999", n.Timestamp)
	if err != nil {
		at = time.Now().UTC()
	}
	vm := in.UUID
	if id := in.Metadata[s.cfg.MetadataKey]; id != "" {
		vm = id
	}
	_, publisher, _ := strings.Cut(n.PublisherID, ":")
	from := s.cloud(publisher)
	here := s.cloudOf(in)
	ev := func(k agent.Kind, src, dst string) agent.Event {
		return agent.Event{Kind: k, VM: vm, Source: src, Destination: dst, At: at, Ref: ref}
	}

	switch n.EventType {
	// Live migration. instance.live_migration_pre comes from the
	// destination while the instance's host is still the source.
	case "instance.live_migration_pre.start", "instance.resize_prep.start":
		if from == "" || here == "" || from == here {
			return nil
		}
		s.begin(in.UUID, here, from)
		return []agent.Event{ev(agent.MigrationStarted, here, from)}
	case "instance.live_migration_pre.end", "instance.resize_prep.end":
		if from == "" || here == "" || from == here {
			return nil
		}
		s.begin(in.UUID, here, from)
		return []agent.Event{ev(agent.MigrationArrived, here, from)}
	// instance.live_migration_post_dest comes from the destination,
	// the instance's host now being it: the VM runs there.
	// instance.resize_confirm comes from the source once the resized
	// instance at the destination is confirmed.
	case "instance.live_migration_post_dest.end", "instance.resize_confirm.end":
		m := s.end(in.UUID)
		src, dst := m.src, from
		if n.EventType == "instance.resize_confirm.end" {
			src, dst = from, here
			if m.src != "" {
				src = m.src
			}
		}
		if dst == "" || src == dst || m.closed {
			return nil
		}
		if src == "" && here != dst {
			src = here
		}
		return []agent.Event{ev(agent.MigrationSucceeded, src, dst)}
	// A rollback (from the source, and its _dest part from the
	// destination), an abort (from the source) or a reverted resize
	// (ending at the source) leaves the VM at the source.
	case "instance.live_migration_rollback.end", "instance.live_migration_abort.end",
		"instance.resize_revert.end", "instance.live_migration_rollback_dest.end",
		"instance.live_migration_pre.error", "instance.resize_prep.error":
		m := s.end(in.UUID)
		if m.closed || (m.src == "" && m.dst == "" && from == "") {
			return nil
		}
		src, dst := m.src, m.dst
		switch n.EventType {
		case "instance.live_migration_rollback_dest.end", "instance.live_migration_pre.error", "instance.resize_prep.error":
			if dst == "" {
				dst = from
			}
		default:
			if src == "" {
				src = from
			}
		}
		if src == dst {
			return nil
		}
		return []agent.Event{ev(agent.MigrationFailed, src, dst)}
	case "instance.create.end":
		if here == "" {
			return nil
		}
		e := ev(agent.VMCreated, here, "")
		if in.Flavor != nil {
			var f flavor
			if json.Unmarshal(in.Flavor.Data, &f) == nil {
				e.Resources = bbus.Resources{CPU: f.VCPUs, MemMiB: f.MemoryMB}
			}
		}
		return []agent.Event{e}
	case "instance.delete.end":
		s.mu.Lock()
		delete(s.moves, in.UUID)
		s.mu.Unlock()
		if here == "" {
			return nil
		}
		return []agent.Event{ev(agent.VMDeleted, here, "")}
	}
	return nil
}

// begin records a migration of the instance from src to dst, replacing any
// earlier one.
func (s *Source) begin(uuid, src, dst string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.moves[uuid]; m != nil && !m.closed && m.src == src && m.dst == dst {
		return
	}
	s.moves[uuid] = &move{src: src, dst: dst}
}

// end closes the instance's migration and returns it as it was (zero when
// none was seen; closed when it had ended already).
func (s *Source) end(uuid string) move {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.moves[uuid]
	if m == nil {
		s.moves[uuid] = &move{closed: true}
		return move{}
	}
	was := *m
	m.closed = true
	return was
}

func (s *Source) cloud(host string) string {
	if host == "" {
		return ""
	}
	return s.cfg.Hosts[host]
}

// cloudOf maps the payload's host, or else its node, to a cloud.
func (s *Source) cloudOf(in instance) string {
	if in.Host != nil {
		if c := s.cloud(*in.Host); c != "" {
			return c
		}
	}
	if in.Node != nil {
		return s.cloud(*in.Node)
	}
	return ""
}

var _ agent.Source = (*Source)(nil)
