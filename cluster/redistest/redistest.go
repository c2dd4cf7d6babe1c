// Package redistest starts a real redis-server on a loopback port for a
// test, and kills and restarts it for fault tests.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a redis-server run by a test, stopped when the test ends.
type Server struct {
	t    testing.TB
	path string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs redis-server on a free loopback port, without persistence,
// and returns once it accepts connections. Without redis-server on the
// PATH the test is skipped, except under CI (CI set), where .ci/run
// installs it and its absence is a failure.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run installs it with apt-get")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); .ci/run installs it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, path: path, port: port}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// URL is the server's redis:// address.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d", s.port) }

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// ready is what redis-server logs once it accepts connections.
const ready = "Ready to accept connections"

// startWithin bounds how long redis-server may take to be ready.
const startWithin = 20 * time.Second

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.path, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "notice")
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.done = make(chan struct{})
	up := make(chan string, 1)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(out)
		said := false
		for sc.Scan() {
			if !said {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), ready) {
					said = true
					up <- ""
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		if !said {
			up <- log.String()
		}
		_ = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case log := <-up:
		if log != "" {
			s.t.Fatalf("redis-server on port %d ended before it was ready:\n%s", s.port, log)
		}
	case <-time.After(startWithin):
		_ = s.cmd.Process.Kill()
		s.t.Fatalf("redis-server on port %d was not ready within %s", s.port, startWithin)
	}
}

// Kill kills the server at once (SIGKILL), as a crash would, and waits for
// it to be gone. Killing a dead server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Restart starts the server again on the same port, empty, as a Redis
// without persistence comes back after a crash.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}
