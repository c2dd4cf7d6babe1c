package provider

import (
	"bytes"
	"slices"
	"strings"

	"switchboard/wirejson"
)

// chunkReader decodes the chunks of one stream, reusing from one to the
// next the chunk it decodes into and the chunk's list of choices, which
// json.Unmarshal would allocate anew for each. A chunk is a few hundred
// bytes, and a stream has hundreds of them.
//
// The usual chunk, a delta of text or reasoning or a finish reason, it
// reads by hand (fast), into the value json.Unmarshal gives
// (FuzzChunkReader holds the two together); anything else it leaves to
// wirejson.Unmarshal. The chunks of a stream mostly differ in their text
// alone: what comes before it (the id, the model, the choice's start)
// comes again and again. So the reader keeps the bytes of the last chunk
// up to the quote that opens its first choice's content (its head), and
// what reading them left; a chunk that begins with the same bytes is read
// from its content on. Read by hand from its start, a chunk takes about as
// long as with Unmarshal: after a few chunks in a row that do not begin
// as the one before (an upstream that numbers its chunks, or sends the
// tokens' ids before the text), the stream's chunks are left to Unmarshal.
type chunkReader struct {
	w openAIChunk

	head     textHead
	headAt   openAIChoice // the first choice as its head leaves it
	headSeen [2]uint8     // the members of the choice and of its delta the head holds
}

// textHead is the start of the last of a stream's events read by hand, up
// to the quote that opens its text, for reading the next from its text on
// when it begins with the same bytes (see chunkReader).
type textHead struct {
	b      []byte // empty until an event had text
	misses int    // events in a row that did not begin with it
}

// maxMisses is how many events in a row that do not begin with the head
// are read by hand (each leaving its own head): the first chunk with text,
// after one that only named the role, is the second.
const maxMisses = 3

// resume is a Scanner of data from the head's last quote on, if data
// begins with the head.
func (h *textHead) resume(data []byte) (wirejson.Scanner, bool) {
	if len(h.b) == 0 || !bytes.HasPrefix(data, h.b) {
		return wirejson.Scanner{}, false
	}
	h.misses = 0
	return wirejson.NewScanner(data[len(h.b)-1:]), true
}

// byHand reports whether an event that does not begin with the head is
// read by hand, counting it.
func (h *textHead) byHand() bool {
	if h.misses == maxMisses {
		return false
	}
	h.misses++
	return true
}

// keep makes the head what was read, up to a text's opening quote.
func (h *textHead) keep(read []byte) { h.b = append(append(h.b[:0], read...), '"') }

// A choice's members, and its delta's, as bits of what was seen: each
// may come once.
const (
	choiceIndex uint8 = 1 << iota
	choiceDelta
	choiceLogprobs
	choiceFinish
)

const (
	deltaContent uint8 = 1 << iota
	deltaReasoning
	deltaReasoningContent
	deltaToolCalls
)

// fast reads data by hand into r.w, reset, and reports whether it could;
// when it could not, r.w is half written.
func (r *chunkReader) fast(data []byte) bool {
	if s, ok := r.head.resume(data); ok && r.resume(&s) {
		return true
	}
	if !r.head.byHand() {
		return false
	}
	r.reset()
	s := wirejson.NewScanner(data)
	var seen bool
	return s.Object(func(key []byte) bool { return r.member(&s, key, &seen) }) && s.End()
}

// resume reads a chunk that began with the head, from its content on.
func (r *chunkReader) resume(s *wirejson.Scanner) bool {
	r.w.Choices = append(r.w.Choices[:0], r.headAt)
	c := &r.w.Choices[0]
	var ok bool
	if c.Delta.Content, ok = s.String(); !ok {
		return false
	}
	deltaSeen, choiceSeen, seen := r.headSeen[1]|deltaContent, r.headSeen[0], true
	return s.Rest(func(key []byte) bool { return r.deltaMember(s, c, nil, &deltaSeen, key) }) &&
		s.Rest(func(key []byte) bool { return r.choiceMember(s, c, false, &choiceSeen, key) }) &&
		s.RestOfArray(func() bool { return r.choice(s) }) &&
		s.Rest(func(key []byte) bool { return r.member(s, key, &seen) }) &&
		s.End()
}

// member reads one of the chunk's members; seen says whether its choices
// came.
func (r *chunkReader) member(s *wirejson.Scanner, key []byte, seen *bool) bool {
	switch string(key) {
	case "choices":
		if *seen {
			return false
		}
		*seen = true
		return s.Array(func() bool { return r.choice(s) })
	case "usage":
		return s.Null() // left nil; a usage goes to Unmarshal
	}
	return !foldsTo(key, "choices", "usage", "error") && s.Skip()
}

func (r *chunkReader) choice(s *wirejson.Scanner) bool {
	// The memory past the list's end is zero (reset), as a new element is.
	n := len(r.w.Choices)
	r.w.Choices = slices.Grow(r.w.Choices, 1)[:n+1]
	c := &r.w.Choices[n]
	var seen uint8
	return s.Object(func(key []byte) bool { return r.choiceMember(s, c, n == 0, &seen, key) })
}

func (r *chunkReader) choiceMember(s *wirejson.Scanner, c *openAIChoice, first bool, seen *uint8, key []byte) bool {
	var bit uint8
	switch string(key) {
	case "index":
		bit = choiceIndex
	case "delta":
		bit = choiceDelta
	case "logprobs":
		bit = choiceLogprobs
	case "finish_reason":
		bit = choiceFinish
	default:
		return !foldsTo(key, "index", "delta", "logprobs", "finish_reason") && s.Skip()
	}
	if read, ok := once(s, seen, bit); !read {
		return ok
	}
	var ok bool
	switch bit {
	case choiceIndex:
		c.Index, ok = s.Int()
	case choiceDelta:
		var choice *uint8 // only the first choice's content leaves a head
		if first {
			choice = seen
		}
		var deltaSeen uint8
		ok = s.Object(func(key []byte) bool { return r.deltaMember(s, c, choice, &deltaSeen, key) })
	case choiceFinish:
		c.FinishReason, ok = s.String()
	}
	return ok // log probabilities go to Unmarshal
}

// deltaMember reads a member of a choice's delta; choice is the choice's
// members so far, for a head, nil when the choice is not the first or is
// read on from a head (no head of its own).
func (r *chunkReader) deltaMember(s *wirejson.Scanner, c *openAIChoice, choice, seen *uint8, key []byte) bool {
	var bit uint8
	var text *string
	switch string(key) {
	case "content":
		bit, text = deltaContent, &c.Delta.Content
	case "reasoning":
		bit, text = deltaReasoning, &c.Delta.Reasoning
	case "reasoning_content":
		bit, text = deltaReasoningContent, &c.Delta.ReasoningContent
	case "tool_calls":
		bit = deltaToolCalls
	default:
		return !foldsTo(key, "content", "reasoning", "reasoning_content", "tool_calls") && s.Skip()
	}
	if read, ok := once(s, seen, bit); !read {
		return ok
	}
	before := *seen &^ bit
	if text == nil {
		return false // tool calls go to Unmarshal
	}
	var ok bool
	if bit == deltaContent && choice != nil {
		was, head := *c, s.Read()
		if c.Delta.Content, ok = s.String(); ok {
			r.head.keep(head)
			r.headAt, r.headSeen = was, [2]uint8{*choice, before}
		}
		return ok
	}
	*text, ok = s.String()
	return ok
}

// once marks a member seen, refusing one seen already (a key twice), and
// consumes its value if it is null: it reports whether a value is left to
// read, and whether all is well.
func once(s *wirejson.Scanner, seen *uint8, bit uint8) (read, ok bool) {
	if *seen&bit != 0 {
		return false, false
	}
	*seen |= bit
	return !s.Null(), true
}

// foldsTo reports whether key is one of names but for the case of its
// letters, which encoding/json would take as that name.
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if len(key) == len(n) && strings.EqualFold(string(key), n) {
			return true
		}
	}
	return false
}
