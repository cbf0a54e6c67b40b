package ledger

import (
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// A state records the version of the rules that wrote it, and CheckRules
// refuses a state of other rules: one with no record (rules version 3 and
// older) or another number.
func TestCheckRules(t *testing.T) {
	st := kv.NewMem()
	if err := CheckRules(st); err != nil {
		t.Fatalf("an empty state: %v", err)
	}
	g := testGenesis([]string{"a"}, func(string) bbus.Resources { return bbus.Resources{CPU: 1, MemMiB: 1} }, bbus.DefaultParams())
	if err := newTestLedger().InitGenesis(st, "rules", g, time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	if err := CheckRules(st); err != nil {
		t.Fatalf("a state of these rules: %v", err)
	}
	for _, c := range []struct {
		value []byte
		want  string
	}{{nil, "version 3 or older"}, {[]byte("3"), `version "3"`}, {[]byte("5"), `version "5"`}} {
		if c.value == nil {
			st.Delete(keyRules)
		} else {
			st.Set(keyRules, c.value)
		}
		err := CheckRules(st)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "chain rules") || bbus.ErrorCode(err) != bbus.ESTATE {
			t.Errorf("rules %q: %v", c.value, err)
		}
	}
}
