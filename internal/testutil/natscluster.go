package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	natsServerOnce sync.Once
	natsServerBin  string
	natsServerErr  error
)

// NATSServerBinary builds the nats-server command of the module version
// Crowd embeds, once per machine and version (in the user's cache
// directory, shared by every test binary and run), and returns its path.
func NATSServerBinary(tb testing.TB) string {
	tb.Helper()
	natsServerOnce.Do(func() {
		natsServerBin, natsServerErr = buildNATSServer()
	})
	if natsServerErr != nil {
		tb.Fatal(natsServerErr)
	}
	return natsServerBin
}

// natsServerModule is the module NATSServerBinary builds.
const natsServerModule = "github.com/nats-io/nats-server/v2"

func buildNATSServer() (string, error) {
	// The version go.mod asks for (a test binary's build info lists no
	// dependencies).
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", natsServerModule).Output()
	version := strings.TrimSpace(string(out))
	if err != nil || version == "" {
		return "", fmt.Errorf("build nats-server: version of %s: %v", natsServerModule, err)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "crowd-test")
	bin := filepath.Join(dir, "nats-server-"+version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("build nats-server: %w", err)
	}
	// Built under a name of its own and renamed into place, so that test
	// binaries building it at once never run a half-written file.
	tmp, err := os.CreateTemp(dir, "nats-server-build-")
	if err != nil {
		return "", fmt.Errorf("build nats-server: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	out, err = exec.Command("go", "build", "-o", tmp.Name(), natsServerModule).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build nats-server: %v\n%s", err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("build nats-server: %w", err)
	}
	return bin, nil
}

// FreePorts returns n loopback TCP ports that were free a moment ago.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// StartNATSCluster starts n real nats-server processes (NATSServerBinary)
// routed into one JetStream cluster on loopback ports, waits until
// JetStream answers, and returns the client URLs. The processes are killed
// when the test ends; their logs are printed if it failed.
func StartNATSCluster(tb testing.TB, n int) []string {
	tb.Helper()
	bin := NATSServerBinary(tb)
	ports := FreePorts(tb, 2*n)
	client, route := ports[:n], ports[n:]
	var routes []string
	for _, p := range route {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var urls []string
	for i := range n {
		dir := tb.TempDir()
		conf := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
cluster {
  name: crowdtest
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, i, client[i], dir, route[i], strings.Join(routes, ", "))
		path := filepath.Join(dir, "n.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", path)
		var logs lockedBuffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if tb.Failed() {
				tb.Logf("nats-server n%d:\n%s", i, logs.String())
			}
		})
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
	}
	url := strings.Join(urls, ",")
	// Ready when JetStream answers account info (it needs a meta leader).
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := func() error {
			nc, err := nats.Connect(url, nats.Timeout(time.Second))
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = js.AccountInfo(ctx)
			return err
		}()
		if err == nil {
			return urls
		}
		if time.Now().After(deadline) {
			tb.Fatalf("NATS cluster not ready: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
