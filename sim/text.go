package sim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Answer lengths, in tokens, before any max_tokens cap. Long enough that a
// stream has many chunks, short enough that tests stay fast.
const (
	minAnswerTokens = 20
	maxAnswerTokens = 120
)

// words is the vocabulary of generated answers: common English words, so the
// dashboard's preview looks like prose rather than noise.
var words = strings.Fields(`
the a an and or but so because when while if then also however therefore
model provider request answer token stream latency router gateway fallback
system network server client response error retry timeout signal cluster
data result value window average median percentile budget price speed
quick careful simple robust small large fast slow steady bright clear
quiet early late recent useful likely possible common different important
is are was were be been has have had can could will would should may might
make makes made take takes keep keeps find finds give gives show shows use
uses route routes serve serves wait waits send sends read reads write writes
measure measures choose chooses expect expects improve improves reduce
reduces handle handles follow follows explain explains compare compares
we you they it this that these those each every most some many few
in on at by for with from into over under after before between through
today often usually rarely always never again together quickly slowly
`)

// answer is a generated completion: its tokens in order and why it ended.
type answer struct {
	reasoning []string // a reasoning model's thinking, before the answer
	// tokens are the answer's text, each token a word with its leading
	// space, if any; for a call, the pieces of its arguments.
	tokens []string
	call   *toolCall // the tool the answer calls; nil for a text answer
	finish string    // "stop", "length", or "tool_calls"
}

// withLead is a with lead's words before its own, as one answer.
func (a answer) withLead(lead string) answer {
	if lead == "" {
		return a
	}
	words := strings.Fields(lead)
	tokens := make([]string, 0, len(words)+len(a.tokens))
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		tokens = append(tokens, w)
	}
	if len(a.tokens) > 0 {
		tokens = append(tokens, " "+strings.TrimPrefix(a.tokens[0], " "))
		tokens = append(tokens, a.tokens[1:]...)
	}
	a.tokens = tokens
	return a
}

// text is the whole completion, as a JSON answer carries it.
func (a answer) text() string { return strings.Join(a.tokens, "") }

// continuation is the rest of a after prefill, when prefill is a start of
// a's text: what a model asked to go on from there says, so that prefill
// plus the continuation is a's text exactly, whatever the length of the
// prefill (a prefill that ends inside a token gets the token's rest
// first). It has no reasoning (the thinking came before the prefill) and
// a's finish. ok is false when prefill is not a start of a's text.
func (a answer) continuation(prefill string) (answer, bool) {
	rest, ok := strings.CutPrefix(a.text(), prefill)
	if !ok {
		return answer{}, false
	}
	c := answer{finish: a.finish, tokens: []string{}}
	at := len(a.text()) - len(rest) // where the rest starts in a's text
	for _, t := range a.tokens {
		switch {
		case at >= len(t):
			at -= len(t)
		case at > 0:
			c.tokens = append(c.tokens, t[at:])
			at = 0
		default:
			c.tokens = append(c.tokens, t)
		}
	}
	return c, true
}

// capped is a cut to at most n tokens (n <= 0: no cap), which then end
// for "length", as compose caps an answer.
func (a answer) capped(n int) answer {
	if n > 0 && n < len(a.tokens) {
		a.tokens, a.finish = a.tokens[:n], "length"
	}
	return a
}

// completionTokens counts the answer and its reasoning, as providers bill.
func (a answer) completionTokens() int { return len(a.reasoning) + len(a.tokens) }

// compose writes a deterministic answer, after reasoning tokens of thinking:
// the same seed and prompt key always give the same words, whatever else the
// server is doing, so runs replay. An answer capped at maxTokens is the
// start of the uncapped one (sentences draws the same words whatever n),
// which continuations rely on.
func compose(seed int64, key uint64, maxTokens, reasoning int) answer {
	rng := rand.New(rand.NewPCG(uint64(seed), key))
	n := minAnswerTokens + rng.IntN(maxAnswerTokens-minAnswerTokens+1)
	finish := "stop"
	if maxTokens > 0 && maxTokens < n {
		n, finish = maxTokens, "length"
	}
	a := answer{tokens: sentences(rng, n, finish == "stop"), finish: finish}
	if reasoning > 0 {
		a.reasoning = sentences(rand.New(rand.NewPCG(uint64(seed), ^key)), reasoning, true)
	}
	return a
}

// sentences writes n tokens of sentences; closed ends the last with a period.
func sentences(rng *rand.Rand, n int, closed bool) []string {
	tokens := make([]string, 0, n)
	sentenceLeft := 0
	for i := range n {
		w := words[rng.IntN(len(words))]
		if sentenceLeft == 0 {
			w = capitalize(w)
			sentenceLeft = 6 + rng.IntN(11)
		}
		sentenceLeft--
		if sentenceLeft == 0 || i == n-1 && closed {
			w += "."
			sentenceLeft = 0
		} else if sentenceLeft > 3 && rng.IntN(10) == 0 {
			w += ","
		}
		if i > 0 {
			w = " " + w
		}
		tokens = append(tokens, w)
	}
	return tokens
}

func capitalize(w string) string {
	r, size := utf8.DecodeRuneInString(w)
	return string(unicode.ToUpper(r)) + w[size:]
}

// promptKey hashes what makes two requests "the same" for text generation.
// The stream flag is left out on purpose, so a streamed answer and a JSON
// answer to the same prompt carry the same words.
func promptKey(model string, msgs []message) uint64 {
	h := fnv.New64a()
	h.Write([]byte(model))
	for _, m := range msgs {
		h.Write([]byte{0})
		h.Write([]byte(m.Role))
		h.Write([]byte{0})
		h.Write([]byte(m.promptText()))
		if m.images > 0 {
			fmt.Fprintf(h, "\x00%d images", m.images)
		}
	}
	return h.Sum64()
}

// countPromptTokens approximates a tokenizer: a token per word plus a few per
// message for the chat template, as OpenAI's own estimate does, and
// imageTokens per image.
func countPromptTokens(msgs []message) int {
	n := 3
	for _, m := range msgs {
		n += 3 + len(strings.Fields(m.promptText())) + m.images*imageTokens
	}
	return n
}
