package provider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets below feed outside input to each parser of it: whole
// answers, streams of both protocols, error answers and model lists. Their
// seed corpora (testdata/fuzz/FuzzName) hold real answers and hostile ones;
// the recorded fixtures are added as seeds too. Every target checks that
// nothing panics, that every error text and label is bounded and clean,
// that no more content comes out than went in, and that testKey, which the
// seeds contain in every place an upstream can put it, comes out nowhere.

// fuzzMaxAnswer is the answer limit of the fuzzed streams: small, so that
// the limit is reached too.
const fuzzMaxAnswer = 4096

// readerStream returns a stream reading in as its body with dec, without
// HTTP and with no time limits, as a client with testKey reads it.
func readerStream(in []byte, kind bodyKind, dec wireDecoder, maxAnswer int) *eventStream {
	ctx, cancel := context.WithCancelCause(context.Background())
	return newEventStream(streamConfig{
		parent: context.Background(), ctx: ctx, cancel: cancel,
		wd:    startWatchdog(cancel, watchdogLimits{}),
		start: time.Now(), now: time.Now, where: "test", key: testKey,
		body: io.NopCloser(bytes.NewReader(in)), kind: kind, maxAnswer: maxAnswer,
	}, dec)
}

// addFixtures adds the bodies of the recorded fixtures that match pattern
// as seeds.
func addFixtures(f *testing.F, pattern string) {
	names, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if bytes.HasPrefix(b, []byte("HTTP/")) {
			_, b = splitFixture(f, b)
		}
		f.Add(b)
	}
}

// checkFuzzStream reads a stream to its end and checks what every stream
// must be, whatever its body: it ends, in io.EOF or a clean *Error, for
// good; its chunks are clean; and it gives no more answer (content,
// reasoning, tool calls, signatures, logprobs' tokens) than its input has
// (encoding/json makes each byte that is not UTF-8 a 3-byte U+FFFD), nor
// more than the answer's bound.
func checkFuzzStream(t *testing.T, in []byte, s *eventStream) {
	defer s.Close()
	out := 0
	var final error
	for i := 0; ; i++ {
		if i > len(in)+1 {
			t.Fatal("the stream gives more chunks than its input has bytes")
		}
		c, err := s.Next()
		if err != nil {
			final = err
			break
		}
		checkFuzzChunk(t, c)
		out += len(c.Content) + len(c.Reasoning) + toolBytes(c.ToolCalls) + len(c.Signature) + logprobBytes(c.Logprobs)
	}
	if final != io.EOF {
		checkCleanError(t, final)
	}
	if _, again := s.Next(); again != final {
		t.Fatalf("Next after the end = %v, want %v", again, final)
	}
	if most := len(in) + 2*invalidBytes(in); out > most || out > s.cfg.maxAnswer {
		t.Fatalf("%d bytes of answer from %d bytes of input (limit %d)", out, len(in), s.cfg.maxAnswer)
	}
}

// checkFuzzChunk checks a chunk's labels and that the key is nowhere in it.
func checkFuzzChunk(t *testing.T, c Chunk) {
	t.Helper()
	checkCleanText(t, c.FinishReason, maxLabel+len("…"))
	if strings.Contains(c.Content, testKey) || strings.Contains(c.Reasoning, testKey) {
		t.Fatalf("the key in the answer: %q %q", c.Content, c.Reasoning)
	}
	for _, tc := range c.ToolCalls {
		checkCleanText(t, tc.ID, maxName+len("…"))
		checkCleanText(t, tc.Name, maxName+len("…"))
		if strings.Contains(tc.Arguments, testKey) {
			t.Fatalf("the key in a tool call's arguments: %q", tc.Arguments)
		}
		if tc.Index < 0 {
			t.Fatalf("a tool call with index %d", tc.Index)
		}
	}
	if strings.Contains(c.Signature, testKey) {
		t.Fatalf("the key in the signature: %q", c.Signature)
	}
	for _, lp := range c.Logprobs {
		checkFuzzToken(t, lp.Token, lp.Bytes)
		for _, top := range lp.Top {
			checkFuzzToken(t, top.Token, top.Bytes)
		}
	}
}

// checkFuzzToken checks that a logprob's token carries the key neither in
// its text nor in its bytes (of which a number that is not a byte is
// none).
func checkFuzzToken(t *testing.T, token string, bytes []int) {
	t.Helper()
	b := make([]byte, len(bytes))
	for i, v := range bytes {
		if v >= 0 && v <= 0xff {
			b[i] = byte(v)
		}
	}
	if strings.Contains(token, testKey) || strings.Contains(string(b), testKey) {
		t.Fatalf("the key in a logprob's token: %q %v", token, bytes)
	}
}

// fuzzKeyBytes is testKey's bytes as a logprob's bytes list holds them.
var fuzzKeyBytes = strings.Trim(strings.Join(strings.Fields(fmt.Sprint([]byte(testKey))), ","), "[]")

// invalidBytes counts the bytes of b that are not part of a UTF-8 rune.
func invalidBytes(b []byte) int {
	n := 0
	for len(b) > 0 {
		r, w := utf8.DecodeRune(b)
		if r == utf8.RuneError && w == 1 {
			n++
		}
		b = b[w:]
	}
	return n
}

// FuzzOpenAIStream reads any body as an OpenAI-compatible streamed answer
// without Content-Type: sniffed, then read as events or as a whole answer.
func FuzzOpenAIStream(f *testing.F) {
	addFixtures(f, "stream_*.txt")
	addFixtures(f, "ok_*.txt")
	f.Add([]byte(`data: {"error":{"code":"` + strings.Repeat("sk-", 2000) + `","message":"x"}}` + "\n\n"))
	// Tool calls and logprobs, with the key in every place of theirs.
	f.Add([]byte(`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"` + testKey + `","type":"function",` +
		`"function":{"name":"` + testKey + `","arguments":"{\"k\":\"` + testKey + `\"}"}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"content":"` + testKey + `"},"logprobs":{"content":[{"token":"` + testKey + `","logprob":-1,` +
		`"bytes":[` + fuzzKeyBytes + `],"top_logprobs":[{"token":"` + testKey + `","logprob":-2,"bytes":[` + fuzzKeyBytes + `]}]}]},` +
		`"finish_reason":"tool_calls"}]}` + "\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkFuzzStream(t, in, readerStream(in, bodyUnknown, &openAIDecoder{key: testKey}, fuzzMaxAnswer))
	})
}

// FuzzOpenAIWhole reads any body as a whole (non-streamed) OpenAI answer,
// as a server that ignored "stream": true sends it with application/json.
func FuzzOpenAIWhole(f *testing.F) {
	addFixtures(f, "ok_*.txt")
	f.Add([]byte(`{"choices":[{"index":0,"message":{"content":"` + strings.Repeat("x", fuzzMaxAnswer+1) + `"}}]}`))
	f.Add([]byte(`{"choices":[{"index":0,"message":{"content":null,"tool_calls":[{"id":"c","type":"function",` +
		`"function":{"name":"f","arguments":"{\"k\":\"` + testKey + `\"}"}}]},"logprobs":{"content":[{"token":"` + testKey +
		`","logprob":-1,"bytes":[` + fuzzKeyBytes + `],"top_logprobs":[]}]},"finish_reason":"tool_calls"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkFuzzStream(t, in, readerStream(in, bodyJSON, &openAIDecoder{key: testKey}, fuzzMaxAnswer))
	})
}

// FuzzAnthropicStream reads any body as an Anthropic Messages answer
// without Content-Type.
func FuzzAnthropicStream(f *testing.F) {
	addFixtures(f, "anthropic_stream_*.txt")
	addFixtures(f, "anthropic_message_json.txt")
	f.Add([]byte(anthropicEvents(aStart, `{"type":"message_delta","delta":{"stop_reason":"`+
		strings.Repeat("\x1b[2J", 1000)+`"}}`)))
	// Tool calls and a signature, with the key in every place of theirs,
	// streamed and whole.
	f.Add([]byte(anthropicEvents(aStart,
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":"`+testKey+`"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"`+testKey+`"}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"`+testKey+`","name":"`+testKey+`","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"k\":\"`+testKey+`\"}"}}`,
		`{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
		aDelta("tool_use"), aStop)))
	f.Add([]byte(`{"id":"m","type":"message","content":[{"type":"thinking","thinking":"x","signature":"` + testKey + `"},` +
		`{"type":"tool_use","id":"` + testKey + `","name":"f","input":{"k":"` + testKey + `"}}],"stop_reason":"tool_use"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkFuzzStream(t, in, readerStream(in, bodyUnknown, &anthropicDecoder{key: testKey}, fuzzMaxAnswer))
	})
}

// FuzzErrorAnswer classifies any non-2xx answer (status, Location,
// Retry-After and body), as both clients do.
func FuzzErrorAnswer(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*error_*.txt"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if resp, body := splitFixture(f, b); resp.StatusCode >= 300 {
			f.Add(resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Retry-After"), body)
		}
	}
	f.Add(429, "", "7", []byte(`{"error":{"code":"`+strings.Repeat("sk-", 2000)+`"}}`))
	req, _ := http.NewRequest(http.MethodPost, "https://api.example.com/v1/chat/completions", nil)
	c := apiClient{key: testKey, now: func() time.Time { return clockBase }}
	f.Fuzz(func(t *testing.T, status int, location, retry string, body []byte) {
		status = 300 + int(uint(status)%300) // 3xx to 5xx: what statusError is given
		h := http.Header{}
		for k, v := range map[string]string{"Location": location, "Retry-After": retry} {
			if v != "" {
				h.Set(k, v)
			}
		}
		e := c.statusError(&http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: req})
		checkCleanError(t, e)
		switch {
		case e.Class == ClassOK || e.Class >= NumClasses:
			t.Fatalf("class %v for an error answer", e.Class)
		case e.Status != status:
			t.Fatalf("status %d, want %d", e.Status, status)
		case status < 400 && e.Class != ClassServer:
			t.Fatalf("a redirect classified as %v", e.Class)
		case e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter:
			t.Fatalf("retry after %v", e.RetryAfter)
		}
	})
}

// FuzzModelList reads any body as the answer of GET /models.
func FuzzModelList(f *testing.F) {
	addFixtures(f, "*models.txt")
	f.Add([]byte(`{"data":[{"id":"` + strings.Repeat("\x1b]0;x\x07", 500) + `"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ids, err := parseModels(in, testKey)
		if err != nil {
			checkCleanError(t, err)
			return
		}
		total := 0
		for _, id := range ids {
			if id == "" {
				t.Fatal("an empty id listed")
			}
			checkCleanText(t, id, maxName+len("…"))
			total += len(id)
		}
		if most := len(in) + 2*invalidBytes(in); total > most {
			t.Fatalf("%d bytes of ids from %d bytes of input", total, len(in))
		}
	})
}

// FuzzScrub checks scrubTo, which every upstream text passes: its result
// is bounded, printable and without the key, and cleaning only the start
// of a text gives what cleaning all of it would.
func FuzzScrub(f *testing.F) {
	for _, s := range []string{"plain words", "\x1b[31mred\x1b[0m", "sk-test-4f9c\x1b[0m2b7e1d8a6035",
		strings.Repeat(testKey, 100), "\xff\xfe" + testKey, "a\u202eb\u2069c", "\x1b]8;;x\x1b\\y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range []int{maxLabel, maxMessage} {
			got := scrubTo(s, testKey, n)
			checkCleanText(t, got, n+len("…"))
			if strings.HasPrefix(got, " ") || strings.HasSuffix(got, " ") || strings.Contains(got, "  ") {
				t.Fatalf("white space not made one: %q", got)
			}
			if want := Clip(redactKey(printable(s, math.MaxInt), testKey), n); got != want {
				t.Fatalf("scrubTo(%q, %d) = %q, cleaning all of it gives %q", s, n, got, want)
			}
		}
	})
}
