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
	var seen uint8
	return s.Object(func(key []byte) bool { return r.member(&s, &seen, key) }) && s.End()
}

// resume reads an event that began with the head, from its text on.
func (r *eventReader) resume(s *wirejson.Scanner) bool {
	r.w = r.headAt
	var ok bool
	if *r.text(r.headText), ok = s.String(); !ok {
		return false
	}
	deltaSeen, seen := r.headSeen[1]|r.headText, r.headSeen[0]
	return s.Rest(func(key []byte) bool { return r.deltaMember(s, nil, &deltaSeen, key) }) &&
		s.Rest(func(key []byte) bool { return r.member(s, &seen, key) }) &&
		s.End()
}

// text is the delta's member bit stands for.
func (r *eventReader) text(bit uint8) *string {
	if bit == blockThinking {
		return &r.w.Delta.Thinking
	}
	return &r.w.Delta.Text
}

func (r *eventReader) member(s *wirejson.Scanner, seen *uint8, key []byte) bool {
	var bit uint8
	switch string(key) {
	case "type":
		bit = eventType
	case "index":
		bit = eventIndex
	case "delta":
		bit = eventDelta
	default: // a message, a block, usage, an error: Unmarshal's
		return !foldsTo(key, "type", "index", "message", "content_block", "delta", "usage", "error") && s.Skip()
	}
	if read, ok := once(s, seen, bit); !read {
		return ok
	}
	var ok bool
	switch bit {
	case eventType:
		r.w.Type, ok = s.String()
	case eventIndex:
		r.w.Index, ok = s.Int()
	default:
		var deltaSeen uint8
		ok = s.Object(func(key []byte) bool { return r.deltaMember(s, seen, &deltaSeen, key) })
	}
	return ok
}

// deltaMember reads a member of the delta; event is the event's members
// so far, for a head, nil when the event is read on from one (whose text
// is in the middle of the event: no head of its own).
func (r *eventReader) deltaMember(s *wirejson.Scanner, event, seen *uint8, key []byte) bool {
	var bit uint8
	switch string(key) {
	case "type":
		bit = blockType
	case "text":
		bit = blockText
	case "thinking":
		bit = blockThinking
	default: // a signature, a tool's input, a stop reason: Unmarshal's
		return !foldsTo(key, "type", "text", "thinking", "signature", "id", "name", "input", "partial_json", "stop_reason") && s.Skip()
	}
	if read, ok := once(s, seen, bit); !read {
		return ok
	}
	before := *seen &^ bit
	var ok bool
	if bit == blockType {
		r.w.Delta.Type, ok = s.String()
		return ok
	}
	if event == nil {
		*r.text(bit), ok = s.String()
		return ok
	}
	was, head := r.w, s.Read()
	if *r.text(bit), ok = s.String(); ok {
		r.head.keep(head)
		r.headAt, r.headSeen, r.headText = was, [2]uint8{*event, before}, bit
	}
	return ok
}
