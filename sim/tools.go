package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tool is a function the client offers the model, in either API: its name
// and the JSON schema of its arguments (OpenAI's parameters, Anthropic's
// input_schema).
type tool struct {
	name   string
	schema json.RawMessage
}

// choiceMode is what a request's tool_choice lets the model do, in words
// both APIs share.
type choiceMode uint8

const (
	choiceAuto  choiceMode = iota // OpenAI "auto", Anthropic "auto", or no tool_choice
	choiceNone                    // OpenAI "none", Anthropic "none": no call
	choiceAny                     // OpenAI "required", Anthropic "any": some call
	choiceNamed                   // a named tool: OpenAI function, Anthropic tool
)

// toolChoice is a request's tool_choice.
type toolChoice struct {
	mode choiceMode
	name string // the named tool, for choiceNamed
}

// toolCall is a call of a tool, made by the assistant in an earlier turn
// of the conversation or by the simulator in its answer.
type toolCall struct {
	id   string // as on the wire, "call_..." or "toolu_..."
	name string
	args string // the arguments, a JSON object
}

// toolResult is what a client sends back for one call: OpenAI's "tool"
// message, or one of Anthropic's tool_result blocks.
type toolResult struct {
	id   string
	name string // the called tool's name, from the call it answers
	text string
}

// callIDLen is how many hex digits follow the prefix of a call id.
const callIDLen = 24

// callFor decides whether the answer to req is a call of one of its tools,
// and of which: tools are offered, tool_choice does not forbid it, and
// the conversation ends with the user's words, not a tool's result (after
// a result the model says what it learned). It is always one call, of the
// named tool or else of the first one offered, whatever
// parallel_tool_calls says.
func (r *chatRequest) callFor() (tool, bool) {
	if len(r.tools) == 0 || r.toolChoice.mode == choiceNone || len(r.messages) == 0 {
		return tool{}, false
	}
	last := r.messages[len(r.messages)-1]
	if last.Role != "user" || len(last.results) > 0 {
		return tool{}, false
	}
	if r.toolChoice.mode == choiceNamed {
		for _, t := range r.tools {
			if t.name == r.toolChoice.name {
				return t, true
			}
		}
	}
	return r.tools[0], true
}

// callAnswer is an answer that calls t: its arguments, built from t's
// schema with words of the user's last message, streamed in fragments of
// argFragment bytes, each a token. The id's hex digits come from key, so
// the same request gets the same call.
func callAnswer(t tool, key uint64, prompt string) answer {
	args := string(mustJSON(argsFor(t.schema, promptWords(prompt))))
	h := fnv.New64a()
	fmt.Fprintf(h, "%x\x00%s", key, t.name)
	id := fmt.Sprintf("%016x%08x", h.Sum64(), uint32(key))[:callIDLen]
	return answer{call: &toolCall{id: id, name: t.name, args: args}, tokens: fragments(args, argFragment), finish: "tool_calls"}
}

// argFragment is the size, in bytes, of a streamed piece of a call's
// arguments: small, so that even short arguments take several chunks.
const argFragment = 4

// fragments cuts s into pieces of about n bytes, never inside a rune.
func fragments(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		end := min(n, len(s))
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

// promptWords are the words of a prompt a call's string arguments are
// taken from: runs of letters and digits of three or more characters,
// names first (capitalized, and not the first word of a sentence: "Oslo"
// in "What is the weather in Oslo?"), as a model fills a city or a file
// from the noun the user named; then the others, in order.
func promptWords(prompt string) []string {
	var names, rest []string
	start := true // at the start of a sentence
	for _, w := range strings.FieldsFunc(prompt, unicode.IsSpace) {
		first := start
		start = strings.ContainsAny(w[len(w)-1:], ".?!")
		w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if utf8.RuneCountInString(w) < 3 || strings.ContainsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			continue
		}
		if r, _ := utf8.DecodeRuneInString(w); unicode.IsUpper(r) && !first {
			names = append(names, w)
		} else {
			rest = append(rest, w)
		}
	}
	return append(names, rest...)
}

// maxSchemaDepth bounds how deep argsFor follows nested schemas, so that
// a schema nested absurdly deep still gets an answer rather than a
// runaway one.
const maxSchemaDepth = 8

// argsFor builds a value that validates against schema: for an object its
// required properties (all of them when none is required), each built
// the same way; a string is a word of the prompt (the n-th, for the n-th
// string asked for) or else the property's name; an integer 3, a number
// 1.5, a boolean true; an enum or const its (first) value; an array one
// item. anyOf and oneOf take their first branch. A schema it cannot read
// gives an empty object at the top and a string below, which a schema
// that says nothing accepts.
func argsFor(raw json.RawMessage, words []string) any {
	b := argBuilder{words: words}
	v := b.value(raw, "value", 0)
	if _, ok := v.(map[string]any); !ok {
		return map[string]any{} // arguments are always an object
	}
	return v
}

// argBuilder carries the words a call's strings are drawn from, in turn.
type argBuilder struct {
	words []string
	used  int
}

// schema is the part of a JSON schema argsFor reads.
type schema struct {
	Type       json.RawMessage            `json:"type"` // a name, or a list of names
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	Items      json.RawMessage            `json:"items"`
	Enum       []json.RawMessage          `json:"enum"`
	Const      json.RawMessage            `json:"const"`
	AnyOf      []json.RawMessage          `json:"anyOf"`
	OneOf      []json.RawMessage          `json:"oneOf"`
}

func (b *argBuilder) value(raw json.RawMessage, name string, depth int) any {
	var s schema
	if depth > maxSchemaDepth || json.Unmarshal(raw, &s) != nil {
		return b.word(name)
	}
	switch {
	case len(s.Const) > 0:
		return s.Const
	case len(s.Enum) > 0:
		return s.Enum[0]
	case len(s.AnyOf) > 0:
		return b.value(s.AnyOf[0], name, depth+1)
	case len(s.OneOf) > 0:
		return b.value(s.OneOf[0], name, depth+1)
	}
	switch schemaType(s) {
	case "object":
		obj := map[string]any{}
		keys := s.Required
		if len(keys) == 0 {
			keys = slices.Sorted(maps.Keys(s.Properties))
		}
		for _, k := range keys {
			obj[k] = b.value(s.Properties[k], k, depth+1)
		}
		return obj
	case "array":
		return []any{b.value(s.Items, name, depth+1)}
	case "integer":
		return 3
	case "number":
		return 1.5
	case "boolean":
		return true
	case "null":
		return nil
	}
	return b.word(name)
}

// word is the next word of the prompt, or name when it has none left.
func (b *argBuilder) word(name string) string {
	if b.used < len(b.words) {
		b.used++
		return b.words[b.used-1]
	}
	return name
}

// schemaType is the type a schema asks for: its first non-null type, or
// what its other keywords imply.
func schemaType(s schema) string {
	var one string
	var many []string
	switch {
	case json.Unmarshal(s.Type, &one) == nil:
		return one
	case json.Unmarshal(s.Type, &many) == nil:
		for _, t := range many {
			if t != "null" {
				return t
			}
		}
		if len(many) > 0 {
			return many[0]
		}
	}
	switch {
	case s.Properties != nil:
		return "object"
	case len(bytes.TrimSpace(s.Items)) > 0:
		return "array"
	}
	return "string"
}

// resultLead is how an answer after tool results begins: one sentence per
// result, quoting its start, so a client can see its result was read.
func resultLead(results []toolResult) string {
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteByte(' ')
		}
		quote := strings.Fields(r.text)
		if len(quote) > resultQuoteWords {
			quote = append(quote[:resultQuoteWords], "...")
		}
		fmt.Fprintf(&b, "The %s tool returned: %s.", r.name, strings.Join(quote, " "))
	}
	return b.String()
}

// resultQuoteWords is how many words of a tool's result an answer quotes.
const resultQuoteWords = 8

// trailingResults are the tool results the conversation ends with: the
// last user message's tool_result blocks (Anthropic), or the run of tool
// messages at its end (OpenAI).
func trailingResults(msgs []message) []toolResult {
	var out []toolResult
	for i := len(msgs) - 1; i >= 0 && len(msgs[i].results) > 0 && msgs[i].Role != "assistant"; i-- {
		out = append(append([]toolResult{}, msgs[i].results...), out...)
		if msgs[i].Role == "user" {
			break
		}
	}
	return out
}
