package sim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// apis are both APIs, for the faults that each must show alike.
var apis = []struct {
	name string
	api
}{{"openai", openAIAPI}, {"anthropic", anthropicAPI}}

// withMessages is a's minimal request with these messages, as (role,
// text) pairs.
func withMessages(a api, stream bool, msgs ...string) map[string]any {
	body := a.body(stream)
	var list []map[string]any
	for i := 0; i+1 < len(msgs); i += 2 {
		list = append(list, map[string]any{"role": msgs[i], "content": msgs[i+1]})
	}
	body["messages"] = list
	return body
}

// heard is what a client made of a stream of either API, read leniently:
// the answer's text, whether the stream ended with its finish, and the
// data lines that were no JSON at all.
type heard struct {
	text     string
	finished bool
	garbage  []string
	err      error // how reading ended
}

func hear(t *testing.T, got sseRead) heard {
	t.Helper()
	h := heard{err: got.err}
	for _, d := range got.data {
		if d == "[DONE]" {
			h.finished = true
			continue
		}
		var ev struct {
			Type    string
			Choices []struct {
				Delta struct{ Content *string }
			}
			Delta *struct{ Type, Text string }
		}
		if json.Unmarshal([]byte(d), &ev) != nil {
			h.garbage = append(h.garbage, d)
			continue
		}
		for _, c := range ev.Choices {
			if c.Delta.Content != nil {
				h.text += *c.Delta.Content
			}
		}
		if ev.Type == "content_block_delta" && ev.Delta != nil && ev.Delta.Type == "text_delta" {
			h.text += ev.Delta.Text
		}
		h.finished = h.finished || ev.Type == "message_stop"
	}
	return h
}

// streamOf opens a stream of body through a and hears it to its end.
func streamOf(t *testing.T, a api, c *http.Client, s *Server, body any) heard {
	t.Helper()
	return hear(t, readSSE(a.open(t.Context(), t, c, s, body).Body))
}

// wholeText is the text of a whole (non-streamed) answer of either API.
func wholeText(t *testing.T, a api, c *http.Client, s *Server, body any) string {
	t.Helper()
	resp, err := a.post(t.Context(), t, c, s, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	expectAnswer(t, resp, http.StatusOK, "application/json")
	var w struct {
		Choices []struct{ Message struct{ Content string } }
		Content []struct{ Type, Text string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&w); err != nil {
		t.Fatal(err)
	}
	var text string
	for _, c := range w.Choices {
		text += c.Message.Content
	}
	for _, b := range w.Content {
		if b.Type == "text" {
			text += b.Text
		}
	}
	return text
}

// faultServer starts a server of p with one fault on for every request:
// forced as mode, or else by the profile, which byProfile changes.
func faultServer(t *testing.T, p Profile, forced bool, mode Mode, byProfile func(*Profile)) *Server {
	t.Helper()
	if !forced {
		byProfile(&p)
	}
	s := startServer(t, p, Options{})
	if forced {
		s.SetMode(mode)
	}
	return s
}

// TestRateLimitedShort: a 429 with a short Retry-After, a 429 again for a
// request inside it (with what is left of it), an answer for the first one
// after it, and a 429 again for the next: every fresh request is limited
// once. The clock is the server's, moved by the test.
func TestRateLimitedShort(t *testing.T) {
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			clock := newFakeClock()
			s := startServer(t, fastProfile("groq"), Options{Now: clock.Now})
			c := newClient(t)
			s.SetMode(ModeRateLimitedShort)
			try := func(wantStatus int, wantRetry string) {
				t.Helper()
				resp, err := a.post(t.Context(), t, c, s, a.body(true))
				if err != nil {
					t.Fatal(err)
				}
				if ra := resp.Header.Get("Retry-After"); resp.StatusCode != wantStatus || ra != wantRetry {
					t.Errorf("status %d, Retry-After %q; want %d, %q", resp.StatusCode, ra, wantStatus, wantRetry)
				}
				if wantStatus == http.StatusOK {
					if h := hear(t, readSSE(resp.Body)); !h.finished {
						t.Error("the answer after the wait did not finish")
					}
				}
				drain(resp)
			}
			try(http.StatusTooManyRequests, "2")
			clock.Advance(500 * time.Millisecond)
			try(http.StatusTooManyRequests, "2") // 1.5s left, rounded up
			clock.Advance(time.Second)
			try(http.StatusTooManyRequests, "1") // 0.5s left
			clock.Advance(500 * time.Millisecond)
			try(http.StatusOK, "")
			try(http.StatusTooManyRequests, "2") // a fresh request: a new wait
			s.SetMode(ModeNormal)
			try(http.StatusOK, "")
			s.SetMode(ModeRateLimitedShort) // a mode set again starts with a 429
			try(http.StatusTooManyRequests, "2")
			if st := s.Stats(); st.RateLimited != 5 || st.OK != 2 {
				t.Errorf("stats = %+v, want 5 rate limited, 2 ok", st)
			}
		})
	}
}

// TestSlowStart: the first token comes after the slow start, by the rate
// or forced, and the default is far past the profile's normal.
func TestSlowStart(t *testing.T) {
	const late = 60 * time.Millisecond
	for _, a := range apis {
		for _, forced := range []bool{false, true} {
			p := fastProfile("cerebras")
			p.SlowStart = late
			s := faultServer(t, p, forced, ModeSlowStart, func(p *Profile) { p.SlowStartRate = 1 })
			c := newClient(t)
			start := time.Now()
			if h := streamOf(t, a.api, c, s, a.body(true)); !h.finished {
				t.Errorf("%s: a slow start did not finish", a.name)
			}
			// Only a lower bound: a loaded machine may always be slower.
			if elapsed := time.Since(start); elapsed < late {
				t.Errorf("%s (forced %v): answered in %v, want at least the %v slow start", a.name, forced, elapsed, late)
			}
		}
	}
	for _, tt := range []struct {
		l    Latency
		want time.Duration
	}{
		{Latency{P50: 100 * time.Millisecond, P95: 300 * time.Millisecond}, minSlowStart},
		{Latency{P50: 700 * time.Millisecond, P95: 2 * time.Second}, 16 * time.Second},
		{Latency{P50: 2 * time.Second}, 16 * time.Second},
	} {
		if got := slowStartOf(tt.l); got != tt.want {
			t.Errorf("slowStartOf(%+v) = %v, want %v", tt.l, got, tt.want)
		}
	}
}

// TestSilentClose: the request is read, held, and its connection closed
// with nothing written, streamed or not, by the rate or forced.
func TestSilentClose(t *testing.T) {
	const hold = 30 * time.Millisecond
	for _, a := range apis {
		for _, forced := range []bool{false, true} {
			p := fastProfile("fireworks")
			p.SilentClose = hold
			s := faultServer(t, p, forced, ModeSilentClose, func(p *Profile) { p.SilentCloseRate = 1 })
			c := newClient(t)
			for _, stream := range []bool{false, true} {
				start := time.Now()
				resp, err := a.post(t.Context(), t, c, s, a.body(stream))
				if err == nil {
					resp.Body.Close()
					t.Fatalf("%s: got status %d, want the connection closed with no answer", a.name, resp.StatusCode)
				}
				if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
					t.Errorf("%s: error %v, want EOF or a reset", a.name, err)
				}
				if elapsed := time.Since(start); elapsed < hold {
					t.Errorf("%s: closed after %v, want at least %v", a.name, elapsed, hold)
				}
			}
			if st := s.Stats(); st.SilentClosed != 2 || st.Requests != 2 {
				t.Errorf("%s: stats = %+v, want 2 silently closed", a.name, st)
			}
		}
	}
}

// TestCutThenContinue: a stream cut mid-answer, then the same conversation
// with the cut text as the assistant's prefill, gives the rest: cut text
// plus continuation is the whole answer the simulator gives when nothing
// breaks, byte for byte, in both APIs. A prefill that ends inside a word
// is continued from there; one that is not a start of the answer still
// gets an answer.
func TestCutThenContinue(t *testing.T) {
	const prompt = "Tell me about routing."
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			s := startServer(t, fastProfile("together"), Options{})
			c := newClient(t)
			whole := wholeText(t, a.api, c, s, withMessages(a.api, false, "user", prompt))

			s.SetMode(ModeCut)
			cut := streamOf(t, a.api, c, s, withMessages(a.api, true, "user", prompt))
			if cut.finished || cut.text == "" || !strings.HasPrefix(whole, cut.text) || cut.text == whole {
				t.Fatalf("cut stream: finished %v, text %q; want a start of %q", cut.finished, cut.text, whole)
			}
			rest := streamOf(t, a.api, c, s, withMessages(a.api, true, "user", prompt, "assistant", cut.text))
			if !rest.finished || cut.text+rest.text != whole {
				t.Errorf("continuation: finished %v, cut %q + rest %q; want %q", rest.finished, cut.text, rest.text, whole)
			}

			s.SetMode(ModeNormal)
			mid := len(whole) / 2
			if got := wholeText(t, a.api, c, s, withMessages(a.api, false, "user", prompt, "assistant", whole[:mid])); whole[:mid]+got != whole {
				t.Errorf("prefill %q continued with %q; want %q", whole[:mid], got, whole[mid:])
			}
			if got := wholeText(t, a.api, c, s, withMessages(a.api, false, "user", prompt, "assistant", "Something else")); got == "" {
				t.Error("a prefill that is not a start of the answer got no answer")
			}
			if st := s.Stats(); st.Cut != 1 || st.Prefills != 3 || st.OK != 4 {
				t.Errorf("stats = %+v, want 1 cut, 3 prefills, 4 ok", st)
			}
		})
	}
}

// TestRefusedPrefill: a provider without prefill support refuses a
// conversation that ends with the assistant's text with a 400 that says
// so, in either API, by the profile or forced; others it answers.
func TestRefusedPrefill(t *testing.T) {
	for _, a := range apis {
		for _, forced := range []bool{false, true} {
			s := faultServer(t, fastProfile("bedrock"), forced, ModeNoPrefill, func(p *Profile) { p.RefusePrefill = true })
			c := newClient(t)
			for _, stream := range []bool{false, true} {
				resp, err := a.post(t.Context(), t, c, s, withMessages(a.api, stream, "user", "hi", "assistant", "Hello"))
				if err != nil {
					t.Fatal(err)
				}
				var msg string
				if a.name == "anthropic" {
					msg = expectAnthropicError(t, resp, http.StatusBadRequest, "invalid_request_error")
				} else {
					msg = expectError(t, resp, http.StatusBadRequest, "invalid_request_error", "").Error.Message
				}
				if !strings.Contains(msg, "prefill") {
					t.Errorf("%s: refusal %q does not name the prefill", a.name, msg)
				}
			}
			if h := streamOf(t, a.api, c, s, withMessages(a.api, true, "user", "hi")); !h.finished {
				t.Errorf("%s: a conversation ending with the user was not answered", a.name)
			}
			if st := s.Stats(); st.Rejected != 2 || st.Prefills != 2 || st.OK != 1 {
				t.Errorf("%s: stats = %+v", a.name, st)
			}
		}
	}
}

// TestMalformedEvent: one garbage event mid-answer, beside the answer's
// own events: the rest of the stream is the whole answer, finished, in
// both APIs, by the rate or forced.
func TestMalformedEvent(t *testing.T) {
	for _, a := range apis {
		for _, forced := range []bool{false, true} {
			// The whole answer is a JSON one, which has no events to garble.
			s := faultServer(t, fastProfile("deepinfra"), forced, ModeMalformed, func(p *Profile) { p.MalformedRate = 1 })
			c := newClient(t)
			whole := wholeText(t, a.api, c, s, a.body(false))
			got := readSSE(a.open(t.Context(), t, c, s, a.body(true)).Body)
			h := hear(t, got)
			if len(h.garbage) != 1 || strings.Contains(h.garbage[0], "{") {
				t.Errorf("%s: garbage lines %q, want one without JSON", a.name, h.garbage)
			}
			if !h.finished || h.text != whole {
				t.Errorf("%s: finished %v, text %q; want the whole %q", a.name, h.finished, h.text, whole)
			}
			// Mid-answer: text before it and after it.
			at := slices.Index(got.data, h.garbage[0])
			before := hear(t, sseRead{data: got.data[:at]})
			if before.text == "" || before.text == whole {
				t.Errorf("%s: the garbage came after %q of %q; want mid-answer", a.name, before.text, whole)
			}
			if st := s.Stats(); st.Garbled != 1 || st.OK != 2 {
				t.Errorf("%s: stats = %+v", a.name, st)
			}
		}
	}
}

// TestStartMode: a profile's mode is in force from the start.
func TestStartMode(t *testing.T) {
	p := fastProfile("novita")
	p.Mode = ModeDown
	s := startServer(t, p, Options{})
	if s.Mode() != ModeDown {
		t.Fatalf("mode = %v, want down", s.Mode())
	}
	if got := status(t, newClient(t), s, chatBody("hi", false)); got != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", got)
	}
}

// TestContinueCapped: a continuation's max_tokens counts only what it
// generates, as with real providers: the rest of an answer capped at 10
// tokens comes whole from a continuation capped at the tokens left, and
// one with room goes on past the cap to the uncapped answer's end.
func TestContinueCapped(t *testing.T) {
	const prompt = "Tell me about fallbacks."
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			s := startServer(t, fastProfile("novita"), Options{})
			c := newClient(t)
			capped := func(n int, msgs ...string) map[string]any {
				body := withMessages(a.api, false, msgs...)
				body["max_tokens"] = n
				return body
			}
			whole := wholeText(t, a.api, c, s, capped(1000, "user", prompt))
			ten := wholeText(t, a.api, c, s, capped(10, "user", prompt))
			if !strings.HasPrefix(whole, ten) || ten == whole {
				t.Fatalf("the capped answer %q is not a start of the whole %q", ten, whole)
			}
			prefill := ten[:len(ten)/2] // may end inside a word
			rest := ten[len(prefill):]
			if got := wholeText(t, a.api, c, s, capped(len(strings.Fields(rest)), "user", prompt, "assistant", prefill)); got != rest {
				t.Errorf("capped continuation %q, want %q", got, rest)
			}
			if got := wholeText(t, a.api, c, s, capped(1000, "user", prompt, "assistant", prefill)); prefill+got != whole {
				t.Errorf("continuation %q, want %q", got, whole[len(prefill):])
			}
		})
	}
}

// TestStreamError: an error event mid-answer, the status already 200, in
// each API's words (OpenRouter's error chunk, Anthropic's overloaded
// error event), with text before it and nothing after; a request that
// does not stream gets an error status instead. By the rate or forced.
func TestStreamError(t *testing.T) {
	for _, a := range apis {
		for _, forced := range []bool{false, true} {
			s := faultServer(t, fastProfile("together"), forced, ModeStreamError, func(p *Profile) { p.StreamErrorRate = 1 })
			c := newClient(t)
			resp, err := a.post(t.Context(), t, c, s, a.body(false))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("%s: a whole answer got %d, want 502", a.name, resp.StatusCode)
			}
			drain(resp)
			got := readSSE(a.open(t.Context(), t, c, s, a.body(true)).Body)
			last := got.data[len(got.data)-1]
			var ev struct {
				Type    string
				Choices []struct {
					FinishReason string `json:"finish_reason"`
				}
				Error struct {
					Type    string
					Code    int
					Message string
				}
			}
			if err := json.Unmarshal([]byte(last), &ev); err != nil {
				t.Fatalf("%s: the last event %q: %v", a.name, last, err)
			}
			isErr := ev.Error.Code == http.StatusBadGateway && len(ev.Choices) == 1 && ev.Choices[0].FinishReason == "error"
			if a.name == "anthropic" {
				isErr = ev.Type == "error" && ev.Error.Type == "overloaded_error"
			}
			if before := hear(t, sseRead{data: got.data[:len(got.data)-1]}); !isErr || before.text == "" || before.finished {
				t.Errorf("%s: the stream ended with %s after %q (finished %v); want an error event mid-answer", a.name, last, before.text, before.finished)
			}
			if st := s.Stats(); st.Errored != 2 || st.OK != 0 {
				t.Errorf("%s: stats = %+v", a.name, st)
			}
		}
	}
}
