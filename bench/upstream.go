package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// sentence is what every answer says, over and over for answers of more
// than its twenty words.
const sentence = "Switchboard measures its overhead against the floor of a bare reverse proxy, and this sentence is exactly twenty words long."

// answerWords are the content chunks of every answer, one word a chunk:
// twenty by default (-words), as many content events as a short real
// reply; a long reply has hundreds.
var answerWords = wordsOf(20)

// answer is every answer's whole content, the words joined as the chunks
// carry them.
var answer = strings.Join(answerWords, " ")

// wordsOf is the sentence said again and again up to n words.
func wordsOf(n int) []string {
	one := strings.Fields(sentence)
	words := make([]string, n)
	for i := range words {
		words[i] = one[i%len(one)]
	}
	return words
}

// setAnswer makes every answer n words long, in the harness and in its
// upstream child alike.
func setAnswer(n int) {
	answerWords = wordsOf(n)
	answer = strings.Join(answerWords, " ")
}

// upstreamModel is the model id the mock answers as.
const upstreamModel = "bench-model"

// mockBodies are the mock upstream's answers, encoded once: the floor must
// cost as little as the machine allows, so no request encodes anything.
type mockBodies struct {
	json   []byte   // the whole stream:false answer
	events [][]byte // the stream:true answer, one SSE event each, [DONE] last
}

// chunk is one chat.completion.chunk, in the shape OpenAI streams it.
type chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *usage        `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int     `json:"index"`
	Delta        delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type delta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// completion is a whole chat.completion, in the shape OpenAI answers it.
type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   usage              `json:"usage"`
}

type completionChoice struct {
	Index        int     `json:"index"`
	Message      delta   `json:"message"`
	FinishReason *string `json:"finish_reason"`
}

// newMockBodies encodes the answers: twenty content chunks, then one with
// the finish reason, then one with the usage and no choices (what OpenAI
// sends for stream_options.include_usage), then [DONE].
func newMockBodies() mockBodies {
	const id, created = "chatcmpl-bench", 1764979200
	stop := "stop"
	u := usage{PromptTokens: 12, CompletionTokens: len(answerWords), TotalTokens: 12 + len(answerWords)}
	var b mockBodies
	b.json = mustJSON(completion{ID: id, Object: "chat.completion", Created: created, Model: upstreamModel,
		Choices: []completionChoice{{Message: delta{Role: "assistant", Content: answer}, FinishReason: &stop}}, Usage: u})
	event := func(c chunk) []byte {
		return []byte("data: " + string(mustJSON(c)) + "\n\n")
	}
	for i, w := range answerWords {
		d := delta{Content: w}
		if i == 0 {
			d.Role = "assistant"
		} else {
			d.Content = " " + w
		}
		b.events = append(b.events, event(chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: upstreamModel,
			Choices: []chunkChoice{{Delta: d}}}))
	}
	b.events = append(b.events,
		event(chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: upstreamModel,
			Choices: []chunkChoice{{Delta: delta{}, FinishReason: &stop}}}),
		event(chunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: upstreamModel,
			Choices: []chunkChoice{}, Usage: &u}),
		[]byte("data: [DONE]\n\n"))
	return b
}

// mustJSON encodes a value the program itself built, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bench: encoding its own answer: %v", err))
	}
	return b
}

// mockUpstream answers OpenAI chat completions at once and without fail:
// the JSON answer for stream:false, the SSE events for stream:true, each
// event flushed as a real provider sends it. GET /models answers the
// monitor's probes.
type mockUpstream struct {
	bodies mockBodies
	conns  atomic.Int64 // connections accepted so far
}

// connsPath answers how many connections the mock has accepted, which tells
// whether a proxy in front of it keeps its connections or makes new ones.
const connsPath = "/bench/conns"

// connState counts the connections as the server accepts them.
func (m *mockUpstream) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		m.conns.Add(1)
	}
}

func (m *mockUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == connsPath {
		io.WriteString(w, strconv.FormatInt(m.conns.Load(), 10))
		return
	}
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[{"id":"`+upstreamModel+`","object":"model"}]}`)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, "the mock upstream serves POST /v1/chat/completions and GET /v1/models", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req struct {
		Stream bool `json:"stream"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "the request is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	h := w.Header()
	if !req.Stream {
		h.Set("Content-Type", "application/json")
		w.Write(m.bodies.json)
		return
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	f, _ := w.(http.Flusher)
	for _, e := range m.bodies.events {
		if _, err := w.Write(e); err != nil {
			return
		}
		if f != nil {
			f.Flush()
		}
	}
}
