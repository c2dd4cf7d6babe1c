package sim

import (
	"hash/fnv"
	"math"
	"strings"
)

// maxTopLogprobs is the most alternatives per token OpenAI gives.
const maxTopLogprobs = 20

// logprobs is OpenAI's choices[].logprobs: one entry per token of content.
type logprobs struct {
	Content []tokenLogprob `json:"content"`
	Refusal *string        `json:"refusal"` // always null: the simulator never refuses
}

// tokenLogprob is one token with its log probability and, if asked for,
// the likeliest tokens at its place.
type tokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []altLogprob `json:"top_logprobs"`
}

// altLogprob is one of the top_logprobs alternatives.
type altLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// tokenLogprobs gives tokens, which start at position from of the answer,
// their log probabilities: drawn from a hash of the answer's key, the
// position and the token, so that the same answer always gets the same
// numbers, streamed or whole. The token itself is always the likeliest of
// its top alternatives (top of them), which are other words of the
// vocabulary, each less likely than the one before.
func tokenLogprobs(key uint64, from int, tokens []string, top int) []tokenLogprob {
	out := make([]tokenLogprob, 0, len(tokens))
	for i, t := range tokens {
		h := fnv.New64a()
		var pos [16]byte
		for j := range 8 {
			pos[j] = byte(key >> (8 * j))
			pos[8+j] = byte(uint64(from+i) >> (8 * j))
		}
		h.Write(pos[:])
		h.Write([]byte(t))
		sum := h.Sum64()
		// Between -2 and 0: a confident model's usual range.
		lp := round6(-2 * float64(sum%10_000) / 10_000)
		tl := tokenLogprob{Token: t, Logprob: lp, Bytes: byteList(t), TopLogprobs: []altLogprob{}}
		if top > 0 {
			tl.TopLogprobs = append(tl.TopLogprobs, altLogprob{Token: t, Logprob: lp, Bytes: byteList(t)})
		}
		// The alternatives are consecutive words of the vocabulary from a
		// drawn start, skipping the token's own word, so none repeats.
		for k, w := 1, int(sum>>16%uint64(len(words))); k < top; w++ {
			alt := words[w%len(words)]
			if i > 0 || from > 0 {
				alt = " " + alt
			}
			if strings.EqualFold(alt, t) {
				continue
			}
			tl.TopLogprobs = append(tl.TopLogprobs, altLogprob{Token: alt, Logprob: round6(lp - 1.5*float64(k)), Bytes: byteList(alt)})
			k++
		}
		out = append(out, tl)
	}
	return out
}

// round6 keeps six decimals, as a log probability needs no more.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// byteList is s's UTF-8 bytes as OpenAI sends them: a list of integers.
func byteList(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}
