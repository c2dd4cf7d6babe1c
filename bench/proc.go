package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// listeningPrefix starts the line a child prints once it listens; the
// address follows it. Switchboard's serve prints its own line, read by
// serveURL.
const listeningPrefix = "bench: listening on "

// child is one server the harness started: the mock upstream, the bare
// proxy, Switchboard or, with -cluster, Redis, each in its own process so
// that its CPU time is its own.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.Closer // closing it tells a bench child its parent is gone
	base   string    // the OpenAI base URL, http://127.0.0.1:PORT/v1; Redis's redis://127.0.0.1:PORT
	stderr *os.File
	done   chan struct{} // closed once the process has been waited for
}

// children are every process started, so that one stop ends them all, on
// any way out: the end, an error or a signal.
type children struct {
	mu   sync.Mutex
	list []*child
}

// readiness tells from a child's stdout that it is ready, and where it
// listens.
type readiness struct {
	// parse reads a line of stdout: the base URL (or address) and true
	// when it is the line that says the child is ready.
	parse func(line string) (string, bool)
	// chatty: the child logs lines of its own before that one
	// (redis-server does). Otherwise its first line must be it, and any
	// other is a failure at once rather than a minute's wait.
	chatty bool
}

// The readiness of the harness's own children and of Switchboard serve.
var (
	benchReady = readiness{parse: benchListening}
	serveReady = readiness{parse: serveListening}
)

// start runs cmd and reads its stdout until ready accepts a line, which
// gives the base URL. Its stderr goes to a file in dir, shown when it
// fails, with the last lines of its stdout.
func (cs *children) start(ctx context.Context, name, dir string, cmd *exec.Cmd, ready readiness) (*child, error) {
	errFile, err := os.Create(dir + "/" + name + ".stderr")
	if err != nil {
		return nil, err
	}
	cmd.Stderr = errFile
	// The kernel kills the child if the harness dies without cleaning up
	// (kill -9); a bench child also exits when its stdin closes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, stderr: errFile, done: make(chan struct{})}
	// Wait closes stdout: only once the reader below has read it to the
	// end, or the lines the child wrote before it exited would be lost.
	readAll := make(chan struct{})
	go func() {
		<-readAll
		cmd.Wait()
		close(c.done)
	}()
	cs.mu.Lock()
	cs.list = append(cs.list, c)
	cs.mu.Unlock()

	// The reader hands over lines until start is done with them, then
	// discards the rest, so that a child that logs never blocks on a full
	// pipe. lines closes when stdout does.
	lines := make(chan string)
	read := make(chan struct{})
	defer close(read)
	go func() {
		defer close(readAll)
		defer close(lines)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				select {
				case lines <- strings.TrimSpace(line):
				case <-read:
					io.Copy(io.Discard, r)
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var said []string // the last lines it logged, for a failure's message
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, open := <-lines:
			if !open {
				// Its stdout ended: it is exiting, or has.
				select {
				case <-c.done:
				case <-time.After(time.Second):
				}
				return nil, fmt.Errorf("%s closed its stdout at start (%v)%s", name, cmd.ProcessState, c.output(said))
			}
			if base, ok := ready.parse(line); ok {
				c.base = base
				return c, nil
			}
			if !ready.chatty {
				return nil, fmt.Errorf("%s did not say where it listens (it said %q)%s", name, line, c.output(nil))
			}
			said = append(said, line)
			if len(said) > 20 {
				said = said[1:]
			}
		case <-c.done:
			return nil, fmt.Errorf("%s exited at start (%v)%s", name, cmd.ProcessState, c.output(said))
		case <-timeout:
			return nil, fmt.Errorf("%s was not ready within a minute%s", name, c.output(said))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// output is what a child said, for a failure's message: the last lines
// of its stdout, if given, and the end of its stderr.
func (c *child) output(stdout []string) string {
	var b strings.Builder
	if len(stdout) > 0 {
		b.WriteString("; its stdout ended with:\n" + strings.Join(stdout, "\n"))
	}
	b.WriteString("; its stderr:\n" + c.tail())
	return b.String()
}

// conns asks the mock upstream how many connections it has accepted,
// over client's connection, which it keeps: one more the first time.
func (c *child) conns(client *http.Client) (int64, error) {
	resp, err := client.Get(root(c.base) + connsPath)
	if err != nil {
		return 0, fmt.Errorf("asking the mock upstream its connections: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("asking the mock upstream its connections: %w", err)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the mock upstream's connections are %q, not a number", b)
	}
	return n, nil
}

// mallocs reads a process's heap allocations so far from the Prometheus
// text at url: go_memstats_mallocs_total, which client_golang's Go
// collector exports and the floor's mallocsPath writes. Reading it costs
// the process a few thousand allocations, against the millions of a run.
func mallocs(client *http.Client, url string) (uint64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, fmt.Errorf("reading the allocations: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("reading the allocations at %s: %w", url, err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, mallocsMetric+" "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("%s at %s is %q, not a number", mallocsMetric, url, v)
			}
			return uint64(n), nil
		}
	}
	return 0, fmt.Errorf("no %s at %s (status %s)", mallocsMetric, url, resp.Status)
}

// mallocsMetric is the Prometheus name of a Go process's heap allocations.
const mallocsMetric = "go_memstats_mallocs_total"

// mallocsPath is where the floor says its allocations, as mallocs reads
// them; every other path is proxied.
const mallocsPath = "/bench/mallocs"

// root is a base URL without its /v1.
func root(base string) string { return strings.TrimSuffix(base, "/v1") }

// tail is the end of the child's stderr, for an error message.
func (c *child) tail() string {
	b, _ := os.ReadFile(c.stderr.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// cpu is the CPU time the child has used so far, user and system.
func (c *child) cpu() (time.Duration, error) {
	d, err := procCPU(strconv.Itoa(c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading %s's CPU time: %w", c.name, err)
	}
	return d, nil
}

// all are the children started so far.
func (cs *children) all() []*child {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return slices.Clone(cs.list)
}

// stopAll interrupts every child, as Ctrl-C would, and kills those still
// running after a few seconds.
func (cs *children) stopAll() {
	cs.mu.Lock()
	list := cs.list
	cs.list = nil
	cs.mu.Unlock()
	for _, c := range list {
		c.stdin.Close()
		c.cmd.Process.Signal(os.Interrupt)
	}
	for _, c := range list {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
		c.stderr.Close()
	}
}

// benchListening parses a bench child's first line.
func benchListening(line string) (string, bool) {
	addr, ok := strings.CutPrefix(line, listeningPrefix)
	if !ok {
		return "", false
	}
	return "http://" + addr + "/v1", true
}

// serveListening parses Switchboard serve's first line: "switchboard:
// OpenAI-compatible API on http://127.0.0.1:PORT/v1 (models: ...)".
func serveListening(line string) (string, bool) {
	_, after, ok := strings.Cut(line, "API on ")
	if !ok {
		return "", false
	}
	base, _, _ := strings.Cut(after, " ")
	return base, strings.HasPrefix(base, "http://127.0.0.1:")
}

// runChild is the harness re-executed as one of its servers: "upstream"
// (the mock) or "proxy" (the bare reverse proxy to upstream, pooling up to
// idle connections). It listens on a free loopback port, prints where, and
// serves until interrupted or until its stdin closes.
func runChild(role, upstream string, idle int) error {
	var h http.Handler
	var connState func(net.Conn, http.ConnState)
	switch role {
	case "upstream":
		m := &mockUpstream{bodies: newMockBodies()}
		h, connState = m, m.connState
	case "proxy":
		u, err := url.Parse(upstream)
		if err != nil || u.Host == "" {
			return fmt.Errorf("-upstream %q is not a URL such as http://127.0.0.1:8000/v1", upstream)
		}
		h = bareProxy(u, idle)
	default:
		return fmt.Errorf("-child %q: the roles are upstream and proxy", role)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: connState}
	fmt.Printf("%s%s\n", listeningPrefix, ln.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop <- syscall.SIGTERM
	}()
	go func() {
		<-stop
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareProxy is the floor: the standard library's reverse proxy with a
// transport that keeps as many idle connections to the upstream as there
// are clients, so that no request pays for a new connection. It flushes
// SSE events as they come (ReverseProxy does so for text/event-stream).
func bareProxy(upstream *url.URL, idle int) http.Handler {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no limit across hosts
	t.MaxIdleConnsPerHost = idle
	target := &url.URL{Scheme: upstream.Scheme, Host: upstream.Host}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
		},
		Transport: t,
	}
	// Without full duplex the server closes the request body when the
	// first SSE event is flushed, and an upstream that answers at once
	// races the transport, which reads the body once more after sending it
	// to see its end: the read fails, the transport closes the upstream
	// connection and the stream is cut (a few percent of streams here).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == mallocsPath {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(w, "%s %d\n", mallocsMetric, m.Mallocs)
			return
		}
		http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}
