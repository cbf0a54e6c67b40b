package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/bbusdev/bbus"
)

// EventStream is an open stream of a node's ledger events (GET /v1/events).
// It is not safe for concurrent use.
type EventStream struct {
	body io.ReadCloser
	r    *bufio.Reader
	last string

	// To resume a stream the node ended because it had lasted its time.
	c      *Client
	ctx    context.Context
	filter bbus.EventFilter
	resume bool
}

// GapError is what EventStream.Next returns when the node no longer holds
// every event after the position the stream resumed from (it restarted, or
// dropped them to bound its memory): the caller should re-read the state it
// keeps. The stream goes on; Next returns the following events.
type GapError struct{ Gap bbus.EventGap }

func (e *GapError) Error() string { return "events missed: " + e.Gap.Message }

// Events opens a stream of the node's events that pass f: from now if after is
// empty, otherwise after the event with that id (EventStream.LastID of an
// earlier stream, to resume it). It returns once the node has fixed where the
// stream starts, so every event committed from then on is in it. The stream
// lasts until ctx is done or Close (the node ends each stream after its
// rest.max_stream_duration; Next then resumes it where it was, unseen); send
// it through a client whose http.Client has no Timeout.
func (c *Client) Events(ctx context.Context, f bbus.EventFilter, after string) (*EventStream, error) {
	body, err := c.openEvents(ctx, f, after)
	if err != nil {
		return nil, err
	}
	return &EventStream{body: body, r: bufio.NewReader(body), last: after, c: c, ctx: ctx, filter: f}, nil
}

// openEvents sends GET /v1/events and returns the stream's body.
func (c *Client) openEvents(ctx context.Context, f bbus.EventFilter, after string) (io.ReadCloser, error) {
	q := url.Values{}
	if len(f.Types) > 0 {
		q.Set("type", strings.Join(f.Types, ","))
	}
	withFilters(q, "vm", f.VM, "cloud", f.Cloud)
	req, err := c.request(ctx, http.MethodGet, "/v1/events", q, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if after != "" {
		req.Header.Set("Last-Event-ID", after)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "cannot reach the node at %s: %v", c.base, unwrapURLError(err))
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e bbus.ErrorResponse
		if json.Unmarshal(body, &e) == nil && e.Error != nil && e.Error.Code != "" {
			return nil, e.Error
		}
		return nil, bbus.Errorf(CodeOfStatus(resp.StatusCode), "GET /v1/events: HTTP %s", resp.Status)
	}
	return resp.Body, nil
}

// Next returns the next event. It returns a *GapError (and the stream goes
// on) when events were missed, and io.EOF when the node closed the stream
// (other than to have it resumed, which Next does).
func (s *EventStream) Next() (*bbus.Event, error) {
	var id, typ string
	var data strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err == io.EOF && s.resume && s.c != nil {
			s.resume = false
			body, oerr := s.c.openEvents(s.ctx, s.filter, s.last)
			if oerr != nil {
				return nil, oerr
			}
			s.body.Close()
			s.body, s.r = body, bufio.NewReader(body)
			id, typ = "", ""
			data.Reset()
			continue
		}
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if data.Len() == 0 {
				// An id without data moves the position (the node's
				// stream ends so), as in EventSource.
				if id != "" {
					s.last = id
				}
				id, typ = "", ""
				continue
			}
			if typ == "gap" {
				e := &GapError{}
				if err := json.Unmarshal([]byte(data.String()), &e.Gap); err != nil {
					return nil, bbus.Errorf(bbus.EINTERNAL, "a gap event that is not JSON: %v", err)
				}
				return nil, e
			}
			ev := new(bbus.Event)
			if err := json.Unmarshal([]byte(data.String()), ev); err != nil {
				return nil, bbus.Errorf(bbus.EINTERNAL, "an event that is not JSON: %v", err)
			}
			if id != "" {
				s.last = id
			}
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			if line == bbus.StreamResumeComment {
				s.resume = true
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			typ = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
}

// LastID returns the id of the last event Next returned (or the position the
// stream resumed from): pass it to Events to resume without missing any.
func (s *EventStream) LastID() string { return s.last }

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }

// String describes the stream's position.
func (s *EventStream) String() string { return fmt.Sprintf("event stream after %q", s.last) }
