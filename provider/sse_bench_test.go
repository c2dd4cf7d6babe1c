package provider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchStream is a 200-chunk stream as OpenAI sends it, usage and [DONE]
// included; with varying, each chunk has an id of its own, as few
// upstreams send them (the chunk reader then cannot read a chunk from its
// content on).
func benchStream(varying bool) []byte {
	var b bytes.Buffer
	const head = `{"id":"chatcmpl-9xKq2fE7wA1bB3cD4eF5gH6iJ7kL","object":"chat.completion.chunk","created":1721075653,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_611b667b19",`
	for i := range 200 {
		h := head
		if varying {
			h = strings.Replace(head, "kL", fmt.Sprintf("%03d", i), 1)
		}
		fmt.Fprintf(&b, "data: %s\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token%d\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n", h, i)
	}
	fmt.Fprintf(&b, "data: %s\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n", head)
	fmt.Fprintf(&b, "data: %s\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":200,\"total_tokens\":219}}\n\n", head)
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// BenchmarkSSEParse measures splitting a 200-chunk stream into events, and
// the whole path from bytes to Chunks.
func BenchmarkSSEParse(b *testing.B) {
	in := benchStream(false)
	b.Run("events", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			p := newSSEReader(bytes.NewReader(in))
			n := 0
			for {
				if _, err := p.Next(); err != nil {
					break
				}
				n++
			}
			if n != 203 {
				b.Fatalf("%d events", n)
			}
		}
	})
	for _, varying := range []bool{false, true} {
		name := "chunks"
		if varying {
			name = "chunks, each its own id"
		}
		in := benchStream(varying)
		b.Run(name, func(b *testing.B) { benchChunks(b, in, streamOver, 202) })
	}
	b.Run("anthropic events", func(b *testing.B) {
		benchChunks(b, benchMessagesStream(), func(in []byte) *eventStream {
			return readerStream(in, bodySSE, &anthropicDecoder{key: testKey}, 0)
		}, 201)
	})
}

// benchMessagesStream is a Messages stream of 200 pieces of text, as
// Anthropic sends it: its start, the block's, the deltas, the block's
// stop, the message's delta and stop.
func benchMessagesStream() []byte {
	var b bytes.Buffer
	ev := func(typ, data string) { fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", typ, data) }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for i := range 200 {
		ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token%d"}}`, i))
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":200}}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return b.Bytes()
}

// benchChunks reads the stream in to its end, chunk by chunk: want of them.
func benchChunks(b *testing.B, in []byte, over func([]byte) *eventStream, want int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		s := over(in)
		n := 0
		for {
			_, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != want {
			b.Fatalf("%d chunks, not %d", n, want)
		}
		s.Close()
	}
}

// BenchmarkClientStream measures one whole streamed answer of 20 chunks
// through the client, from a loopback server: request, response, events,
// chunks and the connection's return to the pool. Its bytes per operation
// are what one upstream attempt costs the gateway's memory.
func BenchmarkClientStream(b *testing.B) {
	var body bytes.Buffer
	const head = `{"id":"chatcmpl-9xKq2fE7wA1bB3cD4eF5gH6iJ7kL","object":"chat.completion.chunk","created":1721075653,"model":"gpt-4o-mini-2024-07-18",`
	for i := range 18 {
		fmt.Fprintf(&body, "data: %s\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token%d\"},\"finish_reason\":null}]}\n\n", head, i)
	}
	fmt.Fprintf(&body, "data: %s\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", head)
	fmt.Fprintf(&body, "data: %s\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":18,\"total_tokens\":37}}\n\n", head)
	body.WriteString("data: [DONE]\n\n")
	c, _ := newTestClient(b, sseHandler(body.Bytes()), OpenAIOptions{})
	b.ReportAllocs()
	for b.Loop() {
		s, err := c.Stream(context.Background(), testRequest())
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			if _, err = s.Next(); err != nil {
				break
			}
			n++
		}
		s.Close()
		if err != io.EOF || n != 20 {
			b.Fatalf("%d chunks, then %v", n, err)
		}
	}
}

// BenchmarkEncodeRequest is a request body as a client sends an agent's
// turn: a system prompt, a question, an earlier tool call and its result,
// and a tool with its schema.
func BenchmarkEncodeRequest(b *testing.B) {
	temp := 0.7
	req := Request{Model: "gpt-4o-mini", MaxTokens: 512, Temperature: &temp,
		Messages: []Message{
			{Role: "system", Content: "You are a helpful assistant. Answer briefly, and use the tools when they help."},
			{Role: "user", Content: "What is the weather in Oslo today, and should I take an umbrella?"},
			{Role: "assistant", ToolCalls: []ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}},
			{Role: "tool", ToolCallID: "call_1", Content: `{"temperature":4,"conditions":"rain","wind_kmh":18}`},
		},
		Tools: []Tool{{Name: "get_weather", Description: "The current weather in a city.",
			Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string","description":"The city's name"}},"required":["city"]}`)}},
	}
	for _, enc := range []struct {
		name string
		f    func(Request) ([]byte, error)
	}{{"openai", encodeOpenAI}, {"anthropic", encodeAnthropic}} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.f(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
