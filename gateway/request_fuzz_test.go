package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/routing"
	"switchboard/wirejson/wirejsontest"
)

// The request decoders of both APIs, fuzzed. Seeds are in
// testdata/fuzz/<target>: requests as the OpenAI, OpenRouter and Anthropic
// SDKs send them (streams, tools, images, system blocks, OpenRouter's
// fields), huge fields and wrong types; a crasher found goes there too.
//
//	go test -run xxx -fuzz FuzzParseChat -fuzztime 2m -parallel 1 ./gateway
//	go test -run xxx -fuzz FuzzParseMessages -fuzztime 2m -parallel 1 ./gateway

// fuzzKey is a key the gateway was given, sent by the fuzzed client in its
// headers as a real one's is: no output may hold it unless the body does.
const fuzzKey = "sk-fuzz-9c2e7b41d0f3"

// maxOwnMessage bounds an error the decoders write: their own words and
// clipped echoes of the body, whatever the body (the 2 KiB cut of every
// message is a net for others, never what bounds theirs).
const maxOwnMessage = 1024

// fuzzDecoder checks that, whatever the body, reading and decoding it as d
// does never panics and either refuses it with a short 4xx that says what
// is wrong, written in d's shape, or yields a request the router can take;
// and that no output holds the key from the request's headers. It also
// holds wirejson to encoding/json on the types the decoders read.
func fuzzDecoder(t *testing.T, d *dialect, path, body string) {
	for _, d := range []string{
		wirejsontest.Differs[map[string]json.RawMessage]([]byte(body)),
		wirejsontest.Differs[chatRequest]([]byte(body)),
		wirejsontest.Differs[messagesExtras]([]byte(body)),
		wirejsontest.Differs[string]([]byte(body)),
	} {
		if d != "" {
			t.Fatal(d)
		}
	}
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+fuzzKey)
	r.Header.Set("X-Api-Key", fuzzKey)
	w := httptest.NewRecorder()
	raw, e := readBody(w, r, 1<<20, time.Minute)
	var c *chatRequest
	var req routing.Request
	if e == nil {
		c, req, e = d.parse(raw)
	}
	var out []byte
	if e != nil {
		if e.Status < 400 || e.Status > 499 || e.Message == "" || e.Type == "" {
			t.Fatalf("refusal %+v", e)
		}
		if len(e.Message) > maxOwnMessage || len(e.Param) > maxParam {
			t.Fatalf("a %d-byte message, a %d-byte param: %.300q", len(e.Message), len(e.Param), e.Message)
		}
		d.writeError(w, e)
		out = w.Body.Bytes()
		var shape struct {
			Type  string `json:"type"`
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(out, &shape); err != nil || shape.Error.Message == "" || (d.idPrefix == "msg_") != (shape.Type == "error") {
			t.Fatalf("the answer is not an error in %s's shape: %v: %.300s", d.name, err, out)
		}
	} else {
		if c == nil || req.Model == "" || len(req.Messages) == 0 {
			t.Fatalf("accepted as model %q with %d messages", req.Model, len(req.Messages))
		}
		// What the router is given, but OnCommit, a func.
		var err error
		if out, err = json.Marshal([]any{req.Model, req.Models, req.Messages, req.MaxTokens, req.Temperature, req.User,
			req.Params, req.Provider, req.Timeouts, req.Hedge, req.Extra}); err != nil {
			t.Fatalf("the accepted request: %v", err)
		}
	}
	if !strings.Contains(body, fuzzKey) && (strings.Contains(string(out), fuzzKey) || strings.Contains(w.Header().Get("Location"), fuzzKey)) {
		t.Fatalf("the key is in the output: %.300s", out)
	}
}

// FuzzParseChat: a chat completion request's body, on /v1/chat/completions.
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
	f.Fuzz(func(t *testing.T, body string) { fuzzDecoder(t, openAI, "/v1/chat/completions", body) })
}

// FuzzParseMessages: an Anthropic Messages request's body, on /v1/messages.
func FuzzParseMessages(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","max_tokens":10,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true}`,
		`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u"},"stop_sequences":["x"],"top_k":5}`,
		`{"model":"m","messages":[{"role":"system","content":"x"}],"metadata":[]}`,
		`[]`, `{"max_tokens":"1"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) { fuzzDecoder(t, anthropicAPI(new(int)), "/v1/messages", body) })
}
