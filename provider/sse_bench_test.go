package provider

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchStream is a 200-chunk stream as OpenAI sends it, usage and [DONE]
// included.
func benchStream() []byte {
	var b bytes.Buffer
	const head = `{"id":"chatcmpl-9xKq2fE7wA1bB3cD4eF5gH6iJ7kL","object":"chat.completion.chunk","created":1721075653,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_611b667b19",`
	for i := range 200 {
		fmt.Fprintf(&b, "data: %s\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token%d\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n", head, i)
	}
	fmt.Fprintf(&b, "data: %s\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n", head)
	fmt.Fprintf(&b, "data: %s\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":200,\"total_tokens\":219}}\n\n", head)
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// BenchmarkSSEParse measures splitting a 200-chunk stream into events, and
// the whole path from bytes to Chunks.
func BenchmarkSSEParse(b *testing.B) {
	in := benchStream()
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
	b.Run("chunks", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			s := streamOver(in)
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
			if n != 202 {
				b.Fatalf("%d chunks", n)
			}
			s.Close()
		}
	})
}
