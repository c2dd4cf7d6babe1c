package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	okChat    = `{"id":"gen-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`
	okMessage = `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}`
	chunk     = `data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\n"
	chatEnd   = `data: {"object":"chat.completion.chunk","choices":[{"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
		`data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1}}` + "\n\n" + "data: [DONE]\n\n"
	msgStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
	msgEnd = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)

// answer is a canned answer: a status, a content type and a body.
type answer struct {
	status int
	ctype  string
	body   string
}

func (a answer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", a.ctype)
	w.WriteHeader(a.status)
	w.Write([]byte(a.body))
}

// Each shape of answer is counted as what it is, through a real loopback
// server.
func TestSendClassifies(t *testing.T) {
	const js, sse = "application/json", "text/event-stream"
	tests := []struct {
		name      string
		anthropic bool
		stream    bool
		h         http.Handler
		want      outcome
		errType   string
	}{
		{"whole chat", false, false, answer{200, js, okChat}, answered, ""},
		{"whole chat without finish", false, false, answer{200, js, strings.Replace(okChat, `"stop"`, `""`, 1)}, truncated, ""},
		{"whole chat cut", false, false, answer{200, js, okChat[:40]}, truncated, ""},
		{"whole message", true, false, answer{200, js, okMessage}, answered, ""},
		{"whole message, no stop reason", true, false, answer{200, js, strings.Replace(okMessage, `"end_turn"`, `null`, 1)}, truncated, ""},
		{"chat error", false, false, answer{502, js, `{"error":{"code":502,"message":"all failed","type":"provider_unavailable","param":null}}`}, cleanError, "provider_unavailable"},
		{"chat error, code not the status", false, true, answer{502, js, `{"error":{"code":500,"message":"x","type":"server"}}`}, truncated, ""},
		{"chat error in plain text", false, false, answer{431, "text/plain", "431 Request Header Fields Too Large"}, truncated, ""},
		{"message error", true, true, answer{503, js, `{"type":"error","error":{"type":"api_error","message":"none left"}}`}, cleanError, "api_error"},
		{"message error in chat's shape", true, false, answer{400, js, `{"error":{"code":400,"message":"x","type":"invalid_request"}}`}, truncated, ""},
		{"chat stream", false, true, answer{200, sse, ": keep-alive\n\n" + chunk + chunk + chatEnd}, answered, ""},
		{"chat stream with an error chunk", false, true, answer{200, sse, chunk +
			`data: {"object":"chat.completion.chunk","choices":[{"delta":{},"finish_reason":"error"}],"error":{"code":502,"message":"cut","type":"provider_unavailable"}}` + "\n\n" +
			"data: [DONE]\n\n"}, cleanError, "provider_unavailable"},
		{"chat stream cut", false, true, answer{200, sse, chunk + chunk}, truncated, ""},
		{"chat stream [DONE] without a finish", false, true, answer{200, sse, chunk + "data: [DONE]\n\n"}, truncated, ""},
		{"chat stream with an empty finish", false, true, answer{200, sse, strings.Replace(chatEnd, `"stop"`, `""`, 1)}, truncated, ""},
		{"chat stream with a broken chunk", false, true, answer{200, sse, chunk + "data: {\"object\n\n" + chatEnd}, truncated, ""},
		{"chat stream as JSON", false, true, answer{200, js, okChat}, truncated, ""},
		{"message stream", true, true, answer{200, sse, msgStart + "event: ping\ndata: {\"type\":\"ping\"}\n\n" + msgEnd}, answered, ""},
		{"message stream with an error event", true, true, answer{200, sse, msgStart +
			"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"cut\"}}\n\n"}, cleanError, "api_error"},
		{"message stream cut", true, true, answer{200, sse, msgStart}, truncated, ""},
		{"message stream, event name and type differ", true, true, answer{200, sse, strings.Replace(msgStart, "event: message_start", "event: ping", 1) + msgEnd}, truncated, ""},
		{"no answer at all", false, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}), lost, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			res := send(srv.Client(), srv.URL, &scenario{anthropic: tt.anthropic, stream: tt.stream, body: []byte(`{}`)}, time.Minute)
			if res.outcome != tt.want || res.errType != tt.errType {
				t.Errorf("got %s %q (%s), want %s %q", outcomeNames[res.outcome], res.errType, res.detail, outcomeNames[tt.want], tt.errType)
			}
		})
	}
}

// A stream the client cancels is canceled, not truncated; one that never
// ends is hung at the deadline. Both servers wait for the client to go,
// which they see once they have read the request's body.
func TestSendCancelsAndTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte(chunk + chunk))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	res := send(srv.Client(), srv.URL, &scenario{stream: true, cancelAfter: 2, body: []byte(`{}`)}, time.Minute)
	if res.outcome != canceled {
		t.Errorf("canceled after 2 deltas: got %s (%s)", outcomeNames[res.outcome], res.detail)
	}
	res = send(srv.Client(), srv.URL, &scenario{stream: true, body: []byte(`{}`)}, 200*time.Millisecond)
	if res.outcome != hung || !strings.Contains(res.detail, "no end within 200ms") {
		t.Errorf("a stream without end: got %s (%s)", outcomeNames[res.outcome], res.detail)
	}
	silent := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer silent.Close()
	res = send(silent.Client(), silent.URL, &scenario{body: []byte(`{}`)}, 200*time.Millisecond)
	if res.outcome != hung || !strings.Contains(res.detail, "no status within 200ms") {
		t.Errorf("no answer: got %s (%s)", outcomeNames[res.outcome], res.detail)
	}
}
