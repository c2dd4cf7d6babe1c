package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/routing"
)

// A gateway's connections: net/http serves them; the gateway bounds how
// many are open, how long a slow client may hold one, and who gives way
// when they are all taken; and the answers net/http writes by itself in
// plain text go out as JSON errors.
//
// At MaxConnections, a new connection is taken and one that is not being
// served makes way for it: the longest idle, else the one that has been
// sending its request the longest (a slow client's, or a flood's). Only
// when every connection is being served (its request read, its answer
// under way) is the new one refused, with a 503. So clients that stall
// cannot keep out one that sends its request at once, and the open files
// stay bounded.

// HTTPServer returns the server for the gateway and ln wrapped for it;
// serve with srv.Serve(ln). At most MaxConnections of ln's connections are
// open at once, as above, and net/http's plain-text answers on them are
// JSON errors. The server has the timeouts that bound how long a client
// may take to send its headers or keep an idle connection (its body has
// BodyTimeout, see ServeHTTP), and no write timeout: answers stream for
// minutes, and the router bounds each request's total time itself. Its
// ConnState and ConnContext follow the connections; a caller that wants
// its own must call these too. errorLog takes net/http's own complaints;
// nil is the standard logger.
func (s *Server) HTTPServer(ln net.Listener, errorLog *log.Logger) (*http.Server, net.Listener) {
	l := &limitListener{Listener: ln, max: s.opts.MaxConnections, headerTimeout: s.opts.HeaderTimeout, open: map[*conn]struct{}{}}
	l.evicted.L = &l.mu
	l.busy = cannedAnswer(&apiError{Status: http.StatusServiceUnavailable, Type: "overloaded", RetryAfter: time.Second,
		Message: fmt.Sprintf("the gateway has %d connections open, its limit ([gateway] max_connections), and is answering on all of them; try again in a moment", l.max)})
	srv := &http.Server{Handler: s, ReadHeaderTimeout: s.opts.HeaderTimeout, IdleTimeout: s.opts.IdleTimeout, ErrorLog: errorLog,
		ConnState: func(c net.Conn, st http.ConnState) {
			if c, ok := c.(*conn); ok {
				c.l.changed(c, st)
			}
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if c, ok := c.(*conn); ok {
				return context.WithValue(ctx, connKey{}, c)
			}
			return ctx
		}}
	return srv, l
}

// fdReserve is the part of the open-file limit DefaultMaxConnections never
// gives to clients: the history store, the listeners, the upstream
// connections of the first requests.
const fdReserve = 64

// maxDefaultConnections bounds DefaultMaxConnections where the open-file
// limit is high (Go raises the soft limit to the hard one, often a
// million): each connection costs memory too.
const maxDefaultConnections = 4096

// DefaultMaxConnections is the cap on open client connections when none is
// configured: half of the process's open-file limit less a reserve, since
// a request in flight opens upstream connections too (and a simulated
// upstream's other end is a file of this process as well); at least 16,
// at most 4096.
func DefaultMaxConnections() int {
	return min(max((openFileLimit()-fdReserve)/2, 16), maxDefaultConnections)
}

// maxEvicting bounds the connections making way at once, so that the open
// files stay within MaxConnections and this many: past it, the accept loop
// waits for one of them to close (net/http closes one as soon as its
// goroutine runs), and new connections wait in the kernel's queue.
const maxEvicting = 64

// maxRefusing bounds the refused connections being closed gently at
// once; past it, a refused connection is closed at once.
const maxRefusing = 64

// refuseLinger is how long a refused connection waits for its client to
// read the 503 before it is closed: closing at once, with the request
// unread, would reset the connection and could lose the answer.
const refuseLinger = 500 * time.Millisecond

// A connection's phase, for who makes way.
const (
	sending = iota // the client is sending a request (or is yet to)
	served         // its request is read and being answered
	idle           // kept alive between requests
)

type limitListener struct {
	net.Listener
	max           int
	busy          []byte // the whole 503 answer
	headerTimeout time.Duration

	mu       sync.Mutex
	open     map[*conn]struct{}
	evicting int       // open connections told to make way, not yet closed
	evicted  sync.Cond // on mu: one of them closed, or the listener did
	stopped  bool      // the listener is closed

	refusing atomic.Int32
	wg       sync.WaitGroup // the refusals under way
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if gc := l.admit(c); gc != nil {
			return gc, nil
		}
		l.refuse(c)
	}
}

// admit takes c if there is room, or a connection not being served makes
// way for it; nil if none can.
func (l *limitListener) admit(c net.Conn) *conn {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.evicting >= maxEvicting && !l.stopped {
		l.evicted.Wait()
	}
	if len(l.open)-l.evicting >= l.max {
		victim := l.victim()
		if victim == nil {
			return nil
		}
		victim.evict()
		l.evicting++
	}
	gc := &conn{Conn: c, l: l, since: now}
	l.open[gc] = struct{}{}
	return gc
}

// victim is the connection to make way: the longest idle, else the one
// that has been sending its request the longest; nil if all are served.
// l.mu is held.
func (l *limitListener) victim() *conn {
	var best *conn
	for c := range l.open {
		switch {
		case c.evicted || c.phase == served:
		case best == nil, c.phase == idle && best.phase != idle,
			c.phase == best.phase && c.since.Before(best.since):
			best = c
		}
	}
	return best
}

// changed follows net/http's view of c: a request's headers are in
// (StateActive: it is still sending its body, if any), or it is idle.
func (l *limitListener) changed(c *conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateActive:
		c.phase, c.since = sending, time.Now()
	case http.StateIdle:
		c.phase, c.since = idle, time.Now()
	}
}

// serving marks c's request as read, so that it is not made to give way;
// false if it already has been.
func (l *limitListener) serving(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.evicted {
		return false
	}
	c.phase = served
	return true
}

func (l *limitListener) closed(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.open[c]; !ok {
		return
	}
	delete(l.open, c)
	if c.evicted {
		l.evicting--
		l.evicted.Signal()
	}
}

// refuse answers c with the 503 and closes it, without holding up the
// accept loop.
func (l *limitListener) refuse(c net.Conn) {
	if l.refusing.Add(1) > maxRefusing {
		l.refusing.Add(-1)
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		_, _ = c.Write(l.busy)
		_ = c.Close()
		return
	}
	l.wg.Go(func() {
		defer l.refusing.Add(-1)
		_ = c.SetDeadline(time.Now().Add(refuseLinger))
		_, _ = c.Write(l.busy)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
		}
		_ = c.Close()
	})
}

// Close stops accepting, and waits for the refusals under way (at most
// refuseLinger).
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.stopped = true
	l.evicted.Broadcast()
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

// conn is an accepted connection. Told to make way, it fails every read
// from then on as if its deadline had passed, whatever deadline net/http
// sets, so that whoever reads it (net/http, for headers; the gateway, for
// a body) answers and closes it. It rewrites net/http's plain-text answers
// as JSON.
type conn struct {
	net.Conn
	l *limitListener
	// phase, since and evicted are l.mu's.
	phase   int
	since   time.Time // when the phase began
	evicted bool
	once    sync.Once
	gone    atomic.Bool // evicted, for reads
	timeout atomic.Bool // a read hit its deadline
}

// connKey is the context key of a request's *conn.
type connKey struct{}

// evict tells c to make way. l.mu is held.
func (c *conn) evict() {
	c.evicted = true
	c.gone.Store(true)
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0)) // wakes a read under way
}

// connOf is the connection r came on; nil when the gateway is served
// without HTTPServer.
func connOf(r *http.Request) *conn {
	c, _ := r.Context().Value(connKey{}).(*conn)
	return c
}

// read marks c's request as read, so that its connection is not made to
// give way while it is answered; it returns the answer to send instead if
// the connection was told to make way first. A nil c is always read.
func (c *conn) read(what string) *apiError {
	if c == nil || c.l.serving(c) {
		return nil
	}
	return c.l.madeWay(what)
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.closed(c) })
	return err
}

// CloseWrite lets net/http send its end of the stream before it closes a
// connection after an answer, as it does on a bare TCP connection, so that
// the client reads the answer rather than a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) Read(p []byte) (int, error) {
	if c.gone.Load() {
		c.timeout.Store(true)
		return 0, os.ErrDeadlineExceeded
	}
	n, err := c.Conn.Read(p)
	if err != nil && os.IsTimeout(err) {
		c.timeout.Store(true)
	}
	return n, err
}

func (c *conn) SetDeadline(t time.Time) error {
	if c.gone.Load() {
		return c.Conn.SetWriteDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	if c.gone.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) Write(p []byte) (int, error) {
	if e := c.plainAnswer(p); e != nil {
		if _, err := c.Conn.Write(cannedAnswer(e)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// plainHeaders follow the status line of every answer net/http writes by
// itself when it cannot read a request. An answer from a handler never has
// them in this order (net/http sorts a handler's headers, and adds Date).
const plainHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// plainAnswer recognises p as one of net/http's plain-text answers to a
// request it could not read (a status line, then plainHeaders), and returns
// the JSON error to send instead; nil for anything else. Every write of
// every answer comes here, most of them a stream's events: only the status
// line is looked through, never the rest.
func (c *conn) plainAnswer(p []byte) *apiError {
	if !bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		return nil
	}
	end := bytes.IndexByte(p, '\r')
	if end < 12 || !bytes.HasPrefix(p[end:], []byte(plainHeaders)) {
		return nil
	}
	status, text := p[:end], p[end+len(plainHeaders):]
	code, err := strconv.Atoi(string(status[9:12]))
	if err != nil {
		return nil
	}
	switch {
	case code == http.StatusRequestHeaderFieldsTooLarge:
		return &apiError{Status: code, Type: "invalid_request",
			Message: "the request's headers (with its URL) are too large; send fewer or shorter headers, or a shorter URL"}
	case code == http.StatusBadRequest && c.gone.Load():
		return c.l.madeWay("headers")
	case code == http.StatusBadRequest && c.timeout.Load():
		return &apiError{Status: http.StatusRequestTimeout, Type: "timeout",
			Message: fmt.Sprintf("the request's headers did not arrive within %s; send the whole request at once", c.l.headerTimeout)}
	case code == http.StatusNotImplemented:
		return &apiError{Status: code, Type: "invalid_request",
			Message: "the request's Transfer-Encoding is not supported; send the body with a Content-Length, or chunked"}
	}
	// net/http's reason, if it gave one: "400 Bad Request: missing required Host header".
	msg := "the request is not valid HTTP/1.1"
	if _, reason, ok := bytes.Cut(text, []byte(": ")); ok {
		msg += ": " + routing.Clip(string(reason), routing.EchoLimit)
	}
	return &apiError{Status: code, Type: "invalid_request", Message: msg}
}

// madeWay is the answer to a request whose connection made way for a new
// one before its headers or body (what) were in.
func (l *limitListener) madeWay(what string) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: "overloaded", RetryAfter: time.Second,
		Message: fmt.Sprintf("the gateway has %d connections open, its limit ([gateway] max_connections), and this request's %s "+
			"had been on its way the longest, so its connection made way for a new one; send the whole request at once", l.max, what)}
}

// cannedAnswer is e as a whole HTTP/1.1 answer that closes the connection,
// for the places where no ResponseWriter exists.
func cannedAnswer(e *apiError) []byte {
	body, _ := json.Marshal(struct {
		Error errorBody `json:"error"`
	}{e.body()}) // our own types
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n", e.Status, http.StatusText(e.Status), len(body)+1)
	if after := e.retryAfter(); after != "" {
		fmt.Fprintf(&b, "Retry-After: %s\r\n", after)
	}
	b.WriteString("\r\n")
	b.Write(body)
	b.WriteByte('\n')
	return b.Bytes()
}
