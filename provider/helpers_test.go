package provider

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"
)

// testKey is the API key the tests use. testdata/error_401.txt echoes it, as
// OpenAI does for a wrong key.
const testKey = "sk-test-4f9c2b7e1d8a6035"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventEnd matches the blank line that ends an SSE event, in any line ending.
var eventEnd = regexp.MustCompile(`(\r\n|\r|\n)(\r\n|\r|\n)`)

// sseHandler serves body as an event stream, flushing after each event so
// that the client sees them arrive one by one, as from a real upstream.
func sseHandler(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		rest := body
		for len(rest) > 0 {
			n := len(rest)
			if loc := eventEnd.FindIndex(rest); loc != nil {
				n = loc[1]
			}
			if _, err := w.Write(rest[:n]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			rest = rest[n:]
		}
	}
}

// replayHandler answers with a recorded HTTP response: its status, headers
// and body.
func replayHandler(t testing.TB, raw []byte) http.HandlerFunc {
	resp, body := splitFixture(t, raw)
	return func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}
}

// splitFixture parses a recorded HTTP response.
func splitFixture(t testing.TB, raw []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("bad fixture: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("bad fixture body: %v", err)
	}
	return resp, body
}

// newTestClient starts h on a loopback server and returns a client for it.
// Cleanup closes both, idle connections included, so goleak sees no leftover.
func newTestClient(t testing.TB, h http.Handler, o OpenAIOptions) (*OpenAI, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o.BaseURL = srv.URL + "/v1"
	if o.APIKey == "" {
		o.APIKey = testKey
	}
	c := NewOpenAI(o)
	t.Cleanup(c.CloseIdleConnections)
	return c, srv
}

// testRequest is a small chat request.
func testRequest() Request {
	return Request{Model: "gpt-4o-mini", Messages: []Message{{Role: "user", Content: "Say hello."}}}
}

// drain reads s to its end and returns the chunks and the final error.
func drain(t testing.TB, s Stream) ([]Chunk, error) {
	t.Helper()
	var chunks []Chunk
	for range 100000 {
		c, err := s.Next()
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, c)
	}
	t.Fatal("stream did not end")
	return nil, nil
}

// streamAll opens a stream of testRequest on c and reads it to its end.
// The stream is closed when the test ends.
func streamAll(t testing.TB, c *OpenAI) (Stream, []Chunk, error) {
	t.Helper()
	s, err := c.Stream(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	chunks, err := drain(t, s)
	return s, chunks, err
}

// classOf returns the class of err, failing the test when a failure is not
// an *Error.
func classOf(t testing.TB, err error) Class {
	t.Helper()
	var e *Error
	if err != nil && err != io.EOF && !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return ClassOf(err)
}

// blockUntilDone is a handler body that never answers, and returns once the
// client is gone.
func blockUntilDone(w http.ResponseWriter, r *http.Request) {
	waitForClient(r)
}

// waitForClient returns when the client has gone away. It reads the request
// body first: net/http only watches a connection for its close once the body
// was consumed.
func waitForClient(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// testClock is a clock the test moves by hand.
type testClock struct{ ns atomic.Int64 }

var clockBase = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func (c *testClock) Now() time.Time          { return clockBase.Add(time.Duration(c.ns.Load())) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
