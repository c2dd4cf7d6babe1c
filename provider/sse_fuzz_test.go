package provider

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzSSE checks that the SSE parser never panics or hangs, agrees with a
// plain reference parser whatever the read boundaries, and that a whole
// stream over the input has what checkFuzzStream asks of every stream.
func FuzzSSE(f *testing.F) {
	addFixtures(f, "stream_*.txt")
	for _, s := range []string{
		"data: a\r\n\r\n", "data: a\r\rdata: b\n\n", "\xEF\xBB\xBFdata: x\n\n", "data: x", "data: x\n",
		"event: error\ndata: {\"error\":{\"code\":429}}\n\n", "data: {\"choices\":[]}\n\n", ":\n\r\n\r",
		"data: {\"error\":\"boom\"}\n\n", "data: null\n\n", "data: [1]\n\n", "\r\n\n\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, garbled := referenceSSE(in)
		for _, m := range readerModes {
			got, err := readEvents(m.new(in))
			var e *Error
			switch {
			case garbled && (!errors.As(err, &e) || e.Class != ClassMalformed):
				t.Fatalf("%s: a garbled line ended the stream with %v, want it malformed", m.name, err)
			case !garbled && err != io.EOF:
				t.Fatalf("%s: ended with %v", m.name, err)
			}
			if !equalEvents(got, want) {
				t.Fatalf("%s: events %q, reference %q", m.name, got, want)
			}
			for _, ev := range got {
				if strings.ContainsAny(ev.Type, "\r\n") || strings.Contains(ev.Data, "\r") {
					t.Fatalf("%s: line break kept in %q", m.name, ev)
				}
			}
		}

		checkFuzzStream(t, in, streamOver(in))
	})
}

// streamOver returns an OpenAI event stream reading in as its body,
// without HTTP and with no time limits.
func streamOver(in []byte) *eventStream {
	return readerStream(in, bodySSE, &openAIDecoder{key: testKey}, 0)
}

// referenceSSE parses a whole input the simple way, as the spec reads:
// split into lines, then apply fields. It shares nothing with sseReader.
func referenceSSE(in []byte) (evs []event, garbled bool) {
	s := strings.TrimPrefix(string(in), "\xEF\xBB\xBF")
	var lines []string
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			break // an unterminated last line is dropped
		}
		lines = append(lines, s[:i])
		if strings.HasPrefix(s[i:], "\r\n") {
			i++
		}
		s = s[i+1:]
	}
	var data strings.Builder
	typ, hasData := "", false
	dispatch := func() {
		if hasData {
			d := data.String()
			evs = append(evs, event{typ, d[:len(d)-1]})
		}
		data.Reset()
		typ, hasData = "", false
	}
	for _, l := range lines {
		switch {
		case l == "":
			dispatch()
			continue
		case strings.HasPrefix(l, ":"):
			continue
		}
		name, value, _ := strings.Cut(l, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "event":
			typ = value
		case "id", "retry":
		default:
			if strings.Contains(l, "{") {
				return evs, true // a garbled data line: the stream ends there
			}
		}
	}
	dispatch() // complete lines pending at the end still count
	return evs, false
}
