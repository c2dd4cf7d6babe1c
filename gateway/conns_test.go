package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/sim"
)

// The tests of this file talk to the gateway over raw TCP connections, as
// slow and hostile clients do: a client that sends part of a request and
// stops, more clients than the gateway takes, requests net/http refuses
// before the gateway sees them.

// guard bounds how long a test waits for something that must happen, so
// that a regression fails the test instead of hanging it.
const guard = 10 * time.Second

// stall opens a connection and sends a request's headers and the first
// bytes of a body of 1000, then nothing more; the test closes it at its end.
func stall(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	return sendRaw(t, addr, "POST "+path+" HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":")
}

// sendRaw opens a connection and writes raw on it; the test closes it at
// its end.
func sendRaw(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedAnswer reads what the gateway sends on c until it closes c, which
// it must do within guard, and reads that as one HTTP answer.
func closedAnswer(t *testing.T, c net.Conn) (*http.Response, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(guard))
	raw, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the gateway did not close the connection within %s; it sent %q", guard, raw)
	}
	if err != nil {
		t.Fatalf("the connection ended with %v, not the gateway closing it, after %q", err, raw)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("not an HTTP answer: %v: %q", err, raw)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the answer's body: %v: %q", err, raw)
	}
	return resp, body
}

// states counts the connections that reach each state, as the server sees
// them.
type states map[http.ConnState]chan struct{}

func newStates(n int) states {
	s := states{}
	for _, st := range []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateClosed} {
		s[st] = make(chan struct{}, n)
	}
	return s
}

func (s states) hook(_ net.Conn, st http.ConnState) {
	if ch, ok := s[st]; ok {
		ch <- struct{}{}
	}
}

// wait waits for n connections to reach st: StateNew once the server has
// accepted one, StateActive once it has read a request's headers,
// StateIdle once it has answered, StateClosed once it has closed one.
func (s states) wait(t *testing.T, st http.ConnState, n int) {
	t.Helper()
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	for i := range n {
		select {
		case <-s[st]:
		case <-deadline.C:
			t.Fatalf("%d connections of %d reached %s within %s", i, n, st, guard)
		}
	}
}

// blockingUpstream is an OpenAI-compatible upstream that holds the first
// hold requests (each one said on arrived) until the test ends, and
// answers the others at once.
func blockingUpstream(t *testing.T, hold int) (url string, arrived <-chan struct{}) {
	t.Helper()
	got := make(chan struct{}, hold)
	release := make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(n.Add(1)) <= hold {
			got <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"up-1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello."},"finish_reason":"stop"}]}`+"\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv.URL, got
}

// Past MaxConnections, when every connection is being answered, a new one
// gets a JSON 503 that says why and when to come back, and is closed.
func TestConnectionsPastTheCapGetA503(t *testing.T) {
	up, arrived := blockingUpstream(t, 2)
	f := newFixture(t, Options{}, map[string]upstream{"held": {url: up, price: 1}})
	srv := startServer(t, New(Options{Router: f.router, Health: f.mon, MaxConnections: 2}), nil)
	for range 2 {
		body, _ := json.Marshal(chatBody(true))
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if resp, err := srv.Client().Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for range 2 {
		<-arrived // both requests are read and being answered: their connections are the gateway's
	}

	resp, body := closedAnswer(t, sendRaw(t, srv.Listener.Addr().String(), "GET /v1/models HTTP/1.1\r\nHost: gateway\r\n\r\n"))
	e := decodeError(t, resp, body, http.StatusServiceUnavailable)
	if e.Error.Type != "overloaded" || !strings.Contains(e.Error.Message, "2 connections open") || !strings.Contains(e.Error.Message, "max_connections") {
		t.Errorf("error %+v; want overloaded, naming the limit and its key", e.Error)
	}
	if resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Errorf("Retry-After %q, Connection: close %v; want 1 and true", resp.Header.Get("Retry-After"), resp.Close)
	}
}

// At MaxConnections, a connection that is not being answered makes way for
// a new one: an idle one first, then the one whose request has been on
// its way the longest, which is told so in a JSON 503 and closed.
func TestSlowAndIdleConnectionsMakeWay(t *testing.T) {
	f := fastFixture(t, Options{})
	st := newStates(16)
	srv := startServer(t, New(Options{Router: f.router, Health: f.mon, MaxConnections: 2}), st.hook)
	addr := srv.Listener.Addr().String()
	get := "GET /v1/models HTTP/1.1\r\nHost: gateway\r\n\r\n"

	slow := stall(t, addr, "/v1/chat/completions")
	st.wait(t, http.StateActive, 1)
	kept := sendRaw(t, addr, get) // answered, then kept alive: idle
	r := bufio.NewReader(kept)
	if resp, err := http.ReadResponse(r, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	st.wait(t, http.StateIdle, 1)

	// The idle connection makes way, though the stalled one is older.
	resp, b := f.do(t, mustRequest(t, srv.URL+"/v1/models"), srv.Client())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	kept.SetReadDeadline(time.Now().Add(guard))
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the idle connection: read %d bytes, %v; want it closed", n, err)
	}

	// Then, of two stalled ones, the one stalled longer, told why.
	srv.Client().CloseIdleConnections()
	st.wait(t, http.StateClosed, 2) // the idle one, and the client's own
	stall(t, addr, "/v1/messages")
	st.wait(t, http.StateActive, 3) // the idle one's request, the client's, and this one's
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, b := f.do(t, mustRequest(t, srv.URL+"/v1/models"), c); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	resp, b = closedAnswer(t, slow)
	if e := decodeError(t, resp, b, http.StatusServiceUnavailable); !strings.Contains(e.Error.Message, "this request's body had been on its way the longest") {
		t.Errorf("the stalled client is told %q", e.Error.Message)
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// A client that sends part of a body and stops is answered with a 408 in
// its API's shape when BodyTimeout has passed, and its connection closed;
// a body a handler does not read has as long, and then the connection
// closes too.
func TestStalledBodiesAreClosedAtTheDeadline(t *testing.T) {
	f := fastFixture(t, Options{BodyTimeout: 100 * time.Millisecond})
	addr := f.srv.Listener.Addr().String()
	chunked := "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"model\":"
	unread := "GET /v1/models HTTP/1.1\r\nHost: gateway\r\nContent-Length: 100\r\n\r\n{"
	for _, c := range []struct {
		name string
		conn func() net.Conn
	}{
		{"chat completions", func() net.Conn { return stall(t, addr, "/v1/chat/completions") }},
		{"messages", func() net.Conn { return stall(t, addr, "/v1/messages") }},
		{"chunked", func() net.Conn { return sendRaw(t, addr, chunked) }},
		{"a body no handler reads", func() net.Conn { return sendRaw(t, addr, unread) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := closedAnswer(t, c.conn())
			switch c.name {
			case "a body no handler reads":
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d, want the models (200): %s", resp.StatusCode, body)
				}
			case "messages":
				var e anthropicErrorBody
				if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusRequestTimeout || e.Error.Type != "timeout_error" ||
					!strings.Contains(e.Error.Message, "did not arrive within 100ms") {
					t.Errorf("status %d, %s; want a 408 timeout_error in Anthropic's shape", resp.StatusCode, body)
				}
			default:
				e := decodeError(t, resp, body, http.StatusRequestTimeout)
				if e.Error.Type != "timeout" || !strings.Contains(e.Error.Message, "the request body did not arrive within 100ms") {
					t.Errorf("error %+v; want a timeout saying how long the body had", e.Error)
				}
			}
		})
	}
}

// The body deadline ends with the body: an answer that takes longer than
// BodyTimeout to stream is not cut by it (net/http's read behind the
// handler would cancel the request when a deadline still set passed).
func TestAnswersOutlastTheBodyDeadline(t *testing.T) {
	// 12 tokens at 60 a second: 200ms, ten times the body's deadline.
	f := newFixture(t, Options{BodyTimeout: 20 * time.Millisecond}, map[string]upstream{
		"slow": {profile: &sim.Profile{TokensPerSecond: 60}, price: 1}})
	for _, stream := range []bool{false, true} {
		req := chatBody(stream)
		req["max_tokens"] = 12
		resp, b := f.post(t, "/v1/chat/completions", req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %v: status %d: %s", stream, resp.StatusCode, b)
		}
		if stream {
			data, _ := events(t, b)
			if last := data[len(data)-1]; last != "[DONE]" || strings.Contains(string(b), `"error"`) {
				t.Errorf("the stream ended %q: %s", last, b)
			}
			continue
		}
		var a answer
		if err := json.Unmarshal(b, &a); err != nil || a.Choices[0].FinishReason == nil || *a.Choices[0].FinishReason != "length" {
			t.Errorf("answer %s (%v); want all 12 tokens, finish_reason length", b, err)
		}
	}
}

// net/http answers some requests itself, before the gateway sees them; on
// the gateway's connections those answers are JSON errors too, as are the
// ones ServeMux would write (a redirect to a clean path, "*").
func TestGoPlainTextAnswersAreJSON(t *testing.T) {
	// The header timeout is short on a gateway of its own: a big request
	// may take longer than that to write on a busy machine.
	addr := fastFixture(t, Options{}).srv.Listener.Addr().String()
	hasty := fastFixture(t, Options{HeaderTimeout: 100 * time.Millisecond}).srv.Listener.Addr().String()
	for _, c := range []struct {
		name   string
		raw    string
		status int
		msg    string
	}{
		{"headers too large", "GET /v1/models HTTP/1.1\r\nHost: gateway\r\nX-Big: " + strings.Repeat("a", http.DefaultMaxHeaderBytes+8192) + "\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, "headers (with its URL) are too large"},
		{"headers too slow", "GET /v1/mod", http.StatusRequestTimeout, "headers did not arrive within 100ms"},
		{"no Host", "GET /v1/models HTTP/1.1\r\n\r\n", http.StatusBadRequest, "not valid HTTP/1.1: missing required Host header"},
		{"not HTTP", "HELLO\r\n\r\n", http.StatusBadRequest, "not valid HTTP/1.1"},
		{"an unknown transfer coding", "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: gzip\r\n\r\n",
			http.StatusNotImplemented, "Transfer-Encoding is not supported"},
		{"*", "GET * HTTP/1.1\r\nHost: gateway\r\n\r\n", http.StatusBadRequest, "GET * is not a request this API serves"},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", http.StatusMethodNotAllowed, "not a proxy"},
		{"an unsupported HTTP version", "GET /v1/models HTTP/9.9\r\nHost: gateway\r\n\r\n", http.StatusHTTPVersionNotSupported, "unsupported protocol version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			to := addr
			if c.status == http.StatusRequestTimeout {
				to = hasty
			}
			conn, err := net.Dial("tcp", to)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Written on the side: the gateway may answer before it has read
			// all of a request too large.
			go io.WriteString(conn, c.raw)
			resp, body := closedAnswer(t, conn)
			if e := decodeError(t, resp, body, c.status); !strings.Contains(e.Error.Message, c.msg) {
				t.Errorf("message %q does not say %q", e.Error.Message, c.msg)
			}
		})
	}
}

// A path ServeMux would clean is redirected, as net/http does, with a JSON
// body (in Anthropic's shape on its route) for a client that does not
// follow redirects.
func TestUncleanPathsAreRedirectedInJSON(t *testing.T) {
	f := fastFixture(t, Options{})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ method, path, to string }{
		{http.MethodGet, "/v1//models?x=1", "/v1/models?x=1"},
		{http.MethodPost, "/v1/./chat/completions", "/v1/chat/completions"},
		{http.MethodPost, "/v1/x/../messages", "/v1/messages"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), c.method, f.srv.URL+c.path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = c.path[:strings.IndexByte(c.path+"?", '?')] // sent as written, not cleaned by the client
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != c.to || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: status %d, Location %q, Content-Type %q; want 307 to %s in JSON", c.method, c.path, resp.StatusCode,
				resp.Header.Get("Location"), resp.Header.Get("Content-Type"), c.to)
		}
		if anthropic := strings.HasPrefix(c.to, "/v1/messages"); anthropic != strings.Contains(string(b), `"type":"error"`) ||
			!strings.Contains(string(b), "is not a clean path; send the request to "+strings.Split(c.to, "?")[0]) {
			t.Errorf("%s %s: %s", c.method, c.path, b)
		}
	}
	// Followed, the redirect serves the request.
	resp, b := f.get(t, "/v1//models")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1//models followed: status %d: %s", resp.StatusCode, b)
	}
}
