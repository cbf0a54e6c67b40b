package cli_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// TestQueryReputationOracles: an oracle reports a window through bbus tx;
// query reputation shows it beside the clouds, query windows shows the window
// with its report and combined value, and the members vote it out with
// tx oracle remove.
func TestQueryReputationOracles(t *testing.T) {
	f := setup(t)
	ok(t, "keys", "add", "o1", "--home", f.home)
	k, err := keys.Load(f.home, "o1")
	if err != nil {
		t.Fatal(err)
	}
	f.tx(t, "c1", "oracle", "invite", "o1", "--pub-key", base64.StdEncoding.EncodeToString(k.PubKey))
	f.tx(t, "o1", "oracle", "join", "--name", "probe")
	f.tx(t, "c2", "oracle", "approve", "o1")
	f.tx(t, "c1", "vm", "register", "vm-1", "--cpu", "1", "--mem-mib", "512")
	start := f.chain.Last().Time.Add(time.Second).Truncate(time.Second)
	f.chain.Advance(time.Minute)
	f.tx(t, "o1", "report", "vm-1", "--start", start.Format(time.RFC3339), "--end", start.Add(30*time.Second).Format(time.RFC3339), "--availability", "97.5")

	q := func(args ...string) string {
		t.Helper()
		return ok(t, append([]string{"query", "--node", f.node}, args...)...)
	}
	out := q("reputation")
	if !strings.Contains(out, "CLOUD") || !strings.Contains(out, "ORACLE") || !strings.Contains(out, "o1") || !strings.Contains(out, "100%") {
		t.Errorf("reputation:\n%s", out)
	}
	var rep bbus.ReputationList
	decode(t, q("reputation", "--output", "json"), &rep)
	if len(rep.Items) != 2 || len(rep.Oracles) != 1 || rep.Oracles[0].Oracle != "o1" || rep.Oracles[0].Reports != 1 || rep.Oracles[0].Agreeing != 1 {
		t.Errorf("reputation json = %+v", rep)
	}
	out = q("windows", "vm-1")
	if !strings.Contains(out, "decided") || !strings.Contains(out, "o1=97.5%(agree)") {
		t.Errorf("windows:\n%s", out)
	}
	var ws bbus.List[bbus.Window]
	decode(t, q("windows", "vm-1", "--output", "json", "--since", start.Format(time.RFC3339)), &ws)
	if len(ws.Items) != 1 || ws.Items[0].Availability != 97500 {
		t.Errorf("windows json = %+v", ws)
	}
	decode(t, q("windows", "vm-1", "--output", "json", "--since", start.Add(time.Second).Format(time.RFC3339)), &ws)
	if len(ws.Items) != 0 {
		t.Errorf("windows since after the only one = %+v", ws)
	}

	// Both members vote o1 out; it reports no more.
	f.tx(t, "c1", "oracle", "remove", "o1")
	f.tx(t, "c2", "oracle", "remove", "o1")
	f.view(t, func(r kv.Reader) error {
		if o, err := ledger.Oracle(r, "o1"); err != nil || o.Status != bbus.CloudRemoved || len(o.Removals) != 2 {
			t.Errorf("o1 = %+v, %v", o, err)
		}
		return nil
	})
	fails(t, 1, "error: not_member: ", "tx", "--home", f.home, "--node", f.node, "--from", "o1", "report", "vm-1",
		"--start", start.Add(30*time.Second).Format(time.RFC3339), "--end", start.Add(40*time.Second).Format(time.RFC3339), "--availability", "100")
}
