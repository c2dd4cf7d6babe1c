package provider

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// An OpenAI-protocol upstream's tool calls come through as the model made
// them: a stream's pieces in order with their index, id and name on each
// call's first piece and the arguments' fragments after; a whole answer's
// calls each in one piece. Pieces are output like tokens: they start TTFT
// and count against the answer's bound, and a stream of them alone is an
// answer, not a cut.
func TestOpenAIToolCalls(t *testing.T) {
	stream := `data: {"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n" + "data: [DONE]\n\n"
	want := []ToolCall{{Index: 0, ID: "call_1", Name: "get_weather"}, {Index: 0, Arguments: `{"city":`},
		{Index: 0, Arguments: `"Paris"}`}, {Index: 1, ID: "call_2", Name: "get_time", Arguments: "{}"}}
	c := clientOf(t, "openai", sseHandler([]byte(stream)), OpenAIOptions{})
	s, chunks, err := streamAll(t, c)
	var got []ToolCall
	finish := ""
	for _, ch := range chunks {
		got = append(got, ch.ToolCalls...)
		finish += ch.FinishReason
	}
	if classOf(t, err) != ClassOK || !reflect.DeepEqual(got, want) || finish != "tool_calls" {
		t.Fatalf("err %v, finish %q, calls %+v\nwant %+v", err, finish, got, want)
	}
	if st := s.Stats(); st.TTFT <= 0 || st.TTFT > time.Minute {
		t.Errorf("TTFT %s: a tool call's first piece is the first token", st.TTFT)
	}

	whole := `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[` +
		`{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},` +
		`{"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`
	c = clientOf(t, "openai", jsonHandler(whole), OpenAIOptions{})
	_, chunks, err = streamAll(t, c)
	if classOf(t, err) != ClassOK || len(chunks) != 1 || !reflect.DeepEqual(chunks[0].ToolCalls, []ToolCall{
		{Index: 0, ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {Index: 1, ID: "call_2", Name: "get_time", Arguments: "{}"}}) {
		t.Fatalf("whole: err %v, chunks %+v", err, chunks)
	}

	// A call's place is never negative.
	neg := `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":-1,"id":"c","function":{"name":"f"}}]}}]}` + "\n\n"
	c = clientOf(t, "openai", sseHandler([]byte(neg)), OpenAIOptions{})
	if _, _, err := streamAll(t, c); classOf(t, err) != ClassMalformed {
		t.Errorf("a tool call at index -1: %v, want malformed", err)
	}

	// The bound counts the arguments: a call past it is malformed.
	big := `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"` +
		`0123456789012345678901234567890123456789"}}]}}]}` + "\n\n" + "data: [DONE]\n\n"
	c = clientOf(t, "openai", sseHandler([]byte(big)), OpenAIOptions{})
	if _, _, err := streamOf(t, c, Request{Model: "m", MaxAnswer: 16, Messages: []Message{{Role: "user", Content: "hi"}}}); classOf(t, err) != ClassMalformed {
		t.Errorf("a tool call past the answer's bound: %v, want malformed", err)
	}
}

// An Anthropic upstream's tool_use blocks come through as OpenAI's tool
// calls do: each block's start is a call's first piece, with its id and
// name, and its input_json_delta events the arguments' fragments, each
// call numbered among the answer's calls, whatever blocks of text or
// thinking come between; a thinking block's signature_delta is the
// chunk's Signature. A server tool's input is not a call of ours. An
// answer of tool calls alone is an answer.
func TestAnthropicToolCalls(t *testing.T) {
	stream := anthropicEvents(aStart,
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Two tools."}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-1"}}`,
		`{"type":"content_block_stop","index":0}`,
		aPing,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"x\"}"}}`,
		`{"type":"content_block_stop","index":2}`,
		`{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}}`,
		`{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
		`{"type":"content_block_stop","index":3}`,
		aDelta("tool_use"), aStop)
	want := []ToolCall{{Index: 0, ID: "toolu_1", Name: "get_weather"}, {Index: 0, Arguments: `{"city":`},
		{Index: 0, Arguments: `"Paris"}`}, {Index: 1, ID: "toolu_2", Name: "get_time"}, {Index: 1, Arguments: "{}"}}
	c, _ := newAnthropicTestClient(t, sseHandler([]byte(stream)), AnthropicOptions{})
	s, chunks, err := streamAll(t, c)
	checkStreamEnd(t, s, chunks, err, streamWant{reasoning: "Two tools.", signature: "sig-1", finish: "tool_calls",
		usage: &Usage{PromptTokens: 7, CompletionTokens: 5, TotalTokens: 12}, tokens: 5})
	var got []ToolCall
	for _, ch := range chunks {
		got = append(got, ch.ToolCalls...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %+v\nwant %+v", got, want)
	}

	// Tool calls alone, and no stop reason before message_stop: an answer.
	// A server that gives the whole input at the block's start gives the
	// arguments at once.
	only := anthropicEvents(aStart,
		`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{ "a": 1 }}}`, aStop)
	c, _ = newAnthropicTestClient(t, sseHandler([]byte(only)), AnthropicOptions{})
	if _, chunks, err := streamAll(t, c); err != io.EOF || len(chunks) != 1 ||
		!reflect.DeepEqual(chunks[0].ToolCalls, []ToolCall{{ID: "toolu_1", Name: "f", Arguments: `{"a":1}`}}) {
		t.Errorf("a stream of a tool call alone: %+v, %v; want one call and io.EOF", chunks, err)
	}

	// A whole message: its tool_use blocks are whole calls, their input
	// compact JSON; its thinking's signature is the chunk's.
	whole := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[` +
		`{"type":"thinking","thinking":"Two tools.","signature":"sig-1"},` +
		`{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{ "city" : "Paris" }},` +
		`{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}],` +
		`"stop_reason":"tool_use","usage":{"input_tokens":7,"output_tokens":5}}`
	c, _ = newAnthropicTestClient(t, jsonHandler(whole), AnthropicOptions{})
	_, chunks, err = streamAll(t, c)
	if err != io.EOF || len(chunks) != 1 || !reflect.DeepEqual(chunks[0].ToolCalls, []ToolCall{
		{Index: 0, ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {Index: 1, ID: "toolu_2", Name: "get_time", Arguments: "{}"}}) ||
		chunks[0].Signature != "sig-1" || chunks[0].FinishReason != "tool_calls" {
		t.Fatalf("whole: err %v, chunks %+v", err, chunks)
	}

	// Nothing but a tool call, not even a stop reason, is still an answer.
	bare := `{"id":"msg_1","type":"message","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]}`
	c, _ = newAnthropicTestClient(t, jsonHandler(bare), AnthropicOptions{})
	if _, chunks, err := streamAll(t, c); err != io.EOF || len(chunks) != 1 || len(chunks[0].ToolCalls) != 1 {
		t.Errorf("a whole answer of a tool call alone: %+v, %v", chunks, err)
	}
}

// Logprobs come through, a stream's with each chunk and a whole answer's
// at once, with their tokens treated as content is: the key, which no
// token may carry out, in the token's text or in its bytes, is redacted.
func TestOpenAILogprobs(t *testing.T) {
	stream := `data: {"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.25,"bytes":[72,105],` +
		`"top_logprobs":[{"token":"Hi","logprob":-0.25,"bytes":[72,105]},{"token":"Hello","logprob":-1.5,"bytes":null}]}],"refusal":null}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"content":" ` + testKey + `"},"logprobs":{"content":[{"token":" ` + testKey + `","logprob":-3,` +
		`"bytes":[` + fuzzKeyBytes + `],"top_logprobs":[]}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" + "data: [DONE]\n\n"
	c := clientOf(t, "openai", sseHandler([]byte(stream)), OpenAIOptions{APIKey: testKey})
	_, chunks, err := streamAll(t, c)
	var got []Logprob
	for _, ch := range chunks {
		got = append(got, ch.Logprobs...)
	}
	red := []int{}
	for _, b := range []byte(redacted) {
		red = append(red, int(b))
	}
	want := []Logprob{
		{Token: "Hi", Logprob: -0.25, Bytes: []int{72, 105}, Top: []TopLogprob{{Token: "Hi", Logprob: -0.25, Bytes: []int{72, 105}}, {Token: "Hello", Logprob: -1.5}}},
		{Token: " " + redacted, Logprob: -3, Bytes: red},
	}
	if err != io.EOF || !reflect.DeepEqual(got, want) {
		t.Fatalf("err %v, logprobs %+v\nwant %+v", err, got, want)
	}

	// They weigh against the answer's bound: 2 bytes of content with 9 of
	// tokens do not fit in 8.
	first, _, _ := strings.Cut(stream, "\n\n")
	c = clientOf(t, "openai", sseHandler([]byte(first+"\n\n"+`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")), OpenAIOptions{})
	if _, _, err := streamOf(t, c, Request{Model: "m", MaxAnswer: 8, Messages: []Message{{Role: "user", Content: "hi"}}}); classOf(t, err) != ClassMalformed {
		t.Errorf("logprobs past the answer's bound: %v, want malformed", err)
	}

	whole := `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},` +
		`"logprobs":{"content":[{"token":"Hi","logprob":-0.25,"bytes":[72,105],"top_logprobs":[]}]},"finish_reason":"stop"}]}`
	c = clientOf(t, "openai", jsonHandler(whole), OpenAIOptions{})
	_, chunks, err = streamAll(t, c)
	if err != io.EOF || len(chunks) != 1 || !reflect.DeepEqual(chunks[0].Logprobs, []Logprob{{Token: "Hi", Logprob: -0.25, Bytes: []int{72, 105}}}) {
		t.Fatalf("whole: err %v, chunks %+v", err, chunks)
	}
}
