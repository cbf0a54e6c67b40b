package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
)

// TestEventStreamParsing reads a stream as a node writes it, with comments,
// a gap, data split over lines and an event without an id.
func TestEventStreamParsing(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if r.URL.Query().Get("type") != "vm,migration" || r.URL.Query().Get("vm") != "vm-1" {
			http.Error(w, `{"error":{"code":"invalid","message":"bad filter"}}`, 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 1000\n: bbus events\n\n")
		fmt.Fprint(w, "event: gap\ndata: {\"after\":\"3-0\",\"message\":\"gone\"}\n\n")
		fmt.Fprint(w, "id: 7-0\nevent: vm.registered\ndata: {\"id\":\"7-0\",\"height\":7,\"time\":\"2025-01-01T00:00:00Z\",\"type\":\"vm.registered\",\"attrs\":{\"vm\":\"vm-1\"}}\n\n")
		fmt.Fprint(w, ": ping\n\n")
		fmt.Fprint(w, "id: 8-1\r\nevent: migration.proposed\r\ndata: {\"id\":\"8-1\",\"height\":8,\"time\":\"2025-01-01T00:00:01Z\",\r\ndata: \"type\":\"migration.proposed\",\"attrs\":{\"vm\":\"vm-1\"}}\r\n\r\n")
	}))
	defer srv.Close()
	c := client.New(srv.URL, client.WithToken("bbus_secret"))
	s, err := c.Events(context.Background(), bbus.EventFilter{Types: []string{"vm", "migration"}, VM: "vm-1"}, "3-0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got.Get("Last-Event-ID") != "3-0" || got.Get("Authorization") != "Bearer bbus_secret" {
		t.Errorf("request headers: %v", got)
	}
	_, err = s.Next()
	var gap *client.GapError
	if !errors.As(err, &gap) || gap.Gap.After != "3-0" {
		t.Fatalf("first: %v", err)
	}
	e, err := s.Next()
	if err != nil || e.ID != "7-0" || e.Attrs["vm"] != "vm-1" || s.LastID() != "7-0" {
		t.Fatalf("second: %+v %v (last %s)", e, err, s.LastID())
	}
	e, err = s.Next()
	if err != nil || e.Type != "migration.proposed" || e.Height != 8 || s.LastID() != "8-1" {
		t.Fatalf("third: %+v %v", e, err)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	_, err = c.Events(context.Background(), bbus.EventFilter{}, "")
	if bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("a refused stream: %v", err)
	}
}

// TestEventStreamResumes: when the node ends a stream because it has lasted
// its time, Next reconnects after the position the node gave (past events
// the filter left out) and goes on; a stream that simply ends gives io.EOF.
func TestEventStreamResumes(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.Header.Get("Last-Event-ID"))
		w.Header().Set("Content-Type", "text/event-stream")
		switch len(asked) {
		case 1:
			fmt.Fprint(w, "id: 7-0\nevent: vm.registered\ndata: {\"id\":\"7-0\",\"type\":\"vm.registered\"}\n\n")
			fmt.Fprint(w, "id: 9-0\n"+bbus.StreamResumeComment+"\n\n")
		default:
			fmt.Fprint(w, "id: 10-0\nevent: vm.registered\ndata: {\"id\":\"10-0\",\"type\":\"vm.registered\"}\n\n")
		}
	}))
	defer srv.Close()
	s, err := client.New(srv.URL).Events(context.Background(), bbus.EventFilter{}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, want := range []string{"7-0", "10-0"} {
		if e, err := s.Next(); err != nil || e.ID != want {
			t.Fatalf("want %s: %+v %v", want, e, err)
		}
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	if len(asked) != 2 || asked[0] != "" || asked[1] != "9-0" {
		t.Errorf("Last-Event-ID of the requests: %q", asked)
	}
}
