package provider

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A stream read to its end marker ([DONE], message_stop) leaves its
// connection to the next request: against a real provider a new connection
// costs a TLS handshake.
func TestStreamReusesTheConnection(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			body := readFixture(t, p.normal)
			var conns atomic.Int32
			srv := httptest.NewUnstartedServer(sseHandler(body))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			c := p.newClient(srv.URL + "/v1")
			t.Cleanup(c.CloseIdleConnections)
			for range 3 {
				if _, _, err := streamAll(t, c); err != io.EOF {
					t.Fatalf("stream ended with %v", err)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("3 streams one after another opened %d connections, want 1", n)
			}
		})
	}
}

// A server that keeps the body open after the end marker does not hold the
// answer up: the stream ends cleanly, the wait is not counted in its
// duration, and the connection is dropped.
func TestStreamEndsWhenTheBodyStaysOpenAfterDone(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			body := readFixture(t, p.normal)
			c, _ := serveTo(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sseHandler(body)(w, r)
				blockUntilDone(w, r)
			}), p.newClient)
			start := time.Now()
			s, chunks, err := streamAll(t, c)
			if err != io.EOF || len(chunks) == 0 {
				t.Fatalf("%d chunks, then %v; want the answer, then io.EOF", len(chunks), err)
			}
			// The whole took the answer plus the wait of drainWait; the
			// duration is the answer's alone.
			if d, took := s.Stats().Duration, time.Since(start); d > took-drainWait/2 {
				t.Errorf("duration %v of %v counts the wait for the body's end (%v)", d, took, drainWait)
			}
		})
	}
}
