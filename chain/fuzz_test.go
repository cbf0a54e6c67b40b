package chain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// What FuzzChain draws from: signers whose keys it holds, and for each field
// type the extremes of the type beside values that make rules pass.
var (
	fuzzSigners = []string{"a", "b", "c", "o", "x", "n1"} // members, the oracle, a stranger, an applicant
	fuzzStrings = []string{
		"", "a", "b", "c", "o", "x", "n1", "vm1", "vm2", "vm3", "mig-1", "mig-2", "mig-0", "agr-1", "agr-2",
		"agr-18446744073709551615", "inv-1", "inv-2", "rep-1", strings.Repeat("v", 64), strings.Repeat("v", 65),
		strings.Repeat("n", 300), "é", "\x00", "a/b", "<&>", " ", "sha256:" + strings.Repeat("ab", 32), "\u2028", "k",
		// node ids and peer addresses, valid and not
		strings.Repeat("ab", 20), strings.Repeat("AB", 20), strings.Repeat("a", 39), "node.example:26656", "127.0.0.1:65536", ":0", "[::1]:26656",
	}
	// Times relative to the last block are marked by these values and resolved in fuzzInts.
	fuzzIntPool = []int64{
		0, -1, 1, math.MaxInt64, math.MinInt64, bbus.MaxUnix + 1, bbus.MaxUnix, bbus.MaxPrice, bbus.MaxPrice + 1,
		bbus.MaxResource, bbus.MaxResource + 1, bbus.MaxPct, bbus.MaxPct + 1, bbus.MaxLatencyMS, bbus.MaxLatencyMS + 1,
		2, 1000, 99_000, 1_000_000, math.MaxInt32, -math.MaxInt64,
	}
	fuzzDeltas = []time.Duration{time.Second, 5 * time.Second, time.Minute, 10 * time.Minute, time.Hour, 0}
)

// fuzzActionKinds is how many action builders action picks from (the last is
// the default case); TestFuzzCoversEveryAction checks they are every type.
const fuzzActionKinds = 29

const fuzzRelative = 6 // the int choices after the pool: last-30, last-10, last-1, last, last+10, 8 raw bytes

// fuzzReader turns the fuzzer's bytes into choices; past the end every choice is 0.
type fuzzReader struct {
	b    []byte
	last int64 // the last committed block time, Unix seconds
}

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) int() int64 {
	n := int(r.byte()) % (len(fuzzIntPool) + fuzzRelative)
	if n < len(fuzzIntPool) {
		return fuzzIntPool[n]
	}
	switch n - len(fuzzIntPool) {
	case 0:
		return r.last - 30
	case 1:
		return r.last - 10
	case 2:
		return r.last - 1
	case 3:
		return r.last
	case 4:
		return r.last + 10
	}
	var raw [8]byte
	for i := range raw {
		raw[i] = r.byte()
	}
	return int64(binary.BigEndian.Uint64(raw[:]))
}

func (r *fuzzReader) str() string { return fuzzStrings[int(r.byte())%len(fuzzStrings)] }

func (r *fuzzReader) key(signer string) []byte {
	identity := append([]byte{1}, make([]byte, 31)...)
	order8, _ := hex.DecodeString("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
	switch r.byte() % 6 {
	case 0:
		return key(signer).Public().(ed25519.PublicKey)
	case 1:
		return identity
	case 2:
		return order8
	case 3:
		return make([]byte, 31)
	case 4:
		return key("validator-" + signer).Public().(ed25519.PublicKey)
	}
	return nil
}

func (r *fuzzReader) resources() bbus.Resources {
	return bbus.Resources{CPU: r.int(), MemMiB: r.int(), DiskIOPS: r.int(), NetMbps: r.int()}
}

// action builds one action of a type the fuzzer picks, every field drawn.
func (r *fuzzReader) action(signer string) bbus.Action {
	switch r.byte() % fuzzActionKinds {
	case 0:
		return bbus.Action{CloudJoin: &bbus.CloudJoin{Name: r.str(), PubKey: r.key(signer), ValidatorKey: r.key(signer), API: r.str(), Resources: r.resources(),
			NodeID: r.str(), P2PAddress: r.str()}}
	case 1:
		return bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: r.str(), PubKey: r.key(signer)}}
	case 2:
		return bbus.Action{CloudRemove: &bbus.CloudRef{Cloud: r.str()}}
	case 3:
		return bbus.Action{VMRegister: &bbus.VMRegister{VM: r.str(), Image: r.str(), Resources: r.resources()}}
	case 4:
		return bbus.Action{VMTerminate: &bbus.VMRef{VM: r.str()}}
	case 5:
		return bbus.Action{MigrationPropose: &bbus.Propose{VM: r.str(), To: r.str(), Agreement: r.str()}}
	case 6:
		return bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: r.str()}}
	case 7:
		return bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: r.str()}}
	case 8:
		return bbus.Action{MigrationReject: &bbus.MigrationRef{Migration: r.str()}}
	case 9:
		return bbus.Action{MigrationCancel: &bbus.MigrationRef{Migration: r.str()}}
	case 10:
		o := &bbus.OfferPublish{Resources: r.resources(), PriceVCPUHour: r.int(), PriceGiBHour: r.int()}
		for n := r.byte() % 4; n > 0; n-- {
			o.Tags = append(o.Tags, bbus.Tag{Key: r.str(), Value: r.str()})
		}
		return bbus.Action{OfferPublish: o}
	case 11:
		return bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: r.str(), Consumer: r.str(), PriceVCPUHour: r.int(),
			PriceGiBHour: r.int(), Availability: r.int(), MaxLatencyMS: r.int(), PenaltyPct: r.int(), Until: r.int()}}
	case 12:
		return bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: r.str()}}
	case 13:
		return bbus.Action{OracleJoin: &bbus.OracleJoin{Name: r.str(), PubKey: r.key(signer)}}
	case 14:
		return bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: r.str(), PubKey: r.key(signer)}}
	case 15:
		return bbus.Action{Report: &bbus.ReportAction{VM: r.str(), Start: r.int(), End: r.int(), Availability: r.int(), LatencyMS: r.int()}}
	case 16:
		return bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: r.str(), Consumer: r.str(), Until: r.int()}}
	case 17:
		return bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: r.str()}}
	case 19:
		who := fuzzSigners[int(r.byte())%len(fuzzSigners)]
		return bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: who, PubKey: r.key(who), ValidatorKey: r.key(who), NodeID: r.str()}}
	case 20:
		who := fuzzSigners[int(r.byte())%len(fuzzSigners)]
		return bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: who, PubKey: r.key(who)}}
	case 21:
		return bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: r.str(), Reason: r.str()}}
	case 22:
		return bbus.Action{CloudUpdate: &bbus.CloudUpdate{P2PAddress: r.str()}}
	case 23:
		return bbus.Action{ObserverInvite: &bbus.ObserverInvite{Observer: r.str(), NodeID: r.str()}}
	case 24:
		return bbus.Action{ObserverApprove: &bbus.ObserverApprove{Observer: r.str(), NodeID: r.str()}}
	case 25:
		return bbus.Action{ObserverRemove: &bbus.ObserverRef{Observer: r.str()}}
	case 26:
		return bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: r.str()}}
	case 27:
		return bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: r.str(), Hosting: r.int(), Penalties: r.int(), Reason: r.str()}}
	}
	return bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: r.str(), Reason: r.str()}}
}

// tx builds and signs one transaction with its signer's own key.
func (r *fuzzReader) tx(nonce uint64) []byte {
	signer := fuzzSigners[int(r.byte())%len(fuzzSigners)]
	act := r.action(signer)
	expires := r.last + 600
	switch r.byte() % 8 {
	case 6:
		expires = r.int()
	case 7:
		expires = r.last - 1
	}
	raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-chain", Signer: signer, Nonce: nonce, Expires: expires, Action: act}, key(signer))
	if err != nil {
		panic(err)
	}
	return raw
}

// fuzzPrelude builds, in dir, the state every run of FuzzChain starts from:
// genesis with clouds a, b, c; oracle o admitted; vm1 at a, vm2 at b;
// agreement agr-1 (provider b, consumer a) signed; vm1 migrated to b under
// it. It returns the last block's time.
func fuzzPrelude(tb testing.TB, dir string) time.Time {
	st, err := store.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	d := &diskApp{t: tb, app: New(ledger.New(keys.Verify).WithKeyCheck(keys.CheckPublicKey), st), time: genesisTime}
	if _, err := d.app.InitChain(context.Background(), diskGenesis()); err != nil {
		tb.Fatal(err)
	}
	res := bbus.Resources{CPU: 2, MemMiB: 2048}
	n := uint64(0)
	s := func(signer string, a bbus.Action) []byte { n++; return signAt(d.time, signer, n, a) }
	blocks := []func() [][]byte{
		func() [][]byte {
			return [][]byte{s("a", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "o", PubKey: key("o").Public().(ed25519.PublicKey)}})}
		},
		func() [][]byte {
			return [][]byte{
				s("o", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "probe", PubKey: key("o").Public().(ed25519.PublicKey)}}),
				s("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: res}}),
				s("b", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm2", Resources: res}}),
				s("b", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "b", Consumer: "a", PriceVCPUHour: 1_000_000, Availability: 99_000, PenaltyPct: 10_000}}),
			}
		},
		func() [][]byte {
			return [][]byte{
				s("b", bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "o", PubKey: key("o").Public().(ed25519.PublicKey)}}),
				s("c", bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "o", PubKey: key("o").Public().(ed25519.PublicKey)}}),
				s("a", bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: "agr-1"}}),
			}
		},
		func() [][]byte {
			return [][]byte{s("a", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm1", To: "b", Agreement: "agr-1"}})}
		},
		func() [][]byte {
			return [][]byte{s("b", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-1"}})}
		},
		func() [][]byte {
			return [][]byte{s("b", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: "mig-1"}})}
		},
	}
	for i, b := range blocks {
		results, _ := d.block(b()...)
		for j, r := range results {
			if r.Code != 0 {
				tb.Fatalf("prelude block %d tx %d: %s %s", i, j, CodeOf(r.Code), r.Log)
			}
		}
	}
	return d.time
}

// openCopy opens a copy of the store directory src in a fresh temporary
// directory, as the application of one validator.
func openCopy(t *testing.T, src string) *App {
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	st, err := store.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(ledger.New(keys.Verify).WithKeyCheck(keys.CheckPublicKey), st)
}

// FuzzChain drives arbitrary signed transactions, every field drawn from the
// extremes of its type, through CheckTx, PrepareProposal, ProcessProposal,
// FinalizeBlock and Commit on two applications over real stores: every block
// must commit, and both must agree on every result and every app hash.
func FuzzChain(f *testing.F) {
	// Seeds: the two transactions that once halted every validator, then a
	// little of everything. Indexes are into the pools above.
	idx := func(pool []string, s string) byte {
		for i, p := range pool {
			if p == s {
				return byte(i)
			}
		}
		panic(s)
	}
	ints := func(v int64) byte {
		for i, p := range fuzzIntPool {
			if p == v {
				return byte(i)
			}
		}
		panic(v)
	}
	last := byte(len(fuzzIntPool) + 3)
	f.Add([]byte{1, idx(fuzzSigners, "a"), 11, idx(fuzzStrings, "a"), idx(fuzzStrings, "b"), ints(1), ints(0), ints(99_000), ints(0), ints(1000), ints(bbus.MaxUnix + 1), 0})
	f.Add([]byte{1, idx(fuzzSigners, "o"), 15, idx(fuzzStrings, "vm1"), byte(len(fuzzIntPool) + 2), ints(math.MaxInt64), ints(99_000), ints(0), 0})
	f.Add([]byte{1, idx(fuzzSigners, "o"), 15, idx(fuzzStrings, "vm1"), byte(len(fuzzIntPool) + 2), last, ints(2), ints(0), 0,
		1, idx(fuzzSigners, "b"), 16, idx(fuzzStrings, "b"), idx(fuzzStrings, "a"), last, 0, 0, 2,
		1, idx(fuzzSigners, "n1"), 0, idx(fuzzStrings, "k"), 1, 4, idx(fuzzStrings, ""), ints(2), ints(2), ints(0), ints(0), 0})
	f.Add([]byte("\x01\x00\x03\x07\x1c\x02\x03\x00\x00\x00\x01\x01\x0b\x01\x02\x03\x04\x05\x06\x07\x08\x00\x10\x01\x02\x0f\x07\x1a\x1b\x0c\x0d\x00"))
	dir := filepath.Join(f.TempDir(), "state")
	start := fuzzPrelude(f, dir)
	f.Fuzz(func(t *testing.T, data []byte) {
		apps := []*App{openCopy(t, dir), openCopy(t, dir)}
		ctx := context.Background()
		r := &fuzzReader{b: data, last: start.Unix()}
		height := int64(5)
		now := start
		for _, app := range apps {
			app.SetClock(func() time.Time { return now })
		}
		nonce := uint64(1000)
		for blocks := 0; blocks < 4 && len(r.b) > 0; blocks++ {
			var txs [][]byte
			for len(txs) < 8 && len(r.b) > 0 {
				if r.byte()%16 == 0 {
					break
				}
				nonce++
				txs = append(txs, r.tx(nonce))
			}
			delta := fuzzDeltas[int(r.byte())%len(fuzzDeltas)]
			height++
			now = now.Add(delta + time.Nanosecond) // BFT time always moves on
			var hashes [][]byte
			var codes []string
			for n, app := range apps {
				var got []string
				for _, tx := range txs {
					res, err := app.CheckTx(ctx, &abci.CheckTxRequest{Tx: tx})
					if err != nil {
						t.Fatalf("app %d CheckTx: %v", n, err)
					}
					got = append(got, fmt.Sprint(res.Code))
				}
				pp, err := app.PrepareProposal(ctx, &abci.PrepareProposalRequest{Txs: txs, MaxTxBytes: 1 << 22, Height: height, Time: now})
				if err != nil {
					t.Fatalf("app %d PrepareProposal: %v", n, err)
				}
				proc, err := app.ProcessProposal(ctx, &abci.ProcessProposalRequest{Txs: pp.Txs, Height: height, Time: now})
				if err != nil {
					t.Fatalf("app %d ProcessProposal: %v", n, err)
				}
				got = append(got, proc.Status.String())
				// Finalized whatever ProcessProposal said: a faulty proposer's
				// block may still be decided, and each validator must apply it.
				fb, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Txs: pp.Txs, Height: height, Time: now})
				if err != nil {
					t.Fatalf("app %d FinalizeBlock at %d: %v", n, height, err)
				}
				for _, res := range fb.TxResults {
					got = append(got, fmt.Sprintf("%d:%s", res.Code, res.Log))
				}
				if _, err := app.Commit(ctx, &abci.CommitRequest{}); err != nil {
					t.Fatalf("app %d Commit at %d: %v", n, height, err)
				}
				info, _ := app.Info(ctx, &abci.InfoRequest{})
				if info.LastBlockHeight != height || !bytes.Equal(info.LastBlockAppHash, fb.AppHash) {
					t.Fatalf("app %d: block %d did not commit (state at %d)", n, height, info.LastBlockHeight)
				}
				hashes = append(hashes, fb.AppHash)
				codes = append(codes, strings.Join(got, "\n"))
			}
			if codes[0] != codes[1] {
				t.Fatalf("block %d: the applications disagree:\n%s\n--\n%s", height, codes[0], codes[1])
			}
			if !bytes.Equal(hashes[0], hashes[1]) {
				t.Fatalf("block %d: app hashes differ: %X %X", height, hashes[0], hashes[1])
			}
			r.last = now.Unix()
		}
	})
}

// TestFuzzCoversEveryAction: the fuzz target's generator builds every action
// type the transaction format has, so a new action cannot stay out of the
// consensus-path fuzzing unnoticed.
func TestFuzzCoversEveryAction(t *testing.T) {
	seen := map[string]bool{}
	for k := 0; k < fuzzActionKinds; k++ {
		r := &fuzzReader{b: bytes.Repeat([]byte{byte(k)}, 64)}
		a := r.action("a")
		seen[a.Type()] = true
	}
	typ := reflect.TypeOf(bbus.Action{})
	for i := 0; i < typ.NumField(); i++ {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !seen[name] {
			t.Errorf("FuzzChain never builds %s", name)
		}
	}
}
