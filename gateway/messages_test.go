package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/routing"
	"switchboard/sim"
)

// anthropicAnswer mirrors Anthropic's message, with Switchboard's
// provider and trace, for a strict decode.
type anthropicAnswer struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Role    string `json:"role"`
	Model   string `json:"model"`
	Content []struct {
		Type      string          `json:"type"`
		Text      *string         `json:"text"`
		Thinking  *string         `json:"thinking"`
		Signature *string         `json:"signature"`
		ID        *string         `json:"id"`
		Name      *string         `json:"name"`
		Input     json.RawMessage `json:"input"`
	} `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        struct {
		InputTokens          int `json:"input_tokens"`
		OutputTokens         int `json:"output_tokens"`
		CacheReadInputTokens int `json:"cache_read_input_tokens"`
	} `json:"usage"`
	Provider string         `json:"provider"`
	Trace    *routing.Trace `json:"trace"`
}

// anthropicWireError is an error in Anthropic's shape, as a client reads it.
type anthropicWireError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	PreviousErrors []routing.PreviousError `json:"previous_errors"`
	Trace          *routing.Trace          `json:"trace"`
}

func strictDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func decodeAnthropicError(t *testing.T, resp *http.Response, body []byte, status int, typ string) anthropicWireError {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d (%s), want %d: %s", resp.StatusCode, resp.Header.Get("Content-Type"), status, body)
	}
	var e anthropicWireError
	strictDecode(t, body, &e)
	if e.Type != "error" || e.Error.Type != typ || e.Error.Message == "" {
		t.Errorf("error %s, want type %s", body, typ)
	}
	return e
}

func messagesBody(stream bool) map[string]any {
	return map[string]any{"model": testModel, "stream": stream, "max_tokens": 8,
		"messages": []map[string]any{{"role": "user", "content": "Say hello."}}}
}

// sseEvents is a Messages stream taken apart: each event's name and data.
type sseEvents struct {
	names []string
	data  []map[string]any
	text  string
}

func readEvents(t *testing.T, resp *http.Response, body []byte) sseEvents {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var s sseEvents
	for _, ev := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		name, data, ok := strings.Cut(ev, "\n")
		name, nok := strings.CutPrefix(name, "event: ")
		data, dok := strings.CutPrefix(data, "data: ")
		if !ok || !nok || !dok {
			t.Fatalf("not an event: %q", ev)
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(data), &d); err != nil || d["type"] != name {
			t.Fatalf("event %s data %s (%v)", name, data, err)
		}
		s.names, s.data = append(s.names, name), append(s.data, d)
		if delta, ok := d["delta"].(map[string]any); ok && delta["type"] == "text_delta" {
			s.text += delta["text"].(string)
		}
	}
	return s
}

// An Anthropic client is served by OpenAI-protocol upstreams: a whole
// message in Anthropic's shape, and the same answer streamed as
// Anthropic's events.
func TestMessagesAnswerAndStreamInAnthropicsShape(t *testing.T) {
	routed := make(chan *routing.Trace, 2)
	f := newFixture(t, Options{Routed: func(t *routing.Trace) { routed <- t }},
		map[string]upstream{"cheap": {profile: &sim.Profile{}, price: 1}, "dear": {profile: &sim.Profile{}, price: 50}})
	resp, body := f.post(t, "/v1/messages", messagesBody(false))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var a anthropicAnswer
	strictDecode(t, body, &a)
	if !strings.HasPrefix(a.ID, "msg_") || a.Type != "message" || a.Role != "assistant" || a.Model != testModel || a.Provider != "cheap" {
		t.Errorf("answer %s", body)
	}
	if len(a.Content) != 1 || a.Content[0].Type != "text" || a.Content[0].Text == nil || *a.Content[0].Text == "" {
		t.Fatalf("content %s", body)
	}
	if a.StopReason == nil || *a.StopReason != "max_tokens" || a.StopSequence != nil || a.Usage.OutputTokens != 8 || a.Usage.InputTokens == 0 {
		t.Errorf("stop %v, usage %+v (max_tokens 8 cuts the answer)", a.StopReason, a.Usage)
	}
	if a.Trace == nil || resp.Header.Get("X-Switchboard-Provider") != "cheap" || resp.Header.Get("X-Switchboard-Attempts") != "1" {
		t.Errorf("trace %+v, headers %v", a.Trace, resp.Header)
	}
	if tr := <-routed; tr.Served != testModel+"@cheap" {
		t.Errorf("Routed was given %+v", tr)
	}

	resp, sbody := f.post(t, "/v1/messages", messagesBody(true))
	s := readEvents(t, resp, sbody)
	want := []string{"message_start", "content_block_start"}
	for range len(s.names) - 5 {
		want = append(want, "content_block_delta")
	}
	want = append(want, "content_block_stop", "message_delta", "message_stop")
	if strings.Join(s.names, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", s.names, want)
	}
	if s.text != *a.Content[0].Text {
		t.Errorf("streamed %q; the whole answer was %q", s.text, *a.Content[0].Text)
	}
	md := s.data[len(s.data)-2]
	if d := md["delta"].(map[string]any); d["stop_reason"] != "max_tokens" || md["usage"].(map[string]any)["output_tokens"] != 8.0 {
		t.Errorf("message_delta %v", md)
	}
	if m := s.data[0]["message"].(map[string]any); m["model"] != testModel || m["role"] != "assistant" || !strings.HasPrefix(m["id"].(string), "msg_") {
		t.Errorf("message_start %v", s.data[0])
	}
	<-routed
	_, m := f.get(t, "/metrics")
	if !strings.Contains(string(m), `stream="true"`) || !strings.Contains(string(m), `stream="false"`) {
		t.Errorf("metrics do not count the messages requests:\n%s", grep(string(m), "requests_total"))
	}
}

// system goes upstream as the first message; stop_sequences, top_p and
// top_k as OpenAI's parameters.
func TestMessagesLiftsSystemAndParametersUpstream(t *testing.T) {
	up, got := capturingUpstream(t)
	f := newFixture(t, Options{}, map[string]upstream{"capture": {url: up.URL, price: 1}})
	req := messagesBody(false)
	req["system"] = []map[string]any{{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}}
	req["stop_sequences"] = []string{"END"}
	req["metadata"] = map[string]any{"user_id": "u-1"}
	req["top_p"], req["top_k"] = 0.5, 40
	resp, b := f.post(t, "/v1/messages", req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	body := <-got
	var msgs []struct{ Role, Content string }
	if err := json.Unmarshal(body["messages"], &msgs); err != nil || len(msgs) != 2 ||
		msgs[0].Role != "system" || msgs[0].Content != "Be brief." || msgs[1].Role != "user" {
		t.Errorf("upstream messages %s (%v)", body["messages"], err)
	}
	for k, v := range map[string]string{"stop": `["END"]`, "top_p": "0.5", "top_k": "40"} {
		if string(body[k]) != v {
			t.Errorf("upstream %s = %s, want %s", k, body[k], v)
		}
	}
	// metadata.user_id is the router's Request.User, which the provider
	// client sends in OpenAI's user field: never anything else there.
	if u := body["user"]; string(u) != `"u-1"` {
		t.Errorf("upstream user = %s, want \"u-1\"", u)
	}
	for _, k := range []string{"system", "stop_sequences", "metadata"} {
		if _, ok := body[k]; ok {
			t.Errorf("upstream got Anthropic's %s", k)
		}
	}
}

func TestMessagesRefusesBadInputInAnthropicsShape(t *testing.T) {
	f := fastFixture(t, Options{})
	noMax := messagesBody(false)
	delete(noMax, "max_tokens")
	image := messagesBody(false)
	image["messages"] = []map[string]any{{"role": "user", "content": []map[string]any{
		{"type": "text", "text": "What is it?"}, {"type": "image", "source": map[string]any{"type": "base64"}}}}}
	tools := messagesBody(false)
	tools["tools"] = []map[string]any{{"type": "web_search_20250305", "name": "web_search"}}
	document := messagesBody(false)
	document["messages"] = []map[string]any{{"role": "user", "content": []map[string]any{
		{"type": "text", "text": "Sum it up."}, {"type": "document", "source": map[string]any{"type": "text", "data": "..."}}}}}
	system := messagesBody(false)
	system["messages"] = []map[string]any{{"role": "system", "content": "hi"}}
	for name, c := range map[string]struct {
		body any
		msg  string
	}{
		"max_tokens missing": {noMax, "max_tokens is missing"},
		"an image block":     {image, `messages[0].content[1].source.media_type is ""`},
		"a server tool":      {tools, `tools[0] is Anthropic's server tool "web_search_20250305": Switchboard carries client tools only`},
		"a document block":   {document, `messages[0].content[1] is a block of type "document"`},
		"a system message":   {system, `messages[0].role is "system"`},
		"broken JSON":        {`{"model":`, "not valid JSON at line 1"},
	} {
		resp, b := f.post(t, "/v1/messages", c.body)
		e := decodeAnthropicError(t, resp, b, http.StatusBadRequest, "invalid_request_error")
		if !strings.Contains(e.Error.Message, c.msg) {
			t.Errorf("%s: message %q, want %q", name, e.Error.Message, c.msg)
		}
	}
	resp, b := f.get(t, "/v1/messages")
	decodeAnthropicError(t, resp, b, http.StatusMethodNotAllowed, "invalid_request_error")
}

// Before content, a failure is an HTTP error in Anthropic's shape with
// Switchboard's previous errors; after it, an error event ends the stream.
func TestMessagesFailures(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"one": {profile: &sim.Profile{ErrorRate: 1, ErrorStatuses: []int{503}}, price: 1},
		"two": {profile: &sim.Profile{ErrorRate: 1, ErrorStatuses: []int{503}}, price: 2}})
	for i, streaming := range []bool{true, false} {
		resp, body := f.post(t, "/v1/messages", messagesBody(streaming))
		e := decodeAnthropicError(t, resp, body, http.StatusBadGateway, "api_error")
		// Each provider twice (a second round), then once: a third failure
		// in a row opened their breakers.
		if len(e.PreviousErrors) != 4-2*i || e.Trace == nil {
			t.Errorf("stream %v: %s", streaming, body)
		}
	}

	f = newFixture(t, Options{}, map[string]upstream{"cuts": {profile: &sim.Profile{CutRate: 1}, price: 1}})
	req := messagesBody(true)
	req["max_tokens"] = 200
	resp, body := f.post(t, "/v1/messages", req)
	s := readEvents(t, resp, body)
	last := len(s.names) - 1
	if s.text == "" || s.names[0] != "message_start" || s.names[last] != "error" || strings.Contains(string(body), "message_stop") {
		t.Fatalf("events %v", s.names)
	}
	if e := s.data[last]["error"].(map[string]any); e["type"] != "api_error" || e["message"] == "" {
		t.Errorf("error event %v", s.data[last])
	}
}

// Waiting for a slow first token, the stream opens and pings.
func TestMessagesPingWhileWaitingForTheFirstToken(t *testing.T) {
	slow := sim.Profile{TTFT: sim.Latency{P50: 400 * time.Millisecond, P95: 400 * time.Millisecond}}
	f := newFixture(t, Options{KeepAlive: 20 * time.Millisecond}, map[string]upstream{"slow": {profile: &slow, price: 1}})
	resp, body := f.post(t, "/v1/messages", messagesBody(true))
	s := readEvents(t, resp, body)
	i := 0
	for i < len(s.names) && s.names[i] == "ping" {
		i++
	}
	if i == 0 || s.names[i] != "message_start" || s.text == "" || s.names[len(s.names)-1] != "message_stop" {
		t.Errorf("events %v", s.names)
	}
}

func TestMessagesTakeTheKeyInXAPIKey(t *testing.T) {
	f := fastFixture(t, Options{Keys: []string{"k1"}})
	resp, b := f.post(t, "/v1/messages", messagesBody(false))
	decodeAnthropicError(t, resp, b, http.StatusUnauthorized, "authentication_error")
	resp, b = f.post(t, "/v1/messages", messagesBody(false), "x-api-key", "k2")
	decodeAnthropicError(t, resp, b, http.StatusUnauthorized, "authentication_error")
	if resp, b := f.post(t, "/v1/messages", messagesBody(false), "x-api-key", "k1"); resp.StatusCode != http.StatusOK {
		t.Errorf("with x-api-key: status %d: %s", resp.StatusCode, b)
	}
	if resp, b := f.post(t, "/v1/chat/completions", chatBody(false), "x-api-key", "k1"); resp.StatusCode != http.StatusOK {
		t.Errorf("chat with x-api-key: status %d: %s", resp.StatusCode, b)
	}
}

// A reasoning model's thinking comes first, as a thinking block.
func TestMessagesAnswerCarriesThinking(t *testing.T) {
	f := newFixture(t, Options{}, map[string]upstream{"thinker": {profile: &sim.Profile{ReasoningTokens: 6}, price: 1}})
	resp, body := f.post(t, "/v1/messages", messagesBody(false))
	var a anthropicAnswer
	strictDecode(t, body, &a)
	if resp.StatusCode != 200 || len(a.Content) != 2 || a.Content[0].Type != "thinking" || a.Content[0].Thinking == nil ||
		len(strings.Fields(*a.Content[0].Thinking)) != 6 || a.Content[0].Signature == nil || a.Content[1].Type != "text" {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
}
