package evidence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/internal/evidencetest"
	"github.com/bbusdev/bbus/keys"
)

// changingFederation runs a chain whose validators change twice: cloud0
// alone, then cloud0 and cloud1 (equal power: cloud0 alone has half), then
// the three of cloud0, cloud1 and cloud2. VM vm-s lives through all three;
// trust is a checkpoint taken while two validated, before vm-mid was
// registered.
type changingFederation struct {
	*federation
	trust    *evidence.Checkpoint
	admitted int64 // the height of cloud2's admission
}

func startChangingFederation(t *testing.T) *changingFederation {
	f := &changingFederation{federation: startFederation(t)}
	res := bbus.Resources{CPU: 2, MemMiB: 1024}
	f.send(0, "cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-s", Resources: res}})
	f.join()
	m := f.send(0, "cloud0", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-s", To: "cloud1"}}).ID
	f.send(1, "cloud1", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: m}})
	f.send(1, "cloud1", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: m}})
	m = f.send(1, "cloud1", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-s", To: "cloud0"}}).ID
	f.send(0, "cloud0", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: m}})
	f.send(0, "cloud0", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: m}})
	st, err := f.nodes[0].Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.trust, err = evidence.ParseCheckpoint(st.Trust); err != nil {
		t.Fatalf("status trust %q: %v", st.Trust, err)
	}
	// Two blocks at least between the checkpoint and the admission, which no
	// bundle of vm-s holds: room for a forgery.
	f.send(0, "cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-mid", Resources: res}})
	f.send(0, "cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-pad", Resources: res}})
	f.add(2, fmt.Sprintf("%s@%s", st.NodeID, strings.TrimPrefix(f.nodes[0].Config.P2PListen, "tcp://")))
	f.admitted = f.joinAs(2)
	f.send(0, "cloud0", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-s"}})
	return f
}

func decodeBundle(t *testing.T, raw []byte) *evidence.Bundle {
	t.Helper()
	b, err := evidence.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeBundle(t *testing.T, b *evidence.Bundle) []byte {
	t.Helper()
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// refused checks that a bundle fails verification with a reason that says
// each of want.
func refused(t *testing.T, what string, raw, genesis []byte, trust *evidence.Checkpoint, want ...string) {
	t.Helper()
	_, err := evidence.VerifyTrusting(raw, genesis, trust)
	if err == nil {
		t.Errorf("%s: verified", what)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %v\nwant it to say %q", what, err, w)
			return
		}
	}
	t.Logf("%s: refused: %v", what, err)
}

// TestValidatorChangesAreFollowed exports the evidence of a VM whose
// transactions span two changes of validators (the second back to the first
// set), verifies it from genesis and from a checkpoint, and refuses bundles
// that skip a change or hold blocks the founding validator signed alone
// after the set had changed.
func TestValidatorChangesAreFollowed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a two-validator chain")
	}
	f := startChangingFederation(t)
	raw := f.export(0, "vm-s")
	rep, err := evidence.Verify(raw, f.genesis)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	t.Logf("vm-s: %d bytes; %s", len(raw), strings.TrimSpace(rep.String()))
	b := decodeBundle(t, raw)
	changes := evidencetest.Changes(b)
	if rep.ValidatorChanges != 2 || rep.ValidatorSets != 3 || len(changes) != 2 || rep.Trust != "genesis" || len(rep.Txs) != 8 {
		t.Fatalf("report %+v, changes at %v", rep, changes)
	}

	// A change left out, whole or half.
	for _, c := range changes {
		cut := decodeBundle(t, raw)
		evidencetest.Drop(cut, c, c+1)
		refused(t, fmt.Sprintf("without the change at %d", c), encodeBundle(t, cut), f.genesis, nil, "the bundle lacks a change of validators")
		cut = decodeBundle(t, raw)
		evidencetest.Drop(cut, c+1)
		refused(t, fmt.Sprintf("without the header after the change at %d", c), encodeBundle(t, cut), f.genesis, nil,
			fmt.Sprintf("the validators change after height %d", c), fmt.Sprintf("lacks the header at height %d", c+1))
	}

	// The founder's validator key signs, alone, a header at a height where
	// cloud0 and cloud1 validated, whose state has vm-s terminated by cloud0
	// right after the checkpoint, instead of later.
	priv := evidencetest.ValidatorKey(f.homes[0])
	key, err := keys.Load(f.homes[0], "cloud0")
	if err != nil {
		t.Fatal(err)
	}
	fake, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-evidence", Signer: "cloud0", Nonce: 999,
		Expires: time.Now().Add(time.Hour).Unix(), Action: bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-s"}}}, key.PrivKey)
	if err != nil {
		t.Fatal(err)
	}
	// The forged header lies after the checkpoint and before cloud2's
	// admission took effect (the change at admitted+1).
	forged := f.trust.Height + 2
	if forged+1 > f.admitted || changes[1] != f.admitted+1 {
		t.Fatalf("no room for the forgery: checkpoint %d, admission %d, changes %v", f.trust.Height, f.admitted, changes)
	}
	// forge replaces b's state with the founder's: the fake termination
	// instead of the true one, and the state at a header the founder signs
	// alone at height forged, in place of the true state's header.
	forge := func(b *evidence.Bundle) []byte {
		b.Txs = b.Txs[:len(b.Txs)-1]
		evidencetest.Tx(b, forged-1, fake)
		if err := evidencetest.Header(b, forged, priv, nil); err != nil {
			t.Fatal(err)
		}
		state := b.State.Height
		if err := evidencetest.VMState(b, "vm-s", forged, priv); err != nil {
			t.Fatal(err)
		}
		evidencetest.Drop(b, state)
		return encodeBundle(t, b)
	}
	// In the true bundle, with its changes.
	refused(t, "a header the founder signed alone, among the true changes", forge(decodeBundle(t, raw)), f.genesis, nil,
		fmt.Sprintf("the block at height %d is signed by validators", forged), fmt.Sprintf("from the change at height %d", changes[0]))
	// With no change: nothing in the bundle was signed by a later set, and
	// genesis alone cannot tell.
	early := decodeBundle(t, raw)
	forge(early)
	evidencetest.Drop(early, changes[0], changes[0]+1, changes[1], changes[1]+1)
	alone := encodeBundle(t, early)
	if _, err := evidence.Verify(alone, f.genesis); err != nil {
		t.Fatalf("the founder's history alone, from genesis: %v", err)
	}
	t.Logf("a history the founder signed alone, with no later validator's block, verifies from genesis alone (docs/FEDERATION.md)")
	// An auditor with a checkpoint from a member refuses it: the bundle must
	// reach the checkpoint, which the set after the change signed.
	refused(t, "the founder's history, against a checkpoint", alone, f.genesis, f.trust, fmt.Sprintf("holds no header at height %d", f.trust.Height))
	withTrust := decodeBundle(t, f.exportFor(0, "vm-s", f.trust.Height))
	for _, extra := range [][]int64{{f.trust.Height}, {changes[0], changes[0] + 1, f.trust.Height}} {
		e := decodeBundle(t, alone)
		for _, h := range extra {
			if h == f.trust.Height {
				copyHeader(t, e, withTrust, h)
			} else {
				copyHeader(t, e, b, h)
			}
		}
		if len(extra) == 1 {
			refused(t, "the founder's history with the checkpoint", encodeBundle(t, e), f.genesis, f.trust,
				fmt.Sprintf("the block at height %d is signed by validators", forged), fmt.Sprintf("from the checkpoint at height %d", f.trust.Height))
		} else {
			refused(t, "the founder's history with the checkpoint and the change before it", encodeBundle(t, e), f.genesis, f.trust,
				fmt.Sprintf("the block at height %d is signed by validators", forged), fmt.Sprintf("from the change at height %d", changes[0]))
		}
	}

	// A forged change: the true change after the founder's time left out,
	// and a header the founder signed alone naming cloud0 and cloud1 as the
	// next validators, before what they and cloud2 really signed. Only the
	// set after a change can say where it happened, and it signed no block
	// after the forgery.
	spliced := decodeBundle(t, raw)
	var s2 []byte // cloud0 and cloud1
	for _, e := range withTrust.Headers {
		if e.Header.Height == f.trust.Height {
			s2 = e.Header.ValidatorsHash
		}
	}
	if err := evidencetest.Header(spliced, forged, priv, s2); err != nil {
		t.Fatal(err)
	}
	evidencetest.Drop(spliced, changes[0], changes[0]+1)
	refused(t, "a change of validators the founder forged", encodeBundle(t, spliced), f.genesis, nil,
		fmt.Sprintf("the validators change after height %d", forged), fmt.Sprintf("lacks the header at height %d", forged+1))

	// The bundle built for the checkpoint verifies with it, the walk
	// starting there (its state's header is above it), and not from genesis,
	// whose changes before the checkpoint it leaves out.
	rawT := f.exportFor(0, "vm-s", f.trust.Height)
	if rep, err := evidence.VerifyTrusting(rawT, f.genesis, f.trust); err != nil || !strings.HasPrefix(rep.Trust, "the checkpoint") {
		t.Fatalf("with the checkpoint: %+v %v", rep, err)
	}
	refused(t, "the checkpoint's bundle, from genesis", rawT, f.genesis, nil, "lacks a change of validators")
	wrong := *f.trust
	wrong.Hash = append([]byte{}, wrong.Hash...)
	wrong.Hash[0] ^= 1
	refused(t, "a checkpoint of another history", rawT, f.genesis, &wrong, fmt.Sprintf("but the checkpoint you trust is %s", &wrong))
	refused(t, "a bundle without the checkpoint", f.export(0, "vm-mid"), f.genesis, f.trust, "export the bundle with --trust")
	// A checkpoint after the bundle's state: even with its header, signed,
	// the state below it is refused, since what lies before a checkpoint is
	// not relied on.
	f.send(0, "cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-late", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	st, err := f.nodes[0].Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	later, err := evidence.ParseCheckpoint(st.Trust)
	if err != nil {
		t.Fatal(err)
	}
	old := decodeBundle(t, raw)
	if old.State.Height >= later.Height {
		t.Fatalf("the checkpoint %d is not after vm-s's state at %d", later.Height, old.State.Height)
	}
	copyHeader(t, old, decodeBundle(t, f.exportFor(0, "vm-late", later.Height)), later.Height)
	refused(t, "a state below the checkpoint", encodeBundle(t, old), f.genesis, later,
		fmt.Sprintf("state.height: is %d, below the checkpoint at height %d you trust", old.State.Height, later.Height))

	// vm-mid, registered after the checkpoint by a founding cloud: its bundle
	// for the checkpoint starts the walk there and needs no earlier set.
	mid := f.exportFor(0, "vm-mid", f.trust.Height)
	rep, err = evidence.VerifyTrusting(mid, f.genesis, f.trust)
	// It walks the changes after the checkpoint only, up to the header
	// whose app hash proves its state (after the last change).
	after := 0
	for _, c := range changes {
		if c > f.trust.Height {
			after++
		}
	}
	if err != nil || !strings.HasPrefix(rep.Trust, "the checkpoint") || rep.ValidatorChanges != after {
		t.Fatalf("vm-mid from the checkpoint: %+v %v", rep, err)
	}
	refused(t, "vm-mid's bundle from the checkpoint, verified from genesis", mid, f.genesis, nil, "lacks a change of validators")
}

// copyHeader copies the header at height h, with its commit and validator
// set, from src into dst.
func copyHeader(t *testing.T, dst, src *evidence.Bundle, h int64) {
	t.Helper()
	for _, e := range src.Headers {
		if e.Header.Height != h {
			continue
		}
		if e.ValidatorSet != nil {
			set := src.ValidatorSets[*e.ValidatorSet]
			i := -1
			for k, s := range dst.ValidatorSets {
				if fmt.Sprint(s) == fmt.Sprint(set) {
					i = k
				}
			}
			if i < 0 {
				i = len(dst.ValidatorSets)
				dst.ValidatorSets = append(dst.ValidatorSets, set)
			}
			e.ValidatorSet = &i
		}
		k := 0
		for k < len(dst.Headers) && dst.Headers[k].Header.Height < h {
			k++
		}
		dst.Headers = append(dst.Headers[:k], append([]evidence.Header{e}, dst.Headers[k:]...)...)
		return
	}
	t.Fatalf("no header at height %d in the source bundle", h)
}
