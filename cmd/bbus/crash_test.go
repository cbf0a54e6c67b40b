package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/node"
)

// acked is a write the node said was committed.
type acked struct {
	vm     string
	height int64
}

// TestKill9KeepsEveryAcknowledgedWrite kills the node with SIGKILL while
// clients are committing transactions, restarts it, and checks that every write
// a client was told had committed is there, and that the state's app hash is the
// one the chain's next block header carries.
func TestKill9KeepsEveryAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a node")
	}
	// scripts/crash-matrix.sh runs many rounds; CI runs a few.
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("BBUS_CRASH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	for round := 0; round < rounds; round++ {
		// Kill at a different point of the load each round: 0.1 s to 2 s in.
		after := time.Duration(100+(round*347)%1900) * time.Millisecond
		t.Run(fmt.Sprintf("round%d-after-%s", round, after), func(t *testing.T) { crashOnce(t, after) })
	}
}

func crashOnce(t *testing.T, after time.Duration) {
	home := t.TempDir() + "/home"
	run(t, 0, "init", "--home", home, "--cloud", "local", "--chain-id", "bbus-crash", "--cpu", "1000000000", "--mem-mib", "1000000000",
		"--p2p", "tcp://"+freeAddr(t))
	// Turn CometBFT's own RPC on, to read block headers independently of bbus.
	var rpc string
	rebind := func() {
		cfg, err := node.LoadConfig(home)
		if err != nil {
			t.Fatal(err)
		}
		rpc = freeAddr(t)
		cfg.RPCListen = "tcp://" + rpc
		if err := cfg.Save(home); err != nil {
			t.Fatal(err)
		}
	}
	rebind()
	key, err := keys.Load(home, "local")
	if err != nil {
		t.Fatal(err)
	}
	p := startNode(t, home, "", rebind)

	var (
		mu   sync.Mutex
		acks []acked
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				vm := fmt.Sprintf("vm-%d-%d", w, i)
				raw, _, _ := bbus.SignTx(&bbus.Body{ChainID: "bbus-crash", Signer: "local", Nonce: uint64(w<<32 | i),
					Expires: time.Now().Add(10 * time.Minute).Unix(),
					Action:  bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}}, key.PrivKey)
				r, err := http.Post(p.api+"/v1/txs", "application/json", bytes.NewReader(raw))
				if err != nil {
					return // the node is gone
				}
				var res bbus.TxResult
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode == 200 && json.Unmarshal(b, &res) == nil && res.Height > 0 {
					mu.Lock()
					acks = append(acks, acked{vm, res.Height})
					mu.Unlock()
				}
			}
		}(w)
	}
	// The kill comes `after` past the first acknowledged write, so that every
	// round kills a node under load (a new chain takes its first block before
	// it admits writes).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write was acknowledged in 30 s; node output:\n%s", p.logs)
		}
	}
	time.Sleep(after)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acks) == 0 {
		t.Fatalf("no write was acknowledged before the kill; node output:\n%s", p.logs)
	}

	p = startNode(t, home, "", rebind)
	for _, a := range acks {
		var vm bbus.VM
		if code := getJSON(t, p.api+"/v1/vms/"+a.vm, &vm); code != 200 || vm.Registered.Height != a.height {
			t.Fatalf("acknowledged %s at height %d; after restart: status %d, %+v", a.vm, a.height, code, vm)
		}
	}
	// One more write, then the chain idles after the block that follows it:
	// the state's hash must be the one that block's header commits to.
	raw, _, _ := bbus.SignTx(&bbus.Body{ChainID: "bbus-crash", Signer: "local", Nonce: 1 << 62,
		Expires: time.Now().Add(10 * time.Minute).Unix(),
		Action:  bbus.Action{VMRegister: &bbus.VMRegister{VM: "after", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}}, key.PrivKey)
	r, err := http.Post(p.api+"/v1/txs", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r.Body); r.StatusCode != 200 {
		t.Fatalf("write after restart: %d %s", r.StatusCode, b)
	}
	r.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st bbus.Status
		getJSON(t, p.api+"/v1/status", &st)
		var cs struct {
			Result struct {
				SyncInfo struct {
					Height  string `json:"latest_block_height"`
					AppHash string `json:"latest_app_hash"`
				} `json:"sync_info"`
			} `json:"result"`
		}
		getJSON(t, "http://"+rpc+"/status", &cs)
		if fmt.Sprint(st.Height) == cs.Result.SyncInfo.Height && st.AppHash == strings.ToUpper(cs.Result.SyncInfo.AppHash) {
			t.Logf("%d writes acknowledged before SIGKILL, all present after restart; height %d app hash %s matches the header",
				len(acks), st.Height, st.AppHash)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state at %d %s never matched the chain's header %+v", st.Height, st.AppHash, cs.Result.SyncInfo)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
