package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// secretValuer is a LogValuer whose value holds a secret.
type secretValuer struct{ s string }

func (v secretValuer) LogValue() slog.Value { return slog.StringValue("valued " + v.s) }

// stringer is a Stringer whose text holds a secret.
type stringer struct{ s string }

func (v stringer) String() string { return "stringer " + v.s }

// Whatever carries a secret to the log (the message, a string, an error,
// a Stringer, a LogValuer, a struct, a group, attributes and groups added
// to the logger), the line has [redacted] in its place; a key that holds
// another goes whole.
func TestRedactingHandlerRemovesEverySecret(t *testing.T) {
	secrets := []string{"sk-abc", "sk-abc-longer", "gw-key-1"}
	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		log := slog.New(newRedacting(newHandler(&b), secrets)).With("with", "sk-abc").WithGroup("g-gw-key-1")
		log.Warn("upstream said Bearer sk-abc-longer",
			"s", "x sk-abc y", "err", errors.New("401 for gw-key-1"), "str", stringer{"sk-abc"},
			"valuer", secretValuer{"gw-key-1"}, "struct", struct{ Key string }{"sk-abc"},
			slog.Group("inner", "deep", "sk-abc", slog.Group("deeper", "k", fmt.Errorf("wrapped: %w", errors.New("gw-key-1")))),
			"gw-key-1", "a key as a key", "n", 42)
		got := b.String()
		for _, s := range secrets {
			if strings.Contains(got, s) {
				t.Errorf("%q is in the line:\n%s", s, got)
			}
		}
		for _, want := range []string{"Bearer [redacted]", "x [redacted] y", "401 for [redacted]", "stringer [redacted]",
			"valued [redacted]", "{[redacted]}", "wrapped: [redacted]", "a key as a key", "42"} {
			if !strings.Contains(got, want) {
				t.Errorf("the line lacks %q:\n%s", want, got)
			}
		}
	}
}

// A record reaches the event log as one line of text: a stack trace's
// lines and an upstream's control characters become spaces, a long one is
// cut, and a full feed drops lines rather than block the logger.
func TestLineFeedGivesOneLine(t *testing.T) {
	ch := make(chan string, 1)
	log := slog.New(lineFeed{ch: ch}).With("a", 1)
	log.Warn("http: panic serving 127.0.0.1:1: boom\ngoroutine 1 [running]:\n\x1b[2Jmain.main()", "b", "two")
	log.Warn("dropped: the dashboard is behind")
	got := <-ch
	if want := "http: panic serving 127.0.0.1:1: boom goroutine 1 [running]:  [2Jmain.main() a=1 b=two"; got != want {
		t.Errorf("line %q\nwant %q", got, want)
	}
	log.Warn(strings.Repeat("x", 2*maxLogLine))
	if got := <-ch; len(got) > maxLogLine+len("…") {
		t.Errorf("a line of %d bytes", len(got))
	}
}

// BenchmarkRequestLogLine is the gateway's line for one request, through
// the redacting handler of a configuration with three keys, as serve logs
// it (to a text handler).
func BenchmarkRequestLogLine(b *testing.B) {
	var out bytes.Buffer
	log := slog.New(newRedacting(slog.NewTextHandler(&out, nil), []string{"sk-proj-9f8e7d6c5b4a", "sk-ant-api03-1a2b3c", "gw-key-7d8e9f"}))
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		log.LogAttrs(b.Context(), slog.LevelInfo, "chat", slog.String("id", "gen-1765040000-42"), slog.String("request_id", "req_1765040000-42"),
			slog.String("model", "meta-llama/llama-3.3-70b-instruct"), slog.Bool("stream", true), slog.Int("status", 200), slog.String("outcome", "ok"),
			slog.Duration("took", 612*time.Millisecond), slog.Int("attempts", 1),
			slog.String("route", "groq: drawn at random among 5 healthy: 61% chance, $0.59/$0.79 per M"), slog.String("provider", "groq"))
	}
}

// gatedWriter counts its writes and holds the first until opened.
type gatedWriter struct {
	mu      sync.Mutex
	b       bytes.Buffer
	writes  int
	started chan struct{} // closed when the first write begins
	open    chan struct{} // the first write returns once it is closed
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	first := w.writes == 1
	w.mu.Unlock()
	if first {
		close(w.started)
		<-w.open
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// serve's log writes from a goroutine of its own: every line, in the
// order logged (from one goroutine, and with the logger's attributes and
// groups), those queued while a write was under way together in the next
// one, and after close each line at once.
func TestQueuedLogWritesEveryLineInOrder(t *testing.T) {
	w := &gatedWriter{started: make(chan struct{}), open: make(chan struct{})}
	h, closeLog := newQueuedLog(w)
	log := slog.New(h).With("replica", "a").WithGroup("req")
	log.Info("line", "n", 0)
	<-w.started // the first line's write is under way, and holds
	for i := 1; i < 50; i++ {
		log.Info("line", "n", i)
	}
	close(w.open)
	closeLog()
	log.Info("after close", "n", 50)
	lines := strings.Split(strings.TrimSuffix(w.b.String(), "\n"), "\n")
	if len(lines) != 51 {
		t.Fatalf("%d lines, want 51:\n%s", len(lines), w.b.String())
	}
	for i, l := range lines[:50] {
		if want := fmt.Sprintf(`msg=line replica=a req.n=%d`, i); !strings.HasSuffix(l, want) {
			t.Fatalf("line %d is %q, want it to end %q", i, l, want)
		}
	}
	if !strings.HasSuffix(lines[50], `msg="after close" replica=a req.n=50`) {
		t.Errorf("the line logged after close is %q", lines[50])
	}
	// The first line alone, the 49 queued behind it in one write, the
	// last on its own.
	if w.writes != 3 {
		t.Errorf("%d writes, want 3", w.writes)
	}
}
