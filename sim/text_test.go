package sim

import (
	"slices"
	"strings"
	"testing"
)

// Every answer is whole sentences of sample text, of a length in bounds,
// and the answer capped at max_tokens is its start; thinking is exactly as
// long as asked, and closed.
func TestComposeWritesSampleText(t *testing.T) {
	from := sample{provider: "groq", model: "llama-3.3-70b-versatile"}
	lengths := map[int]bool{}
	for key := range uint64(200) {
		a := compose(3, key, 0, 7, from)
		text := a.text()
		if n := len(a.tokens); n < minAnswerTokens || n > maxAnswerTokens || a.finish != "stop" {
			t.Fatalf("key %d: %d tokens, finish %q; want %d..%d, stop", key, n, a.finish, minAnswerTokens, maxAnswerTokens)
		}
		lengths[len(a.tokens)] = true
		if !sampleText("groq", text) || !strings.Contains(text, "llama-3.3-70b-versatile") {
			t.Fatalf("key %d: not sample text: %q", key, text)
		}
		if got := compose(3, key, 0, 7, from); !slices.Equal(got.tokens, a.tokens) {
			t.Fatalf("key %d: two answers to one request differ: %q and %q", key, got.text(), text)
		}
		capped := compose(3, key, 12, 7, from)
		if capped.finish != "length" || !slices.Equal(capped.tokens, a.tokens[:12]) {
			t.Fatalf("key %d: capped at 12 %q (finish %q), want the start of %q", key, capped.text(), capped.finish, text)
		}
		if len(a.reasoning) != 7 || !strings.HasSuffix(a.reasoning[6], ".") {
			t.Fatalf("key %d: thinking %q, want 7 tokens closed by a period", key, a.reasoning)
		}
	}
	if len(lengths) < 3 {
		t.Errorf("answers of only %d lengths: the length should vary by request", len(lengths))
	}
	// Carrying on another's text, the answer does not begin again: a
	// router takes an answer that starts as the one it had for a restart.
	if a := compose(3, 1, 0, 0, sample{provider: "groq", carryingOn: true}); strings.HasPrefix(a.text(), "This is") {
		t.Errorf("carrying on, the answer begins with the opening: %q", a.text())
	}
	if o := (sample{}).opening(); !strings.HasPrefix(o, "This is a simulated answer. It is sample text") {
		t.Errorf("the opening without a provider or model: %q", o)
	}
}
