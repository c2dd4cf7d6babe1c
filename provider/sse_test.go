package provider

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type event struct{ Type, Data string }

// readerModes feed the parser whole, one byte per read, and through a tiny
// buffer, so that every line ending falls on a read boundary somewhere.
var readerModes = []struct {
	name string
	new  func([]byte) *sseReader
}{
	{"whole", func(b []byte) *sseReader { return newSSEReader(bytes.NewReader(b)) }},
	{"bytewise", func(b []byte) *sseReader { return newSSEReader(iotest.OneByteReader(bytes.NewReader(b))) }},
	{"tinybuf", func(b []byte) *sseReader {
		return newSSEReaderFrom(bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(b)), 16))
	}},
}

// readEvents returns every event of p and the error that ended it.
func readEvents(p *sseReader) ([]event, error) {
	var evs []event
	for {
		ev, err := p.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, event{ev.Type, string(ev.Data)})
	}
}

func TestSSEReader(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		in   string
		want []event
	}{
		{"lf", "data: a\n\ndata: b\n\n", []event{{"", "a"}, {"", "b"}}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []event{{"", "a"}, {"", "b"}}},
		{"cr", "data: a\r\rdata: b\r\r", []event{{"", "a"}, {"", "b"}}},
		{"mixed endings", "data: a\rdata: b\r\n\ndata: c\n\r\n", []event{{"", "a\nb"}, {"", "c"}}},
		{"multi-line data", "data: {\"a\":\ndata: 1}\n\n", []event{{"", "{\"a\":\n1}"}}},
		{"comments ignored", ": OPENROUTER PROCESSING\n\n:keep-alive\ndata: x\n: mid-event\n\n", []event{{"", "x"}}},
		{"no space after colon", "data:x\n\n", []event{{"", "x"}}},
		{"only one space removed", "data:  x\n\n", []event{{"", " x"}}},
		{"field without colon", "data\n\n", []event{{"", ""}}},
		{"empty data dispatches", "data:\n\ndata: x\n\n", []event{{"", ""}, {"", "x"}}},
		{"event type", "event: error\ndata: {}\n\n", []event{{"error", "{}"}}},
		{"event type resets after dispatch", "event: e\ndata: 1\n\ndata: 2\n\n", []event{{"e", "1"}, {"", "2"}}},
		{"event type resets on blank line", "event: e\n\ndata: x\n\n", []event{{"", "x"}}},
		{"id retry unknown ignored", "id: 7\nretry: 3000\nfoo: bar\ndata: x\n\n", []event{{"", "x"}}},
		{"blank lines only", "\n\n\r\n\r\r", nil},
		{"byte order mark", "\xEF\xBB\xBFdata: x\n\n", []event{{"", "x"}}},
		{"bom only at start", "data: a\n\n\xEF\xBB\xBFdata: b\n\n", []event{{"", "a"}}},
		{"pending data at eof", "data: [DONE]\n", []event{{"", "[DONE]"}}},
		{"unterminated line dropped", "data: a\n\ndata: {\"cut", []event{{"", "a"}}},
		{"pending kept, unterminated dropped", "data: a\ndata: b", []event{{"", "a"}}},
		{"done", "data: [DONE]\n\n", []event{{"", "[DONE]"}}},
		{"1 MiB line", "data: " + long + "\n\n", []event{{"", long}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		for _, m := range readerModes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				got, err := readEvents(m.new([]byte(tt.in)))
				if err != io.EOF {
					t.Fatalf("ended with %v, want io.EOF", err)
				}
				if !equalEvents(got, tt.want) {
					t.Errorf("events = %q, want %q", clipEvents(got), clipEvents(tt.want))
				}
				if _, err := m.new([]byte(tt.in)).Next(); err == nil && len(tt.want) == 0 {
					t.Error("an event came from input with none")
				}
			})
		}
	}
}

func equalEvents(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func clipEvents(evs []event) []event {
	out := make([]event, len(evs))
	for i, e := range evs {
		out[i] = event{e.Type, Clip(e.Data, 40)}
	}
	return out
}

func TestSSEReaderLineTooLong(t *testing.T) {
	in := "data: " + strings.Repeat("x", maxSSELine+1) + "\n\n"
	_, err := readEvents(newSSEReader(strings.NewReader(in)))
	if c := classOf(t, err); c != ClassMalformed {
		t.Fatalf("class = %v (%v), want malformed", c, err)
	}
}

func TestSSEReaderEventTooLong(t *testing.T) {
	line := "data: " + strings.Repeat("x", 1<<20) + "\n"
	in := strings.Repeat(line, maxSSELine>>20+1) + "\n"
	_, err := readEvents(newSSEReader(strings.NewReader(in)))
	if c := classOf(t, err); c != ClassMalformed {
		t.Fatalf("class = %v (%v), want malformed", c, err)
	}
}

func TestSSEReaderReadError(t *testing.T) {
	boom := errors.New("connection reset by peer")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	p := newSSEReader(r)
	got, err := readEvents(p)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if !equalEvents(got, []event{{"", "a"}}) {
		t.Errorf("events = %q, want only a: data of a broken event is not dispatched", got)
	}
	if _, again := p.Next(); !errors.Is(again, boom) {
		t.Errorf("second Next = %v, want the same error", again)
	}
}

func TestSSEReaderFixtures(t *testing.T) {
	// The same stream in three line-ending styles must give the same events,
	// keep-alives and fields aside.
	want, err := readEvents(newSSEReader(bytes.NewReader(readFixture(t, "stream_normal.txt"))))
	if err != io.EOF || len(want) != 13 {
		t.Fatalf("normal fixture: %d events, %v", len(want), err)
	}
	for _, name := range []string{"stream_keepalive_crlf.txt", "stream_cr.txt"} {
		got, err := readEvents(newSSEReader(bytes.NewReader(readFixture(t, name))))
		if err != io.EOF {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range got {
			got[i].Type = "" // the CRLF fixture names them "message"
		}
		if !equalEvents(got, want) {
			t.Errorf("%s: events differ from stream_normal.txt:\n got %q\nwant %q", name, got, want)
		}
	}
}

// A line that is no SSE field and holds a '{' is a garbled data line: the
// stream is malformed there, after the events before it, rather than the
// chunk it held lost without a word. Other unknown fields are ignored, as
// the spec says.
func TestGarbledDataLineIsMalformed(t *testing.T) {
	in := "data: {\"a\":1}\n\nata: {\"choices\":[]}\n\ndata: {\"b\":2}\n\n"
	got, err := readEvents(newSSEReaderFrom(bufio.NewReader(strings.NewReader(in))))
	var e *Error
	if !errors.As(err, &e) || e.Class != ClassMalformed || len(got) != 1 || got[0].Data != `{"a":1}` {
		t.Fatalf("events %q, err %v; want the first event, then malformed", got, err)
	}
	got, err = readEvents(newSSEReaderFrom(bufio.NewReader(strings.NewReader("id: 7\nfoo: bar\ndata: x\n\n"))))
	if err != io.EOF || len(got) != 1 || got[0].Data != "x" {
		t.Fatalf("events %q, err %v; want unknown fields without '{' ignored", got, err)
	}
}
