package nova_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
	"github.com/bbusdev/bbus/agent/nova"
)

// inst is what a fixture says of an instance.
type inst struct {
	uuid     string
	host     string // the payload's host (and node, with ".node" appended)
	metadata map[string]string
	vcpus    int64
	memMB    int64
	state    string
	task     any // the task_state
}

// payload is an InstanceActionPayload (version 1.5) with every field
// Nova's notification samples show (doc/notification_samples, the
// common_payloads InstancePayload, InstanceActionPayload, FlavorPayload,
// BlockDevicePayload and IpPayload); the values are this test's own.
func (in inst) payload() map[string]any {
	md := map[string]string{}
	for k, v := range in.metadata {
		md[k] = v
	}
	state := in.state
	if state == "" {
		state = "active"
	}
	return map[string]any{
		"nova_object.name":      "InstanceActionPayload",
		"nova_object.namespace": "nova",
		"nova_object.version":   "1.5",
		"nova_object.data": map[string]any{
			"action_initiator_project": "8d3c4f1e2b7a4c5d9e0f1a2b3c4d5e6f",
			"action_initiator_user":    "operator",
			"architecture":             "x86_64",
			"auto_disk_config":         "MANUAL",
			"availability_zone":        "az-1",
			"block_devices": []any{map[string]any{
				"nova_object.name": "BlockDevicePayload", "nova_object.namespace": "nova", "nova_object.version": "1.0",
				"nova_object.data": map[string]any{
					"boot_index": nil, "delete_on_termination": false, "device_name": "/dev/vdb", "tag": nil,
					"volume_id": "5a1f0c9e-7d2b-4e8a-9c3f-0b6d2e4a8c1f",
				},
			}},
			"created_at":          "2026-11-30T09:00:00Z",
			"deleted_at":          nil,
			"display_description": "web frontend",
			"display_name":        "web-1",
			"fault":               nil,
			"flavor": map[string]any{
				"nova_object.name": "FlavorPayload", "nova_object.namespace": "nova", "nova_object.version": "1.4",
				"nova_object.data": map[string]any{
					"description": nil, "disabled": false, "ephemeral_gb": 0, "extra_specs": map[string]string{},
					"flavorid": "b2c3d4e5-0000-4000-8000-000000000002", "is_public": true, "memory_mb": in.memMB,
					"name": "m1.custom", "projects": nil, "root_gb": 10, "rxtx_factor": 1.0, "swap": 0,
					"vcpu_weight": 0, "vcpus": in.vcpus,
				},
			},
			"host":       in.host,
			"host_name":  "web-1",
			"image_uuid": "0e7d5c3b-1a2f-4b6c-8d9e-a1b2c3d4e5f6",
			"ip_addresses": []any{map[string]any{
				"nova_object.name": "IpPayload", "nova_object.namespace": "nova", "nova_object.version": "1.0",
				"nova_object.data": map[string]any{
					"address": "10.0.0.12", "device_name": "tap7f3e2d1c-0b", "label": "private",
					"mac": "fa:16:3e:12:34:56", "meta": map[string]string{},
					"port_uuid": "7f3e2d1c-0b4a-4c5d-8e6f-1a2b3c4d5e6f", "version": 4,
				},
			}},
			"kernel_id":      "",
			"key_name":       "ops",
			"launched_at":    "2026-11-30T09:00:30Z",
			"locked":         false,
			"metadata":       md,
			"node":           in.host + ".node",
			"os_type":        nil,
			"power_state":    "running",
			"progress":       0,
			"ramdisk_id":     "",
			"request_id":     "req-3f2e1d0c-9b8a-4765-a4b3-c2d1e0f9a8b7",
			"reservation_id": "r-a1b2c3d4",
			"state":          state,
			"task_state":     in.task,
			"tenant_id":      "8d3c4f1e2b7a4c5d9e0f1a2b3c4d5e6f",
			"terminated_at":  nil,
			"updated_at":     "2026-11-30T09:00:30Z",
			"user_id":        "operator",
			"uuid":           in.uuid,
		},
	}
}

// rig is a RabbitMQ exchange and queue of the test's own, fed as Nova's
// oslo.messaging notifier feeds its exchange.
type rig struct {
	t        *testing.T
	b        *broker
	exchange string
	queue    string
	ch       *amqp.Channel
	seq      int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	b := needBroker(t)
	name := strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
	r := &rig{t: t, b: b, exchange: "nova-" + name, queue: "bbus-agent-" + name}
	r.dial()
	// The agent declares the same; declaring it here first makes the
	// queue hold what is published before the agent reads.
	if err := r.ch.ExchangeDeclare(r.exchange, "topic", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ch.QueueDeclare(r.queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"versioned_notifications.info", "versioned_notifications.error"} {
		if err := r.ch.QueueBind(r.queue, k, r.exchange, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// dial opens the publisher's connection.
func (r *rig) dial() {
	r.t.Helper()
	conn, err := amqp.Dial(r.b.url)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { conn.Close() })
	if r.ch, err = conn.Channel(); err != nil {
		r.t.Fatal(err)
	}
}

// notify publishes a notification as oslo.messaging does: the message with
// its message_id, publisher_id, event_type, priority, payload, timestamp
// and the request context's _context_ keys, serialised into the
// "oslo.message" of a 2.0 envelope, on the topic of its priority. It
// returns the message_id.
func (r *rig) notify(eventType, publisher string, in inst) string {
	r.t.Helper()
	r.seq++
	id := fmt.Sprintf("2f9c%04d-7d1e-4c3b-9a8f-6e5d4c3b2a1%d", r.seq, r.seq%10)
	priority := "INFO"
	if strings.HasSuffix(eventType, ".error") {
		priority = "ERROR"
	}
	msg := map[string]any{
		"message_id":          id,
		"publisher_id":        "nova-compute:" + publisher,
		"event_type":          eventType,
		"priority":            priority,
		"payload":             in.payload(),
		"timestamp":           fmt.Sprintf("2026-12-01 10:%02d:%02d.%06d", r.seq/60, r.seq%60, 123456),
		"_unique_id":          fmt.Sprintf("%032x", r.seq),
		"_context_request_id": "req-3f2e1d0c-9b8a-4765-a4b3-c2d1e0f9a8b7",
		"_context_user":       "operator",
		"_context_project_id": "8d3c4f1e2b7a4c5d9e0f1a2b3c4d5e6f",
		"_context_is_admin":   true,
	}
	inner, err := json.Marshal(msg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.publish(strings.ToLower("versioned_notifications."+priority), map[string]any{"oslo.version": "2.0", "oslo.message": string(inner)})
	return id
}

func (r *rig) publish(key string, body any) {
	r.t.Helper()
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			r.t.Fatal(err)
		}
	}
	err := r.ch.PublishWithContext(context.Background(), r.exchange, key, false, false, amqp.Publishing{
		ContentType: "application/json", ContentEncoding: "utf-8", Body: raw,
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

var hosts = map[string]string{"compute1": "cloud-a", "compute1b": "cloud-a", "compute2": "cloud-b"}

type run struct {
	t      *testing.T
	logs   chan string
	events chan agent.Event
	cancel context.CancelFunc
	done   chan error
}

// start runs a Source on the rig's queue; emit is called before the event
// is collected, when given.
func (r *rig) start(emit func(agent.Event)) *run {
	r.t.Helper()
	logs := make(chan string, 100)
	src, err := nova.New(nova.Config{URL: r.b.url, Exchange: r.exchange, Queue: r.queue, Hosts: hosts, Retry: 50 * time.Millisecond,
		Log: func(format string, args ...any) {
			select {
			case logs <- fmt.Sprintf(format, args...):
			default:
			}
		}})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &run{t: r.t, logs: logs, events: make(chan agent.Event, 100), cancel: cancel, done: make(chan error, 1)}
	go func() {
		u.done <- src.Run(ctx, func(e agent.Event) {
			if emit != nil {
				emit(e)
			}
			u.events <- e
		})
	}()
	r.t.Cleanup(u.stop)
	return u
}

func (u *run) stop() {
	if u.cancel == nil {
		return
	}
	u.cancel()
	u.cancel = nil
	if err := <-u.done; err != nil {
		u.t.Errorf("Run: %v", err)
	}
}

type want struct {
	kind     agent.Kind
	vm       string
	src, dst string
	ref      string
}

// expect takes the next events; the deadline only stops a test that would
// hang, it never decides an outcome.
func (u *run) expect(wants ...want) []agent.Event {
	u.t.Helper()
	var got []agent.Event
	for _, w := range wants {
		var e agent.Event
		select {
		case e = <-u.events:
		case <-time.After(60 * time.Second):
			u.t.Fatalf("no event, want %s %s", w.kind, w.vm)
		}
		got = append(got, e)
		if e.Kind != w.kind || e.VM != w.vm || e.Source != w.src || e.Destination != w.dst || (w.ref != "" && e.Ref != w.ref) {
			u.t.Fatalf("got %s vm=%s %q->%q ref=%s, want %s vm=%s %q->%q ref=%s", e.Kind, e.VM, e.Source, e.Destination, e.Ref, w.kind, w.vm, w.src, w.dst, w.ref)
		}
		if e.At.IsZero() || e.Ref == "" {
			u.t.Fatalf("event without time or ref: %+v", e)
		}
	}
	return got
}

const uuid1 = "6b1f3e2a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"

func TestLiveMigration(t *testing.T) {
	r := newRig(t)
	u := r.start(nil)
	src := inst{uuid: uuid1, host: "compute1", metadata: map[string]string{"bbus_vm": "vm-1"}, vcpus: 2, memMB: 2048, task: "migrating"}
	dst := src
	dst.host = "compute2"

	// As Nova sends them: pre from the destination (the host still the
	// source), post from the source, post_dest from the destination.
	pre := r.notify("instance.live_migration_pre.start", "compute2", src)
	preEnd := r.notify("instance.live_migration_pre.end", "compute2", src)
	r.notify("instance.live_migration_post.start", "compute1", src)
	r.notify("instance.live_migration_post.end", "compute1", src)
	r.notify("instance.live_migration_post_dest.start", "compute2", src)
	done := dst
	done.task = nil
	post := r.notify("instance.live_migration_post_dest.end", "compute2", done)
	u.expect(
		want{agent.MigrationStarted, "vm-1", "cloud-a", "cloud-b", pre},
		want{agent.MigrationArrived, "vm-1", "cloud-a", "cloud-b", preEnd},
		want{agent.MigrationSucceeded, "vm-1", "cloud-a", "cloud-b", post},
	)
}

func TestLiveMigrationFailures(t *testing.T) {
	r := newRig(t)
	u := r.start(nil)
	in := inst{uuid: uuid1, host: "compute1", vcpus: 1, memMB: 512, task: "migrating"}

	// A rollback: the source's and then the destination's part, one
	// failure.
	r.notify("instance.live_migration_pre.start", "compute2", in)
	r.notify("instance.live_migration_pre.end", "compute2", in)
	r.notify("instance.live_migration_rollback.start", "compute1", in)
	rb := r.notify("instance.live_migration_rollback.end", "compute1", in)
	r.notify("instance.live_migration_rollback_dest.start", "compute2", in)
	r.notify("instance.live_migration_rollback_dest.end", "compute2", in)
	// An abort, from the source.
	r.notify("instance.live_migration_pre.start", "compute2", in)
	r.notify("instance.live_migration_pre.end", "compute2", in)
	r.notify("instance.live_migration_abort.start", "compute1", in)
	ab := r.notify("instance.live_migration_abort.end", "compute1", in)
	u.expect(
		want{agent.MigrationStarted, uuid1, "cloud-a", "cloud-b", ""},
		want{agent.MigrationArrived, uuid1, "cloud-a", "cloud-b", ""},
		want{agent.MigrationFailed, uuid1, "cloud-a", "cloud-b", rb},
		want{agent.MigrationStarted, uuid1, "cloud-a", "cloud-b", ""},
		want{agent.MigrationArrived, uuid1, "cloud-a", "cloud-b", ""},
		want{agent.MigrationFailed, uuid1, "cloud-a", "cloud-b", ab},
	)
}

func TestColdMigration(t *testing.T) {
	r := newRig(t)
	u := r.start(nil)
	in := inst{uuid: uuid1, host: "compute1", metadata: map[string]string{"bbus_vm": "vm-9"}, vcpus: 4, memMB: 4096, task: "resize_prep"}
	moved := in
	moved.host, moved.state, moved.task = "compute2", "resized", nil

	// A resize within one cloud is no migration between clouds.
	r.notify("instance.resize_prep.start", "compute1b", in)
	r.notify("instance.resize_prep.end", "compute1b", in)
	// Migrated, then confirmed: prep at the destination, resize at the
	// source, finish at the destination, confirm at the source.
	start := r.notify("instance.resize_prep.start", "compute2", in)
	r.notify("instance.resize_prep.end", "compute2", in)
	r.notify("instance.resize.start", "compute1", in)
	r.notify("instance.resize.end", "compute1", in)
	r.notify("instance.resize_finish.start", "compute2", moved)
	r.notify("instance.resize_finish.end", "compute2", moved)
	r.notify("instance.resize_confirm.start", "compute1", moved)
	confirmed := moved
	confirmed.state = "active"
	ok := r.notify("instance.resize_confirm.end", "compute1", confirmed)
	// Migrated back, then reverted: it stays at compute2.
	back := confirmed
	r.notify("instance.resize_prep.start", "compute1", back)
	r.notify("instance.resize_prep.end", "compute1", back)
	r.notify("instance.resize_finish.end", "compute1", in)
	r.notify("instance.resize_revert.start", "compute1", in)
	reverted := r.notify("instance.resize_revert.end", "compute2", back)
	u.expect(
		want{agent.MigrationStarted, "vm-9", "cloud-a", "cloud-b", start},
		want{agent.MigrationArrived, "vm-9", "cloud-a", "cloud-b", ""},
		want{agent.MigrationSucceeded, "vm-9", "cloud-a", "cloud-b", ok},
		want{agent.MigrationStarted, "vm-9", "cloud-b", "cloud-a", ""},
		want{agent.MigrationArrived, "vm-9", "cloud-b", "cloud-a", ""},
		want{agent.MigrationFailed, "vm-9", "cloud-b", "cloud-a", reverted},
	)
}

func TestCreateAndDelete(t *testing.T) {
	r := newRig(t)
	u := r.start(nil)
	in := inst{uuid: uuid1, host: "compute2", vcpus: 2, memMB: 3072, task: nil}
	elsewhere := inst{uuid: "0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70", host: "compute9", vcpus: 1, memMB: 512}

	r.notify("instance.create.start", "compute2", in)
	created := r.notify("instance.create.end", "compute2", in)
	// Not this federation's, not Nova's instance notifications, not
	// JSON: nothing.
	r.notify("instance.create.end", "compute9", elsewhere)
	r.publish("versioned_notifications.info", map[string]any{"oslo.version": "2.0",
		"oslo.message": `{"message_id":"x","publisher_id":"nova-compute:compute2","event_type":"service.update","priority":"INFO","payload":{}}`})
	r.publish("versioned_notifications.info", []byte("not json"))
	r.notify("instance.delete.start", "compute2", in)
	gone := in
	gone.state = "deleted"
	deleted := r.notify("instance.delete.end", "compute2", gone)
	got := u.expect(
		want{agent.VMCreated, uuid1, "cloud-b", "", created},
		want{agent.VMDeleted, uuid1, "cloud-b", "", deleted},
	)
	if got[0].Resources != (bbus.Resources{CPU: 2, MemMiB: 3072}) {
		t.Fatalf("resources %+v", got[0].Resources)
	}
	if want := time.Date(2026, 12, 1, 10, 0, 2, 123456000, time.UTC); !got[0].At.Equal(want) {
		t.Fatalf("at %v, want the notification's timestamp %v", got[0].At, want)
	}
}

// TestRedelivered shows that a notification read but not acknowledged when
// the agent stops comes again to the next run, with the same Ref.
func TestRedelivered(t *testing.T) {
	r := newRig(t)
	stuck := make(chan struct{})
	first := make(chan agent.Event, 1)
	u := r.start(func(e agent.Event) {
		first <- e
		<-stuck
	})
	in := inst{uuid: uuid1, host: "compute1", vcpus: 1, memMB: 1024}
	id := r.notify("instance.create.end", "compute1", in)
	var e agent.Event
	select {
	case e = <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("no event")
	}
	if e.Ref != id {
		t.Fatalf("ref %s, want %s", e.Ref, id)
	}
	// The agent dies while recording it.
	u.cancel()
	close(stuck)
	<-u.events
	if err := <-u.done; err != nil {
		t.Fatal(err)
	}
	u.cancel = nil

	again := r.start(nil)
	again.expect(want{agent.VMCreated, uuid1, "cloud-a", "", id})
}

// TestReconnect shows that the source reconnects when RabbitMQ closes its
// connection and reads on from its queue.
func TestReconnect(t *testing.T) {
	r := newRig(t)
	u := r.start(nil)
	in := inst{uuid: uuid1, host: "compute1", vcpus: 1, memMB: 1024}
	first := r.notify("instance.create.end", "compute1", in)
	u.expect(want{agent.VMCreated, uuid1, "cloud-a", "", first})

	if err := r.b.ctl("close_all_connections", "test"); err != nil {
		t.Fatal(err)
	}
	r.dial()
	gone := in
	gone.state = "deleted"
	deleted := r.notify("instance.delete.end", "compute1", gone)
	u.expect(want{agent.VMDeleted, uuid1, "cloud-a", "", deleted})
	select {
	case l := <-u.logs:
		if !strings.Contains(l, "reconnecting") {
			t.Fatalf("log %q, want the reconnection", l)
		}
	default:
		t.Fatal("the source did not log a reconnection")
	}
}

func TestTranslateEnvelopeAndBare(t *testing.T) {
	src, err := nova.New(nova.Config{URL: "amqp://guest:guest@127.0.0.1:5672/", Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	in := inst{uuid: uuid1, host: "compute1", vcpus: 1, memMB: 256}
	msg, _ := json.Marshal(map[string]any{"message_id": "m-1", "publisher_id": "nova-compute:compute1",
		"event_type": "instance.create.end", "priority": "INFO", "payload": in.payload(), "timestamp": "2026-12-01 10:00:00.000001"})
	env, _ := json.Marshal(map[string]any{"oslo.version": "2.0", "oslo.message": string(msg)})
	for name, body := range map[string][]byte{"envelope": env, "bare": msg} {
		got := src.Translate(body, "amqp-id")
		if len(got) != 1 || got[0].Kind != agent.VMCreated || got[0].Ref != "m-1" || got[0].Source != "cloud-a" {
			t.Errorf("%s: %+v", name, got)
		}
	}
	// The node names the host when the host is not mapped.
	in.host = "unmapped"
	byNode := map[string]string{"unmapped.node": "cloud-b"}
	src2, _ := nova.New(nova.Config{URL: "amqp://guest:guest@127.0.0.1:5672/", Hosts: byNode})
	msg, _ = json.Marshal(map[string]any{"publisher_id": "nova-compute:unmapped",
		"event_type": "instance.delete.end", "priority": "INFO", "payload": in.payload()})
	if got := src2.Translate(msg, "amqp-id"); len(got) != 1 || got[0].Source != "cloud-b" || got[0].Ref != "amqp-id" {
		t.Errorf("by node: %+v", got)
	}
}

func TestNewRejects(t *testing.T) {
	for name, cfg := range map[string]nova.Config{
		"no url":      {Hosts: hosts},
		"http url":    {URL: "http://h:5672/", Hosts: hosts},
		"no hosts":    {URL: "amqp://h:5672/"},
		"empty cloud": {URL: "amqp://h:5672/", Hosts: map[string]string{"compute1": ""}},
	} {
		if _, err := nova.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
