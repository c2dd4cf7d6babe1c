package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
