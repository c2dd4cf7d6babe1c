package provider

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// maxErrorText bounds the text of any *Error built from an upstream's
// answer, whatever the upstream sent: its message and labels are clipped,
// and the rest is ours.
const maxErrorText = 2048

// hostileText is what a broken or hostile upstream may put in any field it
// sends: the key (an echo of the request's headers), terminal escapes and
// line breaks (drawn on the dashboard, written to logs), a huge value.
var hostileText = map[string]string{
	"key":    "bad key " + testKey,
	"escape": "\x1b[2J\x1b]0;owned\x07\r\n2025/03/01 forged log line\u009b31m",
	"huge":   strings.Repeat("X", 256<<10),
}

// checkCleanError checks that err, an upstream's error, is an *Error that
// holds no key, no control character and no more than maxErrorText bytes.
func checkCleanError(t *testing.T, err error) {
	t.Helper()
	if classOf(t, err) == ClassOK {
		t.Fatalf("err = %v, want an *Error", err)
	}
	e := AsError(err)
	for _, text := range []string{e.Error(), e.Message} {
		checkCleanText(t, text, maxErrorText)
	}
}

// checkCleanText checks that text holds no key, no control character and
// at most n bytes.
func checkCleanText(t *testing.T, text string, n int) {
	t.Helper()
	switch {
	case strings.Contains(text, testKey):
		t.Errorf("the key leaked: %.200q", text)
	case len(text) > n:
		t.Errorf("%d bytes, want at most %d: %.200q", len(text), n, text)
	case strings.IndexFunc(text, controlRune) >= 0:
		t.Errorf("control character in %.200q", text)
	}
}

// TestUpstreamErrorTextIsCleaned puts hostile text in each field of an
// error object (code, type, message, OpenRouter's error_type), on both
// protocols, delivered in each way an error can come: inside a stream, as
// a whole 200 answer, as an error answer.
func TestUpstreamErrorTextIsCleaned(t *testing.T) {
	for _, p := range protocols {
		for _, field := range []string{"code", "type", "message", "error_type"} {
			for name, value := range hostileText {
				obj := map[string]any{"message": "m", "type": "server_error", "code": "c"}
				if field == "error_type" {
					obj["metadata"] = map[string]string{"error_type": value}
				} else {
					obj[field] = value
				}
				b, err := json.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				for delivery, h := range errorDeliveries(p.name, string(b)) {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", p.name, field, name, delivery), func(t *testing.T) {
						c, _ := serveTo(t, h, p.newClient)
						s, err := c.Stream(t.Context(), testRequest())
						if err == nil {
							defer s.Close()
							_, err = drain(t, s)
						}
						checkCleanError(t, err)
					})
				}
			}
		}
	}
}

// errorDeliveries are handlers that send the error object obj in each way
// protocol's upstreams send errors.
func errorDeliveries(protocol, obj string) map[string]http.HandlerFunc {
	whole := `{"error":` + obj + `}`
	streamed := contentChunk + "data: " + whole + "\n\n"
	event := contentChunk + "event: error\ndata: " + whole + "\n\n"
	if protocol == "anthropic" {
		whole = `{"type":"error","error":` + obj + `}`
		streamed = anthropicEvents(aStart, aTextBlock, aText) + "data: " + whole + "\n\n"
		event = anthropicEvents(aStart, aTextBlock, aText) + "event: error\ndata: " + whole + "\n\n"
	}
	return map[string]http.HandlerFunc{
		"streamed":    sseHandler([]byte(streamed)),
		"error event": sseHandler([]byte(event)),
		"whole": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(whole))
		},
		"error answer": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(whole))
		},
	}
}

// TestUpstreamChunkTextIsCleaned puts hostile text in the labels of an
// answer (id, model, finish reason) and the key in its content: the labels
// come out clean and short, the content without the key.
func TestUpstreamChunkTextIsCleaned(t *testing.T) {
	for name, value := range hostileText {
		v, _ := json.Marshal(value)
		key, _ := json.Marshal("echo: " + testKey + " :echo")
		openai := fmt.Sprintf(`data: {"id":%[1]s,"model":%[1]s,"choices":[{"index":0,"delta":{"content":%[2]s,"reasoning":%[2]s}}]}`+"\n\n"+
			`data: {"id":%[1]s,"model":%[1]s,"choices":[{"index":0,"delta":{},"finish_reason":%[1]s}]}`+"\n\ndata: [DONE]\n\n", v, key)
		anthropic := anthropicEvents(
			fmt.Sprintf(`{"type":"message_start","message":{"id":%[1]s,"type":"message","role":"assistant","model":%[1]s,"content":[]}}`, v),
			fmt.Sprintf(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":%s}}`, key),
			fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":%s}}`, key),
			fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%s}}`, v), aStop)
		for _, p := range protocols {
			t.Run(p.name+"/"+name, func(t *testing.T) {
				body := openai
				if p.name == "anthropic" {
					body = anthropic
				}
				c, _ := serveTo(t, sseHandler([]byte(body)), p.newClient)
				_, chunks, err := streamAll(t, c)
				if err != io.EOF {
					checkCleanError(t, err)
				}
				if len(chunks) == 0 {
					t.Fatalf("no chunks (%v)", err)
				}
				for _, ch := range chunks {
					checkCleanText(t, ch.FinishReason, maxLabel+len("…"))
					if strings.Contains(ch.Content+ch.Reasoning, testKey) {
						t.Errorf("the key leaked into the content: %q %q", ch.Content, ch.Reasoning)
					}
				}
			})
		}
	}
}

// TestListModelsIDsAreCleaned: model ids come out clean and short.
func TestListModelsIDsAreCleaned(t *testing.T) {
	ids := []string{"gpt-4o"}
	for _, v := range hostileText {
		ids = append(ids, v)
	}
	var list struct {
		Data []map[string]string `json:"data"`
	}
	for _, id := range ids {
		list.Data = append(list.Data, map[string]string{"id": id})
	}
	body, _ := json.Marshal(list)
	h := func(w http.ResponseWriter, r *http.Request) { w.Write(body) }
	c, _ := newTestClient(t, http.HandlerFunc(h), OpenAIOptions{})
	got, err := c.ListModels(t.Context())
	if err != nil || len(got) != len(ids) || got[0] != "gpt-4o" {
		t.Fatalf("ids %.300q, %v", got, err)
	}
	for _, id := range got {
		checkCleanText(t, id, maxName+len("…"))
	}
}

// controlRune reports whether r is a control character: C0, DEL or C1.
func controlRune(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }
