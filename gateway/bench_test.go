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
	// Many clients at once: what the gateway sustains on this machine, and
	// that concurrent requests neither block each other nor fail.
	b.Run("gateway/parallel", func(b *testing.B) {
		body := fmt.Sprintf(ask, testModel, true)
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := post(f.srv.Client(), f.srv.URL+"/v1/chat/completions", body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// benchPost sends body to url b.N times, reading every answer whole.
func benchPost(b *testing.B, c *http.Client, url, body string) {
	b.ReportAllocs()
	for b.Loop() {
		if err := post(c, url, body); err != nil {
			b.Fatal(err)
		}
	}
}

// post sends body to url and reads the answer whole; anything but a 200 is
// an error.
func post(c *http.Client, url, body string) error {
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d from %s", resp.StatusCode, url)
	}
	return nil
}

// BenchmarkChatEndpoints is BenchmarkChat's gateway request with a model
// served by 10 and by 50 endpoints, as production configures them: every
// request plans over all of them and reads their health. Run with
//
//	go test -run xxx -bench ChatEndpoints -benchmem ./gateway
func BenchmarkChatEndpoints(b *testing.B) {
	instant := sim.Profile{TTFT: sim.Latency{P50: time.Microsecond, P95: time.Microsecond}}
	const ask = `{"model":%q,"messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"stream":%v}`
	for _, n := range []int{10, 50} {
		ups := map[string]upstream{}
		for i := range n {
			ups[fmt.Sprintf("p%02d", i)] = upstream{profile: &instant, price: 1 + float64(i)/10}
		}
		f := newFixture(b, Options{}, ups)
		for _, stream := range []bool{false, true} {
			b.Run(fmt.Sprintf("endpoints=%d/stream=%v", n, stream), func(b *testing.B) {
				benchPost(b, f.srv.Client(), f.srv.URL+"/v1/chat/completions", fmt.Sprintf(ask, testModel, stream))
			})
		}
		// Anthropic's Messages API, as Claude Code sends it, over the
		// same endpoints.
		for _, stream := range []bool{false, true} {
			b.Run(fmt.Sprintf("messages/endpoints=%d/stream=%v", n, stream), func(b *testing.B) {
				benchPost(b, f.srv.Client(), f.srv.URL+"/v1/messages", fmt.Sprintf(ask, testModel, stream))
			})
		}
	}
}
