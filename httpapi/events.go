package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
)

// DefaultEventHeartbeat is how often an idle event stream gets a comment line.
const DefaultEventHeartbeat = 15 * time.Second

// eventBatch is how many events the stream takes from the backend at once.
const eventBatch = 256

// streamWriteTimeout bounds each write to an event stream: a subscriber that
// does not read for this long is dropped.
const streamWriteTimeout = 30 * time.Second

// events serves GET /v1/events as server-sent events: every ledger event from
// now (or after the Last-Event-ID header or the after parameter), filtered by
// type, vm and cloud. Each event's id is its position; a client that
// reconnects with the last id it saw misses nothing the node still holds, and
// gets a "gap" event first if it does not hold everything since. A stream
// ends after Options.MaxStreamDuration, and the streams one caller may hold at
// once are bounded (limits.go).
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	src, ok := a.b.(EventSource)
	if !ok {
		writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "this node does not stream events"))
		return
	}
	q := r.URL.Query()
	f := bbus.EventFilter{VM: q.Get("vm"), Cloud: q.Get("cloud")}
	for _, t := range q["type"] {
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				f.Types = append(f.Types, s)
			}
		}
	}
	if f.VM != "" {
		if err := bbus.ValidateID("vm", f.VM); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if f.Cloud != "" {
		if err := bbus.ValidateID("cloud", f.Cloud); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	var after *EventPos
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("after")
	}
	if last != "" {
		p, err := ParseEventPos(last)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		after = &p
	}
	who := "addr:" + remoteIP(r)
	if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok && info.caller != "" {
		who = info.caller
	}
	release, serr := a.streams.take(who)
	if serr != nil {
		retryAfter(w, time.Second)
		writeError(w, serr)
		return
	}
	defer release()
	// Fix the position before answering: whatever commits once the caller
	// has the response headers is in the stream.
	batch, pos, gap, wake := src.Events(after, eventBatch)

	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{}) // the server's read timeout would end the stream
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(s string) bool {
		rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 1000\n: bbus events\n\n") {
		return
	}
	heartbeat := time.NewTicker(a.opts.EventHeartbeat)
	defer heartbeat.Stop()
	// Every stream ends in time, so that none holds its connection forever:
	// the client resumes it with the last id it saw.
	lifetime := time.NewTimer(a.opts.MaxStreamDuration)
	defer lifetime.Stop()
	// end closes the stream when its time is up: an id-only event carries
	// the position reached (so that a client resumes after the events it
	// filtered out too), and a comment says to resume.
	end := func(at EventPos) {
		send("id: " + at.String() + "\n" + bbus.StreamResumeComment + "\n\n")
	}
	for {
		var out strings.Builder
		if gap {
			b, _ := json.Marshal(&bbus.EventGap{After: after.String(), Message: "the node no longer holds every event after " + after.String() + " (it restarted, or they were dropped to bound memory); re-read the state you keep"})
			fmt.Fprintf(&out, "event: gap\ndata: %s\n\n", b)
			gap = false
		}
		for i := range batch {
			e := &batch[i]
			if !f.Match(e) {
				continue
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(&out, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b)
		}
		if out.Len() > 0 && !send(out.String()) {
			return
		}
		select {
		case <-lifetime.C:
			end(pos)
			return
		default:
		}
		if len(batch) < eventBatch {
			select {
			case <-wake:
			case <-heartbeat.C:
				if !send(": ping\n\n") {
					return
				}
			case <-r.Context().Done():
				return
			case <-a.opts.Closing:
				return
			case <-lifetime.C:
				end(pos)
				return
			}
		}
		seen := pos
		after = &seen
		batch, pos, gap, wake = src.Events(after, eventBatch)
	}
}
