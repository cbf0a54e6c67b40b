package nova_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// broker is a real rabbitmq-server (Debian's), started once for the
// package's tests in a directory of its own, on free ports.
type broker struct {
	url  string
	dir  string
	cmd  *exec.Cmd
	env  []string
	epmd string
	node string
	done chan error // the server's exit
}

var (
	brokerOnce sync.Once
	theBroker  *broker
	brokerErr  error
)

const rabbitServer = "/usr/lib/rabbitmq/bin/rabbitmq-server"

func TestMain(m *testing.M) {
	code := m.Run()
	if theBroker != nil {
		theBroker.stop()
	}
	os.Exit(code)
}

// needBroker returns the running broker, starting it on first use. Without
// rabbitmq-server the test fails, unless BBUS_SKIP_RABBITMQ=1.
func needBroker(t *testing.T) *broker {
	t.Helper()
	if _, err := os.Stat(rabbitServer); err != nil {
		if os.Getenv("BBUS_SKIP_RABBITMQ") == "1" {
			t.Skip("rabbitmq-server is not installed and BBUS_SKIP_RABBITMQ=1")
		}
		t.Fatalf("rabbitmq-server is not installed (%v): apt-get install rabbitmq-server, or set BBUS_SKIP_RABBITMQ=1", err)
	}
	brokerOnce.Do(func() { theBroker, brokerErr = startBroker() })
	if brokerErr != nil {
		t.Fatal(brokerErr)
	}
	return theBroker
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startBroker() (*broker, error) {
	dir, err := os.MkdirTemp("", "bbus-rabbitmq-")
	if err != nil {
		return nil, err
	}
	var ports [3]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"env.conf", "enabled_plugins", "rabbitmq.conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o600); err != nil {
		return nil, err
	}
	b := &broker{dir: dir, url: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", ports[0]), epmd: strconv.Itoa(ports[2]),
		node: fmt.Sprintf("bbustest%d@localhost", os.Getpid())}
	b.env = append(os.Environ(),
		"HOME="+dir, // the Erlang cookie
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "pid"),
		"RABBITMQ_NODENAME="+b.node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", ports[0]),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", ports[1]),
		"ERL_EPMD_PORT="+b.epmd,
	)
	out, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	b.cmd = exec.Command(rabbitServer)
	b.cmd.Env = b.env
	b.cmd.Stdout, b.cmd.Stderr = out, out
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start rabbitmq-server: %w", err)
	}
	b.done = make(chan error, 1)
	go func() { b.done <- b.cmd.Wait() }()
	// Wait until it takes AMQP connections; the deadline only keeps a
	// broken broker from hanging the tests.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		conn, err := amqp.Dial(b.url)
		if err == nil {
			conn.Close()
			return b, nil
		}
		select {
		case werr := <-b.done:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return nil, fmt.Errorf("rabbitmq-server exited (%v):\n%s", werr, log)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("rabbitmq-server does not accept AMQP at %s: %v", b.url, err)
		}
	}
}

// ctl runs rabbitmqctl against the broker.
func (b *broker) ctl(args ...string) error {
	cmd := exec.Command("/usr/lib/rabbitmq/bin/rabbitmqctl", append([]string{"-n", b.node}, args...)...)
	cmd.Env = b.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
	return nil
}

// stop ends the broker's process group and the epmd it started.
func (b *broker) stop() {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	if epmd, err := exec.LookPath("epmd"); err == nil {
		kill := exec.Command(epmd, "-kill")
		kill.Env = append(os.Environ(), "ERL_EPMD_PORT="+b.epmd)
		_ = kill.Run()
	}
	_ = os.RemoveAll(b.dir)
}
