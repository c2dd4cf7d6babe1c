package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// hostile is a loopback upstream that tries every way we know of to make a
// provider's key leave Switchboard: it echoes the key it was sent in error
// messages, types and codes, in and out of streams, in a megabyte-long
// code, in a redirect's Location, and in bytes past its Content-Length
// (which make net/http log what it got). Its base URL is
// base(mode, protocol); every request to the thief, where its redirects
// point, is counted.
type hostile struct {
	srv, thief *httptest.Server
	stolen     atomic.Int64 // requests the thief received: redirects followed
	probed     chan string  // modes whose GET /models came, once each
	seen       map[string]*atomic.Bool
}

// The modes of a hostile upstream.
var hostileModes = []string{"echo", "inband", "hugecode", "redirect", "unsolicited"}

func newHostile(t *testing.T) *hostile {
	t.Helper()
	h := &hostile{probed: make(chan string, 64), seen: map[string]*atomic.Bool{}}
	for _, m := range hostileModes {
		h.seen[m] = &atomic.Bool{}
	}
	h.thief = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.stolen.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data":[{"id":"m"}],"choices":[{"message":{"content":"stolen"},"finish_reason":"stop"}]}`)
	}))
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.srv.Close()
		h.thief.Close()
	})
	return h
}

// base is the base URL of a provider that behaves as mode in protocol.
func (h *hostile) base(mode, protocol string) string {
	return h.srv.URL + "/" + mode + "/" + protocol + "/v1"
}

func (h *hostile) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 4) // mode, protocol, "v1", rest
	if len(parts) < 4 {
		http.NotFound(w, r)
		return
	}
	mode, anthropic, rest := parts[0], parts[1] == "anthropic", parts[3]
	key := r.Header.Get("X-Api-Key")
	if key == "" {
		key = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if rest == "models" && r.Method == http.MethodGet {
		if seen, ok := h.seen[mode]; ok && !seen.Swap(true) {
			h.probed <- mode
		}
	}
	switch mode {
	case "echo": // a 401 that repeats the key everywhere it can
		if anthropic {
			answerJSON(w, http.StatusUnauthorized, map[string]any{"type": "error",
				"error": map[string]any{"type": key, "message": "invalid x-api-key " + key}})
			return
		}
		answerJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"message": "Incorrect API key provided: " + key, "type": key, "code": key, "param": key}})
	case "hugecode": // a 200 whose error code is two megabytes, the key at both ends
		code := key + strings.Repeat("x", 2<<20) + key
		if rest == "models" {
			answerJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"code": code, "message": key}})
			return
		}
		if anthropic {
			answerJSON(w, http.StatusOK, map[string]any{"type": "error", "error": map[string]any{"type": code, "message": key}})
			return
		}
		answerJSON(w, http.StatusOK, map[string]any{"error": map[string]any{"code": code, "message": key,
			"metadata": map[string]any{"error_type": key}}})
	case "redirect": // elsewhere, with the key in the path and the query
		http.Redirect(w, r, h.thief.URL+"/steal/"+key+"?key="+key, http.StatusTemporaryRedirect)
	case "inband": // a token, then an error inside the 200 stream that names the key
		if rest == "models" {
			answerJSON(w, http.StatusOK, map[string]any{"data": []map[string]any{{"id": "m"}}})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		if anthropic {
			fmt.Fprint(w, `event: message_start`+"\n"+`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}`+"\n\n")
			fmt.Fprint(w, `event: content_block_start`+"\n"+`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n")
			fmt.Fprint(w, `event: content_block_delta`+"\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`+"\n\n")
			ev, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": key, "message": "failed for " + key}})
			fmt.Fprintf(w, "event: error\ndata: %s\n\n", ev)
			return
		}
		// The token tries to retitle the window and clear the screen.
		fmt.Fprint(w, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello \u001b]0;pwned\u0007\u001b[2J"},"finish_reason":null}]}`+"\n\n")
		ev, _ := json.Marshal(map[string]any{"error": map[string]any{"code": key, "message": "failed for " + key,
			"metadata": map[string]any{"error_type": key}}})
		fmt.Fprintf(w, "data: %s\n\n", ev)
	case "unsolicited": // a whole answer, then bytes past it that repeat the request's headers
		h.unsolicited(w, r, anthropic)
	default:
		http.NotFound(w, r)
	}
}

// unsolicited answers with a whole, valid answer of a given Content-Length
// and then writes more: an HTTP response that repeats the request's
// headers, key included. net/http's client logs bytes that arrive on an
// idle connection, quoting them.
func (h *hostile) unsolicited(w http.ResponseWriter, r *http.Request, anthropic bool) {
	body := `{"data":[{"id":"m"}]}`
	if r.Method == http.MethodPost {
		body = `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":3}}`
		if anthropic {
			body = `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hello there."}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":3}}`
		}
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	var echo strings.Builder
	r.Header.Write(&echo)
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\n%s\r\n", echo.String())
	buf.Flush()
	// Keep the connection until the client drops it, so that the extra
	// bytes are read on an idle connection.
	bufio.NewReader(conn).ReadByte()
}

func answerJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
