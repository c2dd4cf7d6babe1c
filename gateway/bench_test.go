package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/sim"
)

// BenchmarkChat is the gateway's cost per request: a chat completion
// through the gateway (parse, plan, stream from the upstream, answer with
// the trace, count, log) against the same request sent straight to the
// simulated upstream it routes to. Run with
//
//	go test -run xxx -bench Chat -benchmem ./gateway
func BenchmarkChat(b *testing.B) {
	instant := sim.Profile{TTFT: sim.Latency{P50: time.Microsecond, P95: time.Microsecond}}
	f := newFixture(b, Options{}, map[string]upstream{"only": {profile: &instant, price: 1}})
	const ask = `{"model":%q,"messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"stream":%v}`
	for _, stream := range []bool{false, true} {
		b.Run(fmt.Sprintf("direct/stream=%v", stream), func(b *testing.B) {
			benchPost(b, f.srv.Client(), f.sims["only"].URL()+"/chat/completions", fmt.Sprintf(ask, "up-only", stream))
		})
		b.Run(fmt.Sprintf("gateway/stream=%v", stream), func(b *testing.B) {
			benchPost(b, f.srv.Client(), f.srv.URL+"/v1/chat/completions", fmt.Sprintf(ask, testModel, stream))
		})
	}
}

// benchPost sends body to url b.N times, reading every answer whole.
func benchPost(b *testing.B, c *http.Client, url, body string) {
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d from %s", resp.StatusCode, url)
		}
	}
}
