package cloudevents_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
	ce "github.com/bbusdev/bbus/agent/cloudevents"
	"github.com/bbusdev/bbus/agent/internal/fedtest"
	"github.com/bbusdev/bbus/keys"
)

// startAgent runs cloud's agent with the CloudEvents hook on a free port and
// returns the hook's URL.
func startAgent(t *testing.T, f *fedtest.Fed, cloud, token string) string {
	t.Helper()
	k, err := keys.Load(f.Home(cloud), cloud)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := agent.New(agent.Config{Cloud: cloud, Key: k.PrivKey, Client: f.Client(), Home: f.Home(cloud), Source: "cloudevents",
		RegisterNew: true, Poll: 20 * time.Millisecond, Log: fedtest.Log(t, cloud)})
	if err != nil {
		t.Fatal(err)
	}
	src, err := ce.New(ce.Config{Addr: "127.0.0.1:0", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx, src) }()
	t.Cleanup(func() { cancel(); <-done })
	addr, err := src.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + ce.Path
}

// sender posts CloudEvents with the CloudEvents SDK's own HTTP client.
type sender struct {
	t      *testing.T
	c      cloudevents.Client
	token  string
	nextID atomic.Int64
}

func newSender(t *testing.T, token string) *sender {
	opts := []cloudevents.HTTPOption{}
	if token != "" {
		opts = append(opts, cloudevents.WithHeader("Authorization", "Bearer "+token))
	}
	c, err := cloudevents.NewClientHTTP(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &sender{t: t, c: c, token: token}
}

// send posts an event of type typ with data d to url, structured or binary,
// and returns the HTTP status.
func (s *sender) send(url, typ string, d ce.Data, structured bool) int {
	s.t.Helper()
	code, err := s.post(url, typ, d, structured)
	if err != nil {
		s.t.Fatalf("send %s: %v", typ, err)
	}
	return code
}

// sendQuiet posts a structured event and returns the HTTP status, or 0 if
// there was no answer.
func (s *sender) sendQuiet(url, typ string, d ce.Data) int {
	code, _ := s.post(url, typ, d, true)
	return code
}

func (s *sender) post(url, typ string, d ce.Data, structured bool) (int, error) {
	e := cloudevents.NewEvent()
	e.SetID(fmt.Sprintf("evt-%d", s.nextID.Add(1)))
	e.SetSource("/test/orchestrator")
	e.SetType(typ)
	if err := e.SetData(cloudevents.ApplicationJSON, d); err != nil {
		return 0, err
	}
	ctx := cloudevents.ContextWithTarget(context.Background(), url)
	if structured {
		ctx = binding.WithForceStructured(ctx)
	} else {
		ctx = binding.WithForceBinary(ctx)
	}
	res := s.c.Send(ctx, e)
	var hr *cehttp.Result
	if !cloudevents.ResultAs(res, &hr) {
		return 0, res
	}
	return hr.StatusCode, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An orchestrator sends the same CloudEvents, in both modes, to the agents of
// both clouds: each records its side, and the ledger holds the migration
// signed by both.
func TestCloudEventsMigration(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	east, west := startAgent(t, f, "east", ""), startAgent(t, f, "west", "")
	s := newSender(t, "")
	ctx := context.Background()
	both := func(typ string, d ce.Data, structured bool) {
		t.Helper()
		for _, url := range []string{east, west} {
			if code := s.send(url, typ, d, structured); code != http.StatusAccepted {
				t.Fatalf("%s to %s: HTTP %d", typ, url, code)
			}
		}
	}
	both("io.bbus.vm.created", ce.Data{VM: "vm-1", Source: "east", Resources: bbus.Resources{CPU: 2, MemMiB: 2048}}, true)
	// Only east's agent registers it: the VM is on east.
	waitFor(t, "vm-1 registered", func() bool {
		vm, err := f.Client().VM(ctx, "vm-1")
		return err == nil && vm.Host == "east"
	})
	move := ce.Data{VM: "vm-1", Source: "east", Destination: "west"}
	both("io.bbus.migration.started", move, false)
	both("io.bbus.migration.succeeded", move, true)
	waitFor(t, "vm-1 on west", func() bool {
		vm, err := f.Client().VM(ctx, "vm-1")
		return err == nil && vm.Host == "west"
	})
	f.CheckMigrated(t, "vm-1", "east", "west")
	// Sent again: nothing more.
	both("io.bbus.migration.started", move, true)
	both("io.bbus.migration.succeeded", move, false)

	// A migration that fails: whichever agent takes the event first ends it
	// (west cancels, or east rejects), the other finds it ended.
	back := ce.Data{VM: "vm-1", Source: "west", Destination: "east"}
	both("io.bbus.migration.started", back, false)
	waitFor(t, "the way back proposed", func() bool {
		vm, err := f.Client().VM(ctx, "vm-1")
		return err == nil && vm.Migration != ""
	})
	both("io.bbus.migration.failed", back, true)
	waitFor(t, "the way back ended", func() bool {
		ms := f.Migrations(t, "vm-1")
		return len(ms) == 2 && (ms[1].Status == bbus.MigrationCancelled || ms[1].Status == bbus.MigrationRejected)
	})
	if vm, _ := f.Client().VM(ctx, "vm-1"); vm.Host != "west" {
		t.Fatalf("vm-1 after its failed way back: %+v", vm)
	}
}

// What the hook refuses: it records nothing of it.
func TestCloudEventsRefused(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	url := startAgent(t, f, "east", "s3cret")
	good := newSender(t, "s3cret")
	for _, c := range []struct {
		typ  string
		d    ce.Data
		want int
	}{
		{"io.bbus.vm.rebooted", ce.Data{VM: "vm-1"}, http.StatusBadRequest},
		{"io.bbus.vm.created", ce.Data{VM: "Not An Id"}, http.StatusBadRequest},
		{"io.bbus.migration.started", ce.Data{VM: "vm-1", Destination: "x/y"}, http.StatusBadRequest},
	} {
		if code := good.send(url, c.typ, c.d, true); code != c.want {
			t.Errorf("%s %+v: HTTP %d, want %d", c.typ, c.d, code, c.want)
		}
	}
	if code := newSender(t, "wrong").send(url, "io.bbus.vm.created", ce.Data{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, false); code != http.StatusUnauthorized {
		t.Errorf("wrong token: HTTP %d", code)
	}
	// Not a CloudEvent at all.
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"vm":"vm-1"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain JSON: HTTP %d", resp.StatusCode)
	}
	// Too large.
	req, _ = http.NewRequest(http.MethodPost, url, strings.NewReader(`{"specversion":"1.0","type":"io.bbus.vm.created","source":"/x","id":"1","data":{"vm":"`+strings.Repeat("v", 70<<10)+`"}}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/cloudevents+json")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("70 KiB: HTTP %d", resp.StatusCode)
	}
	if _, err := f.Client().VM(context.Background(), "vm-1"); bbus.ErrorCode(err) != bbus.ENOTFOUND {
		t.Fatalf("vm-1 after refused events: %v", err)
	}
}
