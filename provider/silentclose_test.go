package provider

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestSilenceThenClose: a connection closed with no answer after a long
// silence is a timeout (no retry on the same endpoint), one reset at once is
// a connection failure (a blip, worth one retry). The silence is measured
// on the client's clock, which the test moves while the server holds the
// request, so no test waits for it.
func TestSilenceThenClose(t *testing.T) {
	for _, p := range protocols {
		for _, tt := range []struct {
			name   string
			silent time.Duration // the clock moves this much while the server holds the request
			first  time.Duration // the first-token limit
			class  Class
			blip   bool
		}{
			{"reset at once", 0, 0, ClassConnect, true},
			{"reset after a moment", silentCloseAfter / 10, 0, ClassConnect, true},
			{"closed after a long silence", silentCloseAfter + time.Second, 0, ClassTimeout, false},
			// Under a short first-token limit, half of it is long.
			{"closed after half a short limit", 2500 * time.Millisecond, 4 * time.Second, ClassTimeout, false},
			{"closed early under a short limit", 1500 * time.Millisecond, 4 * time.Second, ClassConnect, true},
		} {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				var clock testClock
				read := make(chan struct{})
				moved := make(chan struct{})
				h := func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body) // the whole request is taken
					close(read)
					<-moved
					conn, _, err := w.(http.Hijacker).Hijack()
					if err != nil {
						panic(err)
					}
					reset(conn.(*net.TCPConn))
				}
				// The first-token limit runs on a real timer: a long one
				// unless the case sets one, so that it never fires here.
				first := time.Hour
				if tt.first > 0 {
					first = tt.first
				}
				var c testUpstream
				if p.name == "anthropic" {
					c, _ = newAnthropicTestClient(t, http.HandlerFunc(h), AnthropicOptions{Now: clock.Now, FirstTokenTimeout: first})
				} else {
					c, _ = newTestClient(t, http.HandlerFunc(h), OpenAIOptions{Now: clock.Now, FirstTokenTimeout: first})
				}
				go func() {
					<-read
					clock.Advance(tt.silent)
					close(moved)
				}()
				_, err := c.Stream(context.Background(), testRequest())
				e := AsError(err)
				if got := classOf(t, err); got != tt.class {
					t.Fatalf("class = %v (%v), want %v", got, err, tt.class)
				}
				if e.Blip() != tt.blip {
					t.Errorf("Blip() = %v, want %v (%v)", e.Blip(), tt.blip, err)
				}
			})
		}
	}
}
