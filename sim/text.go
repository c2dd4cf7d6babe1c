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

// words is the vocabulary of the alternatives a logprobs answer lists
// beside each token: common English words.
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

// answerPassage is what a simulated answer says after its opening: a
// short passage about itself, so that a reader sees sample text for what
// it is rather than a model's reply gone wrong. After the opening, an
// answer is a run of its sentences from a drawn start, round and round;
// {provider} is the provider serving it.
var answerPassage = []string{
	"The simulator writes it so that the gateway has something to route, stream and measure.",
	"The words follow from the request and a seed, so the same prompt always gets the same answer.",
	"Tokens arrive at the pace of {provider}'s profile: a first token after a wait, then a steady stream.",
	"A fault forced from the dashboard cuts, stalls or refuses answers like this one, and the router falls back.",
	"Its length changes from request to request, and max_tokens cuts it short as a real provider would.",
	"Asked to carry on from a prefill, the simulator gives the rest of this same answer.",
	"The latency, errors and prices beside it come from the same simulated fleet.",
}

// thinkingPassage is what a simulated reasoning model thinks before it
// answers, in the same way.
var thinkingPassage = []string{
	"This is simulated thinking, sample text before the answer.",
	"A reasoning model thinks for as many tokens as its profile sets.",
	"The thinking is signed, and a signature from another provider is refused.",
	"Nothing here was reasoned out by a model.",
}

// longestSentence is the most words of any sentence of answerPassage: an
// answer is whole sentences, so it may run that much past the length drawn.
// It is counted for no provider's name: "the provider" is two words, and a
// name one.
var longestSentence = func() int {
	n := 0
	for _, s := range answerPassage {
		n = max(n, len(sample{}.add(nil, s)))
	}
	return n
}()

// sample is who a simulated answer speaks for: the provider serving it
// and the model it stands in for.
type sample struct {
	provider, model string
	// carryingOn is set when the answer carries on text it did not
	// write (a prefill from another provider): it has no opening.
	carryingOn bool
}

// opening is how an answer starts: it says what it is.
func (s sample) opening() string {
	if s.carryingOn {
		return ""
	}
	o := "This is a simulated answer"
	if s.provider != "" {
		o += " from " + s.provider
	}
	if s.model != "" {
		o += ", standing in for " + s.model
	}
	return o + ". It is sample text, not a model's reply to the prompt."
}

// add appends the words of sentence to tokens, each a token with its
// leading space after the first, {provider} filled in.
func (s sample) add(tokens []string, sentence string) []string {
	provider := s.provider
	if provider == "" {
		provider = "the provider"
	}
	for w := range strings.FieldsSeq(strings.ReplaceAll(sentence, "{provider}", provider)) {
		if len(tokens) > 0 {
			w = " " + w
		}
		tokens = append(tokens, w)
	}
	return tokens
}

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
// server is doing, so runs replay. The answer is the opening, then whole
// sentences of answerPassage, between minAnswerTokens and maxAnswerTokens
// in all. An answer capped at maxTokens is the start of the uncapped one,
// which continuations rely on.
func compose(seed int64, key uint64, maxTokens, reasoning int, from sample) answer {
	rng := rand.New(rand.NewPCG(uint64(seed), key))
	n := minAnswerTokens + rng.IntN(maxAnswerTokens-longestSentence-minAnswerTokens+1)
	tokens := from.add(make([]string, 0, n+longestSentence), from.opening())
	for i := rng.IntN(len(answerPassage)); len(tokens) < n; i++ {
		tokens = from.add(tokens, answerPassage[i%len(answerPassage)])
	}
	a := answer{tokens: tokens, finish: "stop"}
	if reasoning > 0 {
		a.reasoning = thinking(rand.New(rand.NewPCG(uint64(seed), ^key)), reasoning, from)
	}
	return a.capped(maxTokens)
}

// thinking is n tokens of thinkingPassage from a drawn start, ended with a
// period: the profile sets how long a model thinks, not the sentences.
func thinking(rng *rand.Rand, n int, from sample) []string {
	var tokens []string
	for i := rng.IntN(len(thinkingPassage)); len(tokens) < n; i++ {
		tokens = from.add(tokens, thinkingPassage[i%len(thinkingPassage)])
	}
	tokens = tokens[:n]
	if last := tokens[n-1]; !strings.HasSuffix(last, ".") {
		tokens[n-1] = strings.TrimRight(last, ",:") + "."
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
