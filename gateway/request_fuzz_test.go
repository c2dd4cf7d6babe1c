package gateway

import (
	"testing"
)

// FuzzParseChat: whatever the body, parsing a chat request never panics,
// and it either refuses with a 4xx that says something, or yields a request
// the router can take (a model and at least one message).
//
//	go test -run xxx -fuzz FuzzParseChat -fuzztime 30s ./gateway
func FuzzParseChat(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"models":["a","b"],"messages":[{"role":"developer","content":[{"type":"text","text":"x"}]}],"stream":true}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"provider":{"sort":{"by":"price","partition":"none"},"max_price":{"prompt":1},"preferred_max_latency":{"p90":2}}}`,
		`{"model":"m","messages":[],"max_tokens":0,"temperature":9,"n":3,"tools":[]}`,
		`{"model":"m","messages":[{"role":"user","content":null}],"top_p":0.5,"stop":["x"]}`,
		`[1,2]`, `null`, `{"model":`, "{\"model\":\"m\",\n\"messages\": [}", `{"provider":"x"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		c, req, e := parseChat([]byte(body))
		if e != nil {
			if e.Status < 400 || e.Status > 499 || e.Message == "" || e.Type == "" {
				t.Fatalf("refusal %+v for %q", e, body)
			}
			return
		}
		if c == nil || req.Model == "" || len(req.Messages) == 0 {
			t.Fatalf("accepted %q as model %q with %d messages", body, req.Model, len(req.Messages))
		}
	})
}
