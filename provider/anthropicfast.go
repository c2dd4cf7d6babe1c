package provider

import "switchboard/wirejson"

// eventReader decodes the events of one Messages stream, as chunkReader
// does a chat stream's chunks: into one event, reused; the usual one, a
// block's delta of text or thinking, by hand, and from its text on when
// it begins with the same bytes as the last one read by hand; anything
// else by wirejson.Unmarshal. What it gives is what json.Unmarshal gives
// (FuzzEventReader holds the two together).
type eventReader struct {
	w anthropicEvent

	head     textHead
	headAt   anthropicEvent // the event as its head leaves it
	headSeen [2]uint8       // the members of the event and of its delta the head holds
	headText uint8          // which of the delta's members the head's text is

	seen uint8 // the event's members, while its delta is read
}

// An event's members, and its delta's, as bits of what was seen: each may
// come once.
const (
	eventType uint8 = 1 << iota
	eventIndex
	eventDelta
)

const (
	blockType uint8 = 1 << iota
	blockText
	blockThinking
)

// read decodes data into an event, which is valid until the next read.
// What it accepts and what it rejects, with which error, are
// json.Unmarshal's.
func (r *eventReader) read(data []byte) (*anthropicEvent, error) {
	if r.fast(data) {
		return &r.w, nil
	}
	r.w = anthropicEvent{}
	if err := wirejson.Unmarshal(data, &r.w); err != nil {
		return nil, err
	}
	return &r.w, nil
}

// fast reads data by hand into r.w and reports whether it could; when it
// could not, r.w is half written.
func (r *eventReader) fast(data []byte) bool {
	if s, ok := r.head.resume(data); ok && r.resume(&s) {
		return true
	}
	if !r.head.byHand() {
		return false
	}
	r.w = anthropicEvent{}
	s := wirejson.NewScanner(data)
	if !s.Byte('{') {
		return false
	}
	if s.Byte('}') {
		return s.End()
	}
	seen, ok := r.member(&s, 0)
	return ok && r.members(&s, seen) && s.End()
}

// resume reads an event that began with the head, from its text on.
func (r *eventReader) resume(s *wirejson.Scanner) bool {
	r.w = r.headAt
	var ok bool
	if *r.text(r.headText), ok = s.String(); !ok {
		return false
	}
	return r.deltaMembers(s, r.headSeen[1]|r.headText) && r.members(s, r.headSeen[0]) && s.End()
}

// text is the delta's member bit stands for.
func (r *eventReader) text(bit uint8) *string {
	if bit == blockThinking {
		return &r.w.Delta.Thinking
	}
	return &r.w.Delta.Text
}

// members reads the event's members after the first, and its end.
func (r *eventReader) members(s *wirejson.Scanner, seen uint8) bool {
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

func (r *eventReader) member(s *wirejson.Scanner, seen uint8) (uint8, bool) {
	key, ok := s.Key()
	if !ok {
		return seen, false
	}
	var bit uint8
	switch string(key) {
	case "type":
		bit = eventType
	case "index":
		bit = eventIndex
	case "delta":
		bit = eventDelta
	default: // a message, a block, usage, an error: Unmarshal's
		return seen, !foldsTo(key, "type", "index", "message", "content_block", "delta", "usage", "error") && s.Skip()
	}
	if seen&bit != 0 {
		return seen, false
	}
	if s.Null() {
		return seen | bit, true
	}
	switch bit {
	case eventType:
		r.w.Type, ok = s.String()
	case eventIndex:
		r.w.Index, ok = s.Int()
	default:
		r.seen = seen | bit
		ok = r.delta(s)
	}
	return seen | bit, ok
}

func (r *eventReader) delta(s *wirejson.Scanner) bool {
	if !s.Byte('{') {
		return false
	}
	if s.Byte('}') {
		return true
	}
	seen, ok := r.deltaMember(s, 0)
	return ok && r.deltaMembers(s, seen)
}

// deltaMembers reads the delta's members after the first, and its end.
func (r *eventReader) deltaMembers(s *wirejson.Scanner, seen uint8) bool {
	for {
		if s.Byte('}') {
			return true
		}
		var ok bool
		if !s.Byte(',') {
			return false
		}
		if seen, ok = r.deltaMember(s, seen); !ok {
			return false
		}
	}
}

func (r *eventReader) deltaMember(s *wirejson.Scanner, seen uint8) (uint8, bool) {
	key, ok := s.Key()
	if !ok {
		return seen, false
	}
	var bit uint8
	switch string(key) {
	case "type":
		bit = blockType
	case "text":
		bit = blockText
	case "thinking":
		bit = blockThinking
	default: // a signature, a tool's input, a stop reason: Unmarshal's
		return seen, !foldsTo(key, "type", "text", "thinking", "signature", "id", "name", "input", "partial_json", "stop_reason") && s.Skip()
	}
	if seen&bit != 0 {
		return seen, false
	}
	if s.Null() {
		return seen | bit, true
	}
	if bit == blockType {
		r.w.Delta.Type, ok = s.String()
		return seen | bit, ok
	}
	before, head := r.w, s.Read()
	if *r.text(bit), ok = s.String(); ok {
		r.head.keep(head)
		r.headAt, r.headSeen, r.headText = before, [2]uint8{r.seen, seen}, bit
	}
	return seen | bit, ok
}
