package provider

import (
	"reflect"
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

	// The bound counts the arguments: a call past it is malformed.
	big := `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"` +
		`0123456789012345678901234567890123456789"}}]}}]}` + "\n\n" + "data: [DONE]\n\n"
	c = clientOf(t, "openai", sseHandler([]byte(big)), OpenAIOptions{})
	if _, _, err := streamOf(t, c, Request{Model: "m", MaxAnswer: 16, Messages: []Message{{Role: "user", Content: "hi"}}}); classOf(t, err) != ClassMalformed {
		t.Errorf("a tool call past the answer's bound: %v, want malformed", err)
	}
}
