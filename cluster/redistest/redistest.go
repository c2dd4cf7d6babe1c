// Package redistest starts a real redis-server on a loopback port for a
// test, and kills and restarts it for fault tests.
package redistest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a redis-server run by a test, stopped when the test ends.
type Server struct {
	t      testing.TB
	path   string
	port   int
	args   []string // redis-server's arguments beyond the port and persistence
	scheme string   // redis, or rediss with TLS
	cmd    *exec.Cmd
	done   chan struct{}

	// CAFile is the PEM file of the certificate authority that signed a
	// TLS server's certificate (StartTLS); "" without TLS.
	CAFile string
}

// Start runs redis-server on a free loopback port, without persistence,
// with any further arguments (e.g. "--requirepass", "secret"), and returns
// once it accepts connections. Without redis-server on the PATH the test
// is skipped, except under CI (CI set), where .ci/run installs it and its
// absence is a failure.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s := newServer(t, args)
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// StartTLS is Start with TLS only, on a certificate for 127.0.0.1 signed by
// a certificate authority of the test's own (CAFile).
func StartTLS(t testing.TB, args ...string) *Server {
	t.Helper()
	s := newServer(t, args)
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir)
	s.CAFile, s.scheme = ca, "rediss"
	s.args = append(s.args, "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no")
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func newServer(t testing.TB, args []string) *Server {
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
	return &Server{t: t, path: path, port: port, args: args, scheme: "redis"}
}

// URL is the server's address: redis://, or rediss:// with TLS.
func (s *Server) URL() string { return fmt.Sprintf("%s://127.0.0.1:%d", s.scheme, s.port) }

// ready is what redis-server logs once it accepts connections.
const ready = "Ready to accept connections"

// startWithin bounds how long redis-server may take to be ready.
const startWithin = 20 * time.Second

func (s *Server) start() {
	s.t.Helper()
	port := []string{"--port", strconv.Itoa(s.port)}
	if s.scheme == "rediss" {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}
	}
	args := append(append(port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--loglevel", "notice"), s.args...)
	s.cmd = exec.Command(s.path, args...)
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

// writeCerts writes a certificate authority and a server certificate for
// 127.0.0.1 it signed, with the server's key, as PEM files in dir.
func writeCerts(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	for file, block := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}
