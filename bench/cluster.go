package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof" // the child node's --pprof endpoint
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/internal/wan"
	"github.com/bbusdev/bbus/node"
)

// Apps the benchmark runs.
const (
	AppBBUS = "bbus" // the bbus ledger
	AppKV   = "kv"   // the baseline: the bare engine with a trivial key-value app
)

// ChainID is the chain id of the benchmark's chains.
const ChainID = "bbus-bench"

// benchCapacity is what each cloud of a benchmark chain offers: as much as the
// ledger allows, so that capacity never limits a run.
var benchCapacity = bbus.Resources{CPU: bbus.MaxResource, MemMiB: bbus.MaxResource, DiskIOPS: bbus.MaxResource, NetMbps: bbus.MaxResource}

// ServeNode runs one node of a benchmark in this process until ctx is done:
// the bbus node of home (as bbus start runs it) or the baseline's. With
// pprofAddr it also serves net/http/pprof there. The bench command starts its
// nodes as child processes of its own binary through this ("bbus bench node").
func ServeNode(ctx context.Context, app, home, api, pprofAddr string, logs io.Writer) error {
	if pprofAddr != "" {
		ln, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		go http.Serve(ln, http.DefaultServeMux)
	}
	switch app {
	case AppBBUS:
		n, err := node.Open(home, logs)
		if err != nil {
			return err
		}
		if err := n.Start(api); err != nil {
			return err
		}
		<-ctx.Done()
		n.Stop()
		return nil
	case AppKV:
		return runKVNode(ctx, home, api, logs)
	}
	return bbus.Errorf(bbus.EINVALID, "app must be %s or %s, not %q", AppBBUS, AppKV, app)
}

// child is one node of a benchmark cluster: a child process of this binary.
type child struct {
	home  string
	api   string // base URL of its REST API
	pprof string // host:port of its pprof endpoint, or ""
	cmd   *exec.Cmd
	done  chan struct{}
	dead  atomic.Bool
	log   *os.File
	last  procStat // what /proc said just before it was killed
}

// cluster is the nodes of one app's chain.
type cluster struct {
	app      string
	dir      string
	homes    []string
	clouds   []string
	children []*child
	mesh     wan.Mesh // the delaying proxies between the validators (--wan-delay), or nil
}

// layout writes the homes of a chain of n validators under dir: one home made
// by node.Init, or a loopback testnet made by node.Testnet. Every founding
// cloud has benchCapacity.
func layout(dir string, n int) (homes, clouds []string, err error) {
	apiBase, err := freePortRange(n)
	if err != nil {
		return nil, nil, err
	}
	p2pBase, err := freePortRange(n)
	if err != nil {
		return nil, nil, err
	}
	if n == 1 {
		home := filepath.Join(dir, "node0")
		c := node.DefaultConfig("cloud0")
		c.API = fmt.Sprintf("127.0.0.1:%d", apiBase)
		c.P2PListen = fmt.Sprintf("tcp://127.0.0.1:%d", p2pBase)
		if _, err := node.Init(node.InitOptions{Home: home, Cloud: "cloud0", ChainID: ChainID, Capacity: benchCapacity, Config: &c}); err != nil {
			return nil, nil, err
		}
		return []string{home}, []string{"cloud0"}, nil
	}
	homes, err = node.Testnet(node.TestnetOptions{Validators: n, Out: dir, ChainID: ChainID, P2PPort: p2pBase, APIPort: apiBase, Capacity: benchCapacity})
	if err != nil {
		return nil, nil, err
	}
	for k := range homes {
		clouds = append(clouds, fmt.Sprintf("cloud%d", k))
	}
	return homes, clouds, nil
}

// freePortRange returns the first of n consecutive loopback ports that nothing
// listens on now.
func freePortRange(n int) (int, error) {
	for try := 0; try < 200; try++ {
		base := 20000 + rand.IntN(40000)
		var lns []net.Listener
		ok := true
		for k := 0; k < n; k++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+k))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("found no %d free consecutive ports", n)
}

// nodeProcs is the GOMAXPROCS of each of n nodes on this machine: 0 (Go's
// default, every CPU) for one node; for more, the CPUs shared out, at least
// one each, as one would run several validators on one machine (n processes
// with a thread per CPU each contend for the CPUs at every step of consensus).
func nodeProcs(n, set int) int {
	if set > 0 || n == 1 {
		return set
	}
	return max(1, runtime.NumCPU()/n)
}

// startCluster lays out and starts a chain of n validators running app under
// dir, each with procs Go processors (0: Go's default). With a WAN delay every
// validator reaches every other through a proxy of this process that delays
// each direction by it (wanMesh).
func startCluster(ctx context.Context, app, dir string, n, procs int, profile bool, delay time.Duration, wanTimers bool) (*cluster, error) {
	homes, clouds, err := layout(dir, n)
	if err != nil {
		return nil, err
	}
	cl := &cluster{app: app, dir: dir, homes: homes, clouds: clouds}
	if delay > 0 && n > 1 {
		if cl.mesh, err = wanMesh(homes, delay, wanTimers); err != nil {
			return nil, err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for _, home := range homes {
		c, err := node.LoadConfig(home)
		if err != nil {
			cl.stop()
			return nil, err
		}
		ch := &child{home: home, api: "http://" + c.API, done: make(chan struct{})}
		args := []string{"bench", "node", "--app", app, "--home", home, "--api", c.API}
		if profile {
			port, err := freePortRange(1)
			if err != nil {
				cl.stop()
				return nil, err
			}
			ch.pprof = fmt.Sprintf("127.0.0.1:%d", port)
			args = append(args, "--pprof", ch.pprof)
		}
		ch.log, err = os.Create(filepath.Join(home, "bench-node.log"))
		if err != nil {
			cl.stop()
			return nil, err
		}
		ch.cmd = exec.Command(exe, args...)
		ch.cmd.Stdout, ch.cmd.Stderr = ch.log, ch.log
		if procs > 0 {
			ch.cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs))
		}
		if err := ch.cmd.Start(); err != nil {
			cl.stop()
			return nil, fmt.Errorf("start node %s: %w", home, err)
		}
		go func() { ch.cmd.Wait(); close(ch.done) }()
		cl.children = append(cl.children, ch)
	}
	for _, ch := range cl.children {
		if err := ch.waitHealthy(ctx, 60*time.Second); err != nil {
			cl.stop()
			return nil, err
		}
	}
	return cl, nil
}

func (ch *child) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-ch.done:
			return fmt.Errorf("node %s exited at start: %s", ch.home, ch.logTail())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if r, err := http.Get(ch.api + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s did not answer within %s: %s", ch.home, timeout, ch.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (ch *child) logTail() string {
	b, _ := os.ReadFile(filepath.Join(ch.home, "bench-node.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// kill stops the node at once (SIGKILL), as a crash would.
func (ch *child) kill() {
	ch.last = readProcStat(ch.cmd.Process.Pid)
	ch.dead.Store(true)
	ch.cmd.Process.Kill()
	<-ch.done
}

// wanMesh starts a delaying proxy for every ordered pair of the validators of
// homes and points each one's persistent peers at its proxies to the others;
// it takes the founding clouds' addresses out of the genesis, so that no
// node's directory dials around the proxies. Proxies on loopback give what network namespaces with a netem
// delay on each link would (a fixed delay each way, order, back-pressure)
// without root or the kernel's netem, and the CPU they take is the load
// generator's, measured apart from the nodes'. With timers, the nodes run
// with the consensus timers for that round trip (node.Config.ForRoundTrip).
func wanMesh(homes []string, delay time.Duration, timers bool) (wan.Mesh, error) {
	targets := make([]string, len(homes))
	ids := make([]string, len(homes))
	for k, h := range homes {
		c, err := node.LoadConfig(h)
		if err != nil {
			return nil, err
		}
		targets[k] = strings.TrimPrefix(c.P2PListen, "tcp://")
		if ids[k], err = node.NodeID(h); err != nil {
			return nil, err
		}
	}
	mesh, err := wan.NewMesh(targets, delay)
	if err != nil {
		return nil, err
	}
	for k, h := range homes {
		var peers []string
		for j := range homes {
			if j != k {
				peers = append(peers, ids[j]+"@"+mesh[k][j].Addr())
			}
		}
		c, err := node.LoadConfig(h)
		if err == nil {
			err = unpublishAddresses(h)
		}
		if err == nil {
			c.PersistentPeers = strings.Join(peers, ",")
			if timers {
				*c = c.ForRoundTrip(2 * delay)
			}
			err = c.Save(h)
		}
		if err != nil {
			mesh.Close()
			return nil, err
		}
	}
	return mesh, nil
}

// unpublishAddresses removes the founding clouds' p2p addresses from the
// genesis of home (their node ids stay, for the peer filter).
func unpublishAddresses(home string) error {
	doc, err := cmttypes.GenesisDocFromFile(node.GenesisPath(home))
	if err != nil {
		return err
	}
	var g bbus.Genesis
	if err := json.Unmarshal(doc.AppState, &g); err != nil {
		return err
	}
	for i := range g.Clouds {
		g.Clouds[i].P2PAddress = ""
	}
	if doc.AppState, err = json.Marshal(&g); err != nil {
		return err
	}
	return doc.SaveAs(node.GenesisPath(home))
}

// stop stops every node that still runs, gracefully (SIGTERM), so that what
// they hold is on disk.
func (cl *cluster) stop() {
	if cl.mesh != nil {
		defer cl.mesh.Close()
	}
	for _, ch := range cl.children {
		if ch.cmd.Process != nil && !ch.dead.Load() {
			ch.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, ch := range cl.children {
		if ch.cmd.Process == nil {
			continue
		}
		select {
		case <-ch.done:
		case <-time.After(20 * time.Second):
			ch.cmd.Process.Kill()
			<-ch.done
		}
		ch.dead.Store(true)
		ch.log.Close()
	}
}

// procStat is what /proc says of a process.
type procStat struct {
	cpu   time.Duration // user + system
	rss   int64         // resident bytes now
	hwm   int64         // peak resident bytes
	valid bool
}

// clockTicks is the kernel's USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func readProcStat(pid int) procStat {
	var s procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return s
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.cpu = time.Duration(ut+st) * time.Second / clockTicks
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			name string
			dst  *int64
		}{{"VmRSS:", &s.rss}, {"VmHWM:", &s.hwm}} {
			if v, ok := strings.CutPrefix(line, k.name); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				*k.dst = kb << 10
			}
		}
	}
	s.valid = true
	return s
}

// selfCPU returns this process's CPU time (the load generator's).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// compact opens a stopped node's goleveldb state, compacts all of it, and
// returns its logical contents (bytes of keys and values by key prefix, the
// text up to the first '/') and the size on disk of the durable ledger state
// alone: a compacted copy without the node's own index (outside the state)
// and without replay-protection entries, which the ledger drops once the
// transactions expire (tx_max_ttl_seconds), less an empty database's files.
func compact(dir string) (map[string]int64, int64, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{ErrorIfMissing: true})
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	if err := db.CompactRange(util.Range{}); err != nil {
		return nil, 0, err
	}
	tmp, err := os.MkdirTemp("", "bbus-bench-state-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(tmp)
	empty, err := leveldbSize(filepath.Join(tmp, "empty"), nil)
	if err != nil {
		return nil, 0, err
	}
	sizes := map[string]int64{}
	it := db.NewIterator(nil, nil)
	defer it.Release()
	var durable [][2][]byte
	for it.Next() {
		k := it.Key()
		p := string(k)
		if i := strings.IndexByte(p, '/'); i >= 0 {
			p = p[:i+1]
		}
		if strings.HasPrefix(p, "\x00") {
			p = "local:" + strings.TrimPrefix(p, "\x00")
			if strings.HasPrefix(string(k), "\x00local/tx/") {
				p = "local:tx-index/"
			}
		}
		sizes[p] += int64(len(k) + len(it.Value()))
		if !strings.HasPrefix(p, "local:") && p != "r/" && p != "rt/" && p != "rb/" {
			durable = append(durable, [2][]byte{bytes.Clone(k), bytes.Clone(it.Value())})
		}
	}
	if err := it.Error(); err != nil {
		return nil, 0, err
	}
	full, err := leveldbSize(filepath.Join(tmp, "durable"), durable)
	if err != nil {
		return nil, 0, err
	}
	return sizes, full - empty, nil
}

// leveldbSize writes kvs into a new goleveldb database in dir (with the
// store's options), compacts it, and returns the size of its files.
func leveldbSize(dir string, kvs [][2][]byte) (int64, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{Filter: filter.NewBloomFilter(10)})
	if err != nil {
		return 0, err
	}
	b := new(leveldb.Batch)
	for i, kv := range kvs {
		b.Put(kv[0], kv[1])
		if b.Len() == 10000 || i == len(kvs)-1 {
			if err := db.Write(b, nil); err != nil {
				db.Close()
				return 0, err
			}
			b.Reset()
		}
	}
	if err := db.CompactRange(util.Range{}); err != nil {
		db.Close()
		return 0, err
	}
	if err := db.Close(); err != nil {
		return 0, err
	}
	return node.DirSize(dir), nil
}
