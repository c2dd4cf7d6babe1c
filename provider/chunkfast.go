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

	choiceSeen uint8 // the first choice's members, while its delta is read
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
	if !s.Byte('{') {
		return false
	}
	if s.Byte('}') {
		return s.End()
	}
	seen, ok := r.member(&s, false)
	return ok && r.members(&s, seen) && s.End()
}

// resume reads a chunk that began with the head, from its content on.
func (r *chunkReader) resume(s *wirejson.Scanner) bool {
	r.w.Choices = append(r.w.Choices[:0], r.headAt)
	c := &r.w.Choices[0]
	var ok bool
	if c.Delta.Content, ok = s.String(); !ok {
		return false
	}
	return r.deltaMembers(s, c, false, r.headSeen[1]|deltaContent) &&
		r.choiceMembers(s, c, false, r.headSeen[0]) &&
		r.moreChoices(s) &&
		r.members(s, true) &&
		s.End()
}

// members reads the chunk's members after the first, and its end; seen
// says whether its choices came.
func (r *chunkReader) members(s *wirejson.Scanner, seen bool) bool {
	for {
		if s.Byte('}') {
			return true
		}
		var ok bool
		if !s.Byte(',') {
			return false
		}
		if seen, ok = r.member(s, seen); !ok {
			return false
		}
	}
}

func (r *chunkReader) member(s *wirejson.Scanner, seen bool) (bool, bool) {
	key, ok := s.Key()
	if !ok {
		return seen, false
	}
	switch string(key) {
	case "choices":
		return true, !seen && r.choices(s)
	case "usage":
		return seen, s.Null() // left nil; a usage goes to Unmarshal
	}
	return seen, !foldsTo(key, "choices", "usage", "error") && s.Skip()
}

func (r *chunkReader) choices(s *wirejson.Scanner) bool {
	if !s.Byte('[') {
		return false
	}
	return s.Byte(']') || r.choice(s) && r.moreChoices(s)
}

// moreChoices reads the choices after one, and the list's end.
func (r *chunkReader) moreChoices(s *wirejson.Scanner) bool {
	for {
		if s.Byte(']') {
			return true
		}
		if !s.Byte(',') || !r.choice(s) {
			return false
		}
	}
}

func (r *chunkReader) choice(s *wirejson.Scanner) bool {
	// The memory past the list's end is zero (reset), as a new element is.
	n := len(r.w.Choices)
	r.w.Choices = slices.Grow(r.w.Choices, 1)[:n+1]
	c := &r.w.Choices[n]
	if !s.Byte('{') {
		return false
	}
	if s.Byte('}') {
		return true
	}
	seen, ok := r.choiceMember(s, c, n == 0, 0)
	return ok && r.choiceMembers(s, c, n == 0, seen)
}

// choiceMembers reads a choice's members after the first, and its end.
func (r *chunkReader) choiceMembers(s *wirejson.Scanner, c *openAIChoice, first bool, seen uint8) bool {
	for {
		if s.Byte('}') {
			return true
		}
		var ok bool
		if !s.Byte(',') {
			return false
		}
		if seen, ok = r.choiceMember(s, c, first, seen); !ok {
			return false
		}
	}
}

func (r *chunkReader) choiceMember(s *wirejson.Scanner, c *openAIChoice, first bool, seen uint8) (uint8, bool) {
	key, ok := s.Key()
	if !ok {
		return seen, false
	}
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
		return seen, !foldsTo(key, "index", "delta", "logprobs", "finish_reason") && s.Skip()
	}
	if seen&bit != 0 || !s.Null() && !r.choiceValue(s, c, first, seen, bit) {
		return seen, false
	}
	return seen | bit, true
}

// choiceValue reads the value of a choice's member, bit, which is not
// null.
func (r *chunkReader) choiceValue(s *wirejson.Scanner, c *openAIChoice, first bool, seen, bit uint8) bool {
	var ok bool
	switch bit {
	case choiceIndex:
		c.Index, ok = s.Int()
	case choiceDelta:
		r.choiceSeen = seen | bit
		ok = r.delta(s, c, first)
	case choiceFinish:
		c.FinishReason, ok = s.String()
	}
	return ok // log probabilities go to Unmarshal
}

func (r *chunkReader) delta(s *wirejson.Scanner, c *openAIChoice, first bool) bool {
	if !s.Byte('{') {
		return false
	}
	if s.Byte('}') {
		return true
	}
	seen, ok := r.deltaMember(s, c, first, 0)
	return ok && r.deltaMembers(s, c, first, seen)
}

// deltaMembers reads a delta's members after the first, and its end.
func (r *chunkReader) deltaMembers(s *wirejson.Scanner, c *openAIChoice, first bool, seen uint8) bool {
	for {
		if s.Byte('}') {
			return true
		}
		var ok bool
		if !s.Byte(',') {
			return false
		}
		if seen, ok = r.deltaMember(s, c, first, seen); !ok {
			return false
		}
	}
}

func (r *chunkReader) deltaMember(s *wirejson.Scanner, c *openAIChoice, first bool, seen uint8) (uint8, bool) {
	key, ok := s.Key()
	if !ok {
		return seen, false
	}
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
		return seen, !foldsTo(key, "content", "reasoning", "reasoning_content", "tool_calls") && s.Skip()
	}
	if seen&bit != 0 {
		return seen, false
	}
	if s.Null() {
		return seen | bit, true
	}
	if text == nil {
		return seen, false // tool calls go to Unmarshal
	}
	if bit == deltaContent && first {
		before, head := *c, s.Read()
		if c.Delta.Content, ok = s.String(); ok {
			r.head.keep(head)
			r.headAt, r.headSeen = before, [2]uint8{r.choiceSeen, seen}
		}
		return seen | bit, ok
	}
	*text, ok = s.String()
	return seen | bit, ok
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
