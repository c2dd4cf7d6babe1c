package provider

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// maxSSELine bounds one SSE line and one event's data. A real chunk is a few
// hundred bytes; the bound only stops a broken or hostile upstream from
// growing our memory without end.
const maxSSELine = 8 << 20

// sseReadSize is the read buffer: large enough that almost every line is
// handed out straight from it, without a copy.
const sseReadSize = 32 << 10

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	// Type is the event's "event:" field, "" when it had none.
	Type string
	// Data is the event's "data:" lines joined with "\n". It is only valid
	// until the next call to Next.
	Data []byte
}

// sseReader splits a text/event-stream body into events, following the
// WHATWG parsing rules: lines end in "\n", "\r\n" or "\r"; lines starting with
// ":" are comments (keep-alives); "data:" lines accumulate; a blank line
// dispatches; "id:" and "retry:" are ignored since we never reconnect.
//
// One deliberate difference from the spec: at the end of the body, data from
// complete lines that was not yet followed by a blank line is still
// dispatched, because some servers end with "data: [DONE]\n" and close. An
// unterminated last line is dropped, as the spec says, since it may be cut.
type sseReader struct {
	r       *bufio.Reader
	long    []byte // a line longer than what is buffered, assembled here
	data    []byte // the event being built: each data line plus "\n"
	typ     string
	skipLF  bool // the last line ended in "\r": a "\n" right after it belongs to it
	started bool // past the first line, where a byte order mark may be
	err     error
}

// newSSEReader reads events from r.
func newSSEReader(r io.Reader) *sseReader {
	return newSSEReaderFrom(bufio.NewReaderSize(r, sseReadSize))
}

// newSSEReaderFrom reads events from an existing buffered reader, so that a
// caller can peek at the body before deciding it is an event stream.
func newSSEReaderFrom(br *bufio.Reader) *sseReader {
	return &sseReader{r: br}
}

// Next returns the next event. At the end of the body it returns io.EOF; a
// read error is returned as it is. Errors are sticky.
func (p *sseReader) Next() (sseEvent, error) {
	if p.err != nil {
		return sseEvent{}, p.err
	}
	p.data = p.data[:0]
	for {
		line, err := p.readLine()
		if err != nil {
			p.err = err
			if err == io.EOF && len(p.data) > 0 {
				return p.dispatch(), nil
			}
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if len(p.data) == 0 {
				p.typ = ""
				continue
			}
			return p.dispatch(), nil
		}
		if err := p.field(line); err != nil {
			p.err = err
			return sseEvent{}, err
		}
	}
}

func (p *sseReader) dispatch() sseEvent {
	ev := sseEvent{Type: p.typ, Data: p.data[:len(p.data)-1]}
	p.typ = ""
	return ev
}

// field applies one non-blank line to the event being built.
func (p *sseReader) field(line []byte) error {
	if line[0] == ':' {
		return nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if len(p.data)+len(value)+1 > maxSSELine {
			return &Error{Class: ClassMalformed, Message: fmt.Sprintf("SSE event data longer than %d bytes", maxSSELine)}
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "event":
		switch string(value) {
		case "": // avoid an allocation for the common values
			p.typ = ""
		case "message":
			p.typ = "message"
		case "error":
			p.typ = "error"
		default:
			p.typ = string(value)
		}
	case "id", "retry":
	default:
		// The spec ignores a field it does not know. But a line that is
		// no field and holds a '{' is most likely a garbled "data:" line
		// (a chunk, or part of one): ignoring it would lose the text it
		// held without a word, so the stream is malformed there.
		if bytes.IndexByte(line, '{') >= 0 {
			// Not quoted: the reader knows no key to take out of it.
			return &Error{Class: ClassMalformed, Message: fmt.Sprintf("a line of %d bytes that is no SSE field and holds a '{': it may have held part of the answer", len(line))}
		}
	}
	return nil
}

// readLine returns the next line without its terminator. The slice is valid
// until the next read. An unterminated line at the end of the body is dropped
// and io.EOF returned.
func (p *sseReader) readLine() ([]byte, error) {
	p.long = p.long[:0]
	for {
		if _, err := p.r.Peek(1); err != nil {
			return nil, err
		}
		buf, _ := p.r.Peek(p.r.Buffered())
		if p.skipLF {
			p.skipLF = false
			if buf[0] == '\n' {
				p.r.Discard(1)
				continue
			}
		}
		i := indexEOL(buf)
		if i < 0 {
			if len(p.long)+len(buf) > maxSSELine {
				return nil, &Error{Class: ClassMalformed, Message: fmt.Sprintf("SSE line longer than %d bytes", maxSSELine)}
			}
			p.long = append(p.long, buf...)
			p.r.Discard(len(buf))
			continue
		}
		p.skipLF = buf[i] == '\r'
		line := buf[:i]
		if len(p.long) > 0 {
			p.long = append(p.long, line...)
			line = p.long
		}
		// Discard only moves the read position, so line stays intact.
		p.r.Discard(i + 1)
		if !p.started {
			p.started = true
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		return line, nil
	}
}

// indexEOL returns the index of the first '\r' or '\n' in b, or -1.
func indexEOL(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	head := b
	if i >= 0 {
		head = b[:i]
	}
	if j := bytes.IndexByte(head, '\r'); j >= 0 {
		return j
	}
	return i
}
