// Package e2e tests Crowd end to end: it builds the real crowd binary,
// starts it on a temporary data dir, and talks to it only through the Go
// client and plain HTTP, as an integrator would.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crowd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "crowd")
	build := exec.Command("go", "build", "-o", binary, "../cmd/crowd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build crowd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Process is a running crowd binary.
type Process struct {
	URL string
	// AdminURL is the base URL of the operator listener ("" when off).
	AdminURL string
	Data     string
	cmd      *exec.Cmd
	logs     *syncBuffer
	done     chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs "crowd serve" on data with extra flags and waits until /readyz
// answers 200. Both listeners are on free ports (several processes run at
// once); flags may override --admin-addr.
//
// Every test talks to the server from one address, so the per-address
// limits on registrations and anonymous views are lifted unless flags set
// them (a later flag wins); the tests of those limits set them.
func Start(t testing.TB, data string, flags ...string) *Process {
	t.Helper()
	return StartEnv(t, data, nil, flags...)
}

// StartEnv is Start with environment variables (CROWD_* settings, as an
// operator's deployment gives them) added to the process's environment.
func StartEnv(t testing.TB, data string, env []string, flags ...string) *Process {
	t.Helper()
	p := launch(t, data, env, flags...)
	c := client.New(p.URL)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Do(context.Background(), "GET", "/readyz", nil, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// StartListening runs "crowd serve" and returns as soon as it listens
// ("crowd listening"), without waiting for it to be ready.
func StartListening(t testing.TB, data string, flags ...string) *Process {
	t.Helper()
	return launch(t, data, nil, flags...)
}

// launch starts "crowd serve" and returns once it logs its addresses
// ("crowd listening", or "crowd serving"); the process is stopped when the
// test ends.
func launch(t testing.TB, data string, env []string, flags ...string) *Process {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data", data,
		"--register-per-minute", "1000000", "--anon-views-per-minute", "1000000",
		"--analytics-per-minute", "1000000"}, flags...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "CROWD_LOG_LEVEL=debug"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Data: data, cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	addr := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			var rec struct {
				Msg       string `json:"msg"`
				Addr      string `json:"addr"`
				AdminAddr string `json:"admin_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && (rec.Msg == "crowd listening" || rec.Msg == "crowd serving") {
				select {
				case addr <- [2]string{rec.Addr, rec.AdminAddr}:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case a := <-addr:
		p.URL = "http://" + a[0]
		if a[1] != "" {
			p.AdminURL = "http://" + a[1]
		}
	case err := <-p.done:
		t.Fatalf("crowd exited before listening: %v\n%s", err, p.logs)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("crowd did not listen\n%s", p.logs)
	}
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("crowd exited with %v\n%s", err, p.logs)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("crowd did not stop on SIGTERM\n%s", p.logs)
	}
}

// Logs returns what the process logged.
func (p *Process) Logs() string { return p.logs.String() }

// Client returns an anonymous client of p.
func (p *Process) Client() *client.Client { return client.New(p.URL) }

// StartWithToken creates a service token on data with "crowd token create
// --service" and then starts "crowd serve" on it: with SQLite, token
// create refuses a data dir a server holds.
func StartWithToken(t testing.TB, data string, flags ...string) (*Process, string) {
	t.Helper()
	tok := ServiceToken(t, data)
	return Start(t, data, flags...), tok
}

// ServiceToken runs "crowd token create --service" on a data dir (with
// SQLite, while no server runs on it; with --postgres-url, any time).
func ServiceToken(t testing.TB, data string, flags ...string) string {
	t.Helper()
	out, err := exec.Command(binary, append([]string{"token", "create", "--service", "--data", data}, flags...)...).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// MustUser registers handle and logs in, returning a client with its token.
func MustUser(t testing.TB, c *client.Client, handle string, reg ...client.Registration) *client.Client {
	t.Helper()
	ctx := context.Background()
	r := client.Registration{Handle: handle, Password: "password-" + handle, BirthDate: "1995-03-04", Gender: "female", Country: "FR"}
	if len(reg) > 0 {
		r = reg[0]
		r.Handle, r.Password = handle, "password-"+handle
	}
	if _, err := c.Register(ctx, r); err != nil {
		t.Fatalf("register %s: %v", handle, err)
	}
	s, err := c.Login(ctx, handle, "password-"+handle)
	if err != nil {
		t.Fatalf("login %s: %v", handle, err)
	}
	return c.WithToken(s.Token)
}

// Eventually polls cond until it holds or 10 s pass.
func Eventually(t testing.TB, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
