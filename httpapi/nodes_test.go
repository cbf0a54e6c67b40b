package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/tokens"
)

// TestNodesAndObservers reads the members' nodes and drives observers and the
// cloud's peer address through the node-signed writes: local invites an
// observer (one vote of two), c2 approves it, local votes to remove it.
func TestNodesAndObservers(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, nil)
	write := l.token(t, tokens.ScopeWrite)
	w := l.client(write)
	c2 := l.join(t, w, "c2")
	post := func(path, body string) response { return call(t, "POST", l.base+path, []byte(body), bearer(write)) }

	r := call(t, "GET", l.base+"/v1/nodes", nil)
	var nodes struct{ Items []bbus.NodeHealth }
	if r.status != 200 || json.Unmarshal(r.body, &nodes) != nil || len(nodes.Items) != 2 {
		t.Fatalf("nodes: %d %s", r.status, r.body)
	}
	if me := nodes.Items[1]; me.Cloud != "local" || !me.Self || !me.Connected || len(me.NodeID) != 40 || me.Version != bbus.Version {
		t.Fatalf("the node itself: %+v", me)
	}
	if other := nodes.Items[0]; other.Cloud != "c2" || other.Connected || other.NodeID != "" {
		t.Fatalf("c2, which published no node: %+v", other)
	}
	var st bbus.Status
	if r := call(t, "GET", l.base+"/v1/status", nil); json.Unmarshal(r.body, &st) != nil || st.Version != bbus.Version {
		t.Fatalf("status: %s", r.body)
	}

	wantError(t, "update without an address", post("/v1/clouds/update", `{}`), 400, bbus.EINVALID)
	wantError(t, "update with a URL", post("/v1/clouds/update", `{"p2p_address":"tcp://10.0.0.1:26656"}`), 400, bbus.EINVALID)
	up := wantResult(t, "update", post("/v1/clouds/update", `{"p2p_address":"node.local.example:26656"}`), 200)
	// The transaction is found by its bbus id and by CometBFT's hash alike.
	for _, id := range []string{up.TxID, up.Hash, strings.ToLower(up.Hash)} {
		tx, err := l.client("").Tx(ctx, id)
		if err != nil || tx.TxID != up.TxID || tx.Hash != up.Hash || tx.Height != up.Height {
			t.Fatalf("GET /v1/txs/%s: %+v %v", id, tx, err)
		}
	}
	if c, err := l.client("").Cloud(ctx, "local"); err != nil || c.P2PAddress != "node.local.example:26656" {
		t.Fatalf("after the update: %+v %v", c, err)
	}

	node := strings.Repeat("5e", 20)
	wantError(t, "observer without a node", post("/v1/observers/audit/invite", `{}`), 400, bbus.EINVALID)
	wantError(t, "observer with a short node id", post("/v1/observers/audit/invite", `{"node_id":"5e5e"}`), 400, bbus.EINVALID)
	wantResult(t, "invite observer", post("/v1/observers/audit/invite", `{"node_id":"`+node+`"}`), 200)
	wantError(t, "approve twice", post("/v1/observers/audit/approve", ``), 409, bbus.ESTATE)
	wantError(t, "approve no observer", post("/v1/observers/nobody/approve", ``), 404, bbus.ENOTFOUND)
	if _, err := l.client("").Send(ctx, c2, bbus.Action{ObserverApprove: &bbus.ObserverApprove{Observer: "audit", NodeID: node}}); err != nil {
		t.Fatal(err)
	}
	var o bbus.Observer
	if r := call(t, "GET", l.base+"/v1/observers/audit", nil); r.status != 200 || json.Unmarshal(r.body, &o) != nil || o.Status != bbus.CloudActive {
		t.Fatalf("observer: %d %s", r.status, r.body)
	}
	wantError(t, "no such observer", call(t, "GET", l.base+"/v1/observers/nobody", nil), 404, bbus.ENOTFOUND)
	wantResult(t, "vote to remove", post("/v1/observers/audit/remove", ``), 200)
	var list struct{ Items []bbus.Observer }
	if r := call(t, "GET", l.base+"/v1/observers?limit=1", nil); r.status != 200 || json.Unmarshal(r.body, &list) != nil || len(list.Items) != 1 || list.Items[0].Removals[0] != "local" {
		t.Fatalf("observers: %d %s", r.status, r.body)
	}
	wantError(t, "observers page", call(t, "GET", l.base+"/v1/observers?limit=x", nil), 400, bbus.EINVALID)
}
