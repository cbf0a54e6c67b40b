package libvirt

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// The real tests run libvirtd daemons with the QEMU driver (TCG: no KVM
// needed) side by side on this machine, each in a private mount namespace so
// that each has its own /etc/libvirt, /run/libvirt, /var/lib/libvirt,
// /var/cache/libvirt and /var/log/libvirt, all on one network namespace.
// They need root, Debian's libvirt-daemon-driver-qemu and qemu-system-x86, and
// the libvirt-qemu user (scripts/test.sh installs them). Without them the
// tests fail, unless BBUS_SKIP_LIBVIRT=1.

// daemon is one libvirtd started by a test.
type daemon struct {
	uri  string
	dir  string
	cmd  *exec.Cmd
	name string
}

// requireLibvirt fails the test (or skips it, with BBUS_SKIP_LIBVIRT=1)
// unless this machine can run the daemons.
func requireLibvirt(t *testing.T) {
	t.Helper()
	var missing []string
	for _, bin := range []string{"libvirtd", "qemu-system-x86_64", "unshare"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if _, err := exec.Command("getent", "passwd", "libvirt-qemu").Output(); err != nil {
		missing = append(missing, "the libvirt-qemu user")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (for the mount namespaces)")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("the libvirt tests need %s: run scripts/test.sh once, which installs them", strings.Join(missing, ", "))
	if os.Getenv("BBUS_SKIP_LIBVIRT") == "1" {
		t.Skip(msg + " (skipped: BBUS_SKIP_LIBVIRT=1)")
	}
	t.Fatal(msg)
}

// startDaemons starts n libvirtd daemons at once and waits until each can
// run QEMU domains; each stops when the test ends, its domains destroyed.
func startDaemons(t *testing.T, n int) []*daemon {
	t.Helper()
	requireLibvirt(t)
	root := t.TempDir()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	ds := make([]*daemon, n)
	for i := range ds {
		name := string(rune('a' + i))
		d := &daemon{dir: filepath.Join(root, name), name: name}
		port := freePort(t)
		d.uri = fmt.Sprintf("qemu+tcp://127.0.0.1:%d/system", port)
		// QEMU's capabilities, probed at each cold start, are kept between runs.
		capCache := filepath.Join(cache, "bbus-test-libvirt", name)
		for _, sub := range []string{"etc", "run", "lib", "log"} {
			must(t, os.MkdirAll(filepath.Join(d.dir, sub), 0o755))
		}
		must(t, os.MkdirAll(capCache, 0o755))
		must(t, os.WriteFile(filepath.Join(d.dir, "etc", "libvirtd.conf"), fmt.Appendf(nil, `listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "%d"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
host_uuid = "%s"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
`, port, hostUUID(t)), 0o644))
		// Root runs QEMU, without the confinement a real host has: no
		// cgroups, namespaces or security driver in a test's sandbox. Each
		// daemon takes its own incoming migration ports.
		must(t, os.WriteFile(filepath.Join(d.dir, "etc", "qemu.conf"), fmt.Appendf(nil, `user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
migration_port_min = %d
migration_port_max = %d
`, 49152+100*i, 49170+100*i), 0o644))
		var script strings.Builder
		for _, m := range [][2]string{{"etc", "/etc/libvirt"}, {"run", "/run/libvirt"}, {"lib", "/var/lib/libvirt"}, {capCache, "/var/cache/libvirt"}, {"log", "/var/log/libvirt"}} {
			src := m[0]
			if !filepath.IsAbs(src) {
				src = filepath.Join(d.dir, src)
			}
			must(t, os.MkdirAll(m[1], 0o755)) // the mount point, in the machine's namespace
			fmt.Fprintf(&script, "mount --bind %s %s && ", src, m[1])
		}
		script.WriteString("exec libvirtd -f /etc/libvirt/libvirtd.conf --listen -p /run/libvirt/libvirtd.pid")
		out, err := os.Create(filepath.Join(d.dir, "daemon.out"))
		must(t, err)
		d.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script.String())
		d.cmd.Stdout, d.cmd.Stderr = out, out
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		must(t, d.cmd.Start()) // unshare and sh exec: the process is libvirtd
		ds[i] = d
		t.Cleanup(func() { d.stop(t) })
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, d := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = d.waitReady(60 * time.Second) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("libvirtd %s: %v\n%s", ds[i].name, err, ds[i].logTail())
		}
	}
	return ds
}

// waitReady waits until the daemon answers and its QEMU driver has probed QEMU.
func (d *daemon) waitReady(limit time.Duration) error {
	start := time.Now()
	var last error
	for time.Since(start) < limit {
		if d.cmd.ProcessState != nil {
			return fmt.Errorf("exited: %v", d.cmd.ProcessState)
		}
		l, err := dial(d.uri)
		if err == nil {
			_, err = l.ConnectGetDomainCapabilities(nil, golibvirt.OptString{"x86_64"}, nil, golibvirt.OptString{"qemu"}, 0)
			l.Disconnect()
			if err == nil {
				return nil
			}
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", limit, last)
}

// stop destroys the daemon's domains (a running QEMU would outlive it) and
// kills it.
func (d *daemon) stop(t *testing.T) {
	if l, err := dial(d.uri); err == nil {
		if doms, _, err := l.ConnectListAllDomains(1, golibvirt.ConnectListDomainsActive); err == nil {
			for _, dom := range doms {
				l.DomainDestroy(dom)
			}
		}
		l.Disconnect()
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	if t.Failed() {
		t.Logf("libvirtd %s log:\n%s", d.name, d.logTail())
	}
}

func (d *daemon) logTail() string {
	var b strings.Builder
	for _, f := range []string{"daemon.out", "log/libvirtd.log"} {
		data, _ := os.ReadFile(filepath.Join(d.dir, f))
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

func hostUUID(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/random/uuid")
	must(t, err)
	return strings.TrimSpace(string(b))
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
