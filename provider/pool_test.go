package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Under steady concurrent load a client keeps its connections: the number
// it opens stays near the number of requests in flight, never one per
// request, over HTTP/1.1 (where Go keeps only two idle connections per host
// unless told otherwise) and over HTTP/2 with TLS (which multiplexes, and
// must stay on). Streams and model lists share the pool.
func TestClientKeepsConnectionsUnderLoad(t *testing.T) {
	const workers, each = 16, 20
	for _, tt := range []struct {
		name  string
		http2 bool
		max   int32 // new connections allowed
	}{
		// A dial that races a connection coming back may open one more
		// than there are workers. Over HTTP/2 the first requests, sent
		// together before any connection exists, each dial one of their
		// own (Go's transport learns only from the TLS handshake that a
		// host speaks HTTP/2); from then on they share.
		{name: "http1", max: workers + workers/4},
		{name: "http2", http2: true, max: workers + workers/4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := readFixture(t, "stream_normal.txt")
			models := replayHandler(t, readFixture(t, "models.txt"))
			var conns, wrongProto atomic.Int32
			together := newBarrier(workers)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if (r.ProtoMajor == 2) != tt.http2 {
					wrongProto.Add(1)
				}
				if r.URL.Path == "/v1/models" {
					models(w, r)
					return
				}
				sseHandler(body)(w, r)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			if tt.http2 {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			c := NewOpenAI(OpenAIOptions{BaseURL: srv.URL + "/v1", APIKey: testKey})
			t.Cleanup(c.CloseIdleConnections)
			if tt.http2 {
				// Our own transport, trusting the test server's
				// certificate: everything else as in production.
				roots := x509.NewCertPool()
				roots.AddCert(srv.Certificate())
				c.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots}
			}

			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					defer together.abort() // a worker done or given up must hold no one
					for i := range each {
						together.wait()
						if i%2 == 1 {
							if _, err := c.ListModels(context.Background()); err != nil {
								t.Errorf("model list: %v", err)
								return
							}
							continue
						}
						s, err := c.Stream(context.Background(), testRequest())
						if err != nil {
							t.Errorf("stream: %v", err)
							return
						}
						for {
							if _, err = s.Next(); err != nil {
								break
							}
						}
						s.Close()
						if err != io.EOF {
							t.Errorf("stream ended with %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			if n := wrongProto.Load(); n > 0 {
				t.Errorf("%d requests came in another HTTP version than %s", n, tt.name)
			}
			n := conns.Load()
			t.Logf("%d workers × %d requests opened %d connections", workers, each, n)
			if n > tt.max {
				t.Errorf("%d workers × %d requests opened %d connections, want at most %d", workers, each, n, tt.max)
			}
		})
	}
}

// barrier holds its callers until n have come, then lets them all go,
// round after round. The workers wait at it before each request: all n
// connections are then idle at once, as between bursts of a gateway's
// traffic, however fast the loopback answers, and too small a pool of idle
// connections shows. (Without it, each worker would take back the
// connection it had just given back, and two idle ones would do.)
type barrier struct {
	n       int
	mu      sync.Mutex
	waiting int
	round   chan struct{}
	over    chan struct{}
	once    sync.Once
}

func newBarrier(n int) *barrier {
	return &barrier{n: n, round: make(chan struct{}), over: make(chan struct{})}
}

// wait returns once n callers waited in this round, or once the barrier
// was abandoned.
func (b *barrier) wait() {
	b.mu.Lock()
	round := b.round
	if b.waiting++; b.waiting == b.n {
		close(round)
		b.round, b.waiting = make(chan struct{}), 0
	}
	b.mu.Unlock()
	select {
	case <-round:
	case <-b.over:
	}
}

// abort lets every caller go from now on.
func (b *barrier) abort() { b.once.Do(func() { close(b.over) }) }
