package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unicode"

	"switchboard/config"
	"switchboard/routing"
)

// redactedSecret stands where a secret was in a log line.
const redactedSecret = "[redacted]"

// secretsOf returns every secret the configuration holds: each provider's
// API key and each key of the gateway.
func secretsOf(cfg *config.Config) []string {
	var secrets []string
	for _, p := range cfg.Providers {
		if p.APIKey != "" {
			secrets = append(secrets, p.APIKey)
		}
	}
	for _, k := range append(append([]string(nil), cfg.Gateway.APIKeys...), cfg.Gateway.AdminKeys...) {
		if k != "" {
			secrets = append(secrets, k)
		}
	}
	if cfg.Cluster.Password != "" {
		secrets = append(secrets, cfg.Cluster.Password)
	}
	return secrets
}

// redacting is a slog.Handler that removes every secret from what it
// passes on: the message, and every attribute's key and value that is
// text (strings, errors, Stringers, anything printed), in groups too.
// Whatever logs through it (the gateway, net/http's server and the
// standard logger, which net/http's client uses to report an upstream's
// stray bytes, headers and all) cannot print a key.
type redacting struct {
	next    slog.Handler
	secrets *strings.Replacer
	each    []string // the secrets, longest first
}

// newRedacting wraps next so that none of secrets reaches it.
func newRedacting(next slog.Handler, secrets []string) *redacting {
	// The longest first, so that a key that holds another goes whole.
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, redactedSecret)
	}
	return &redacting{next: next, secrets: strings.NewReplacer(pairs...), each: secrets}
}

// clean is s without the secrets. Text that holds none, nearly all of it,
// is s itself: a Replacer of several secrets copies every text it is
// given, twice, and each request's log line has a dozen.
func (h *redacting) clean(s string) string {
	for _, secret := range h.each {
		if strings.Contains(s, secret) {
			return h.secrets.Replace(s)
		}
	}
	return s
}

func (h *redacting) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *redacting) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.clean(r.Message), r.PC)
	// Added at once: one by one, the record grows its list for each.
	var room [16]slog.Attr
	attrs := room[:0]
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, h.attr(a))
		return true
	})
	out.AddAttrs(attrs...)
	return h.next.Handle(ctx, out)
}

func (h *redacting) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &redacting{next: h.next.WithAttrs(clean), secrets: h.secrets, each: h.each}
}

func (h *redacting) WithGroup(name string) slog.Handler {
	return &redacting{next: h.next.WithGroup(h.clean(name)), secrets: h.secrets, each: h.each}
}

// attr is a without secrets. A value that is neither text nor a group
// (an error, a Stringer, a struct) is replaced by its text without them
// when its text holds one, and passed on as it is otherwise.
func (h *redacting) attr(a slog.Attr) slog.Attr {
	a.Key = h.clean(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.clean(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]slog.Attr, len(group))
		for i, g := range group {
			clean[i] = h.attr(g)
		}
		a.Value = slog.GroupValue(clean...)
	case slog.KindAny:
		a.Value = v
		for _, text := range []string{fmt.Sprint(v.Any()), fmt.Sprintf("%+v", v.Any())} {
			if clean := h.clean(text); clean != text {
				a.Value = slog.StringValue(clean)
				break
			}
		}
	default:
		a.Value = v
	}
	return a
}

// logTo sends everything the process logs to h without the
// configuration's secrets: it returns the logger for the gateway and for
// net/http's server (see gateway.Server.HTTPServer), and routes the
// standard logger, which net/http's client writes to, through it too,
// until restore.
func (s *stack) logTo(h slog.Handler) (logger *slog.Logger, restore func()) {
	logger = slog.New(newRedacting(h, secretsOf(s.cfg)))
	prev, out, flags := slog.Default(), log.Writer(), log.Flags()
	level := slog.SetLogLoggerLevel(slog.LevelWarn) // what libraries log is a warning
	slog.SetDefault(logger)
	return logger, func() {
		slog.SetDefault(prev)
		slog.SetLogLoggerLevel(level)
		log.SetOutput(out)
		log.SetFlags(flags)
	}
}

// lineFeed is a slog.Handler that hands each record, as one line, to the
// dashboard's event log: the dashboard has the screen, and a line written
// to it would be drawn across the panes. It never blocks; when the
// dashboard falls behind, lines are dropped.
type lineFeed struct {
	ch    chan<- string
	attrs string // " key=value" of WithAttrs
}

// maxLogLine bounds a logged line in the event log, which shows its start.
const maxLogLine = 512

func (h lineFeed) Enabled(context.Context, slog.Level) bool { return true }

func (h lineFeed) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	// One line of text: a stack trace's lines, or an upstream's control
	// characters, would break the pane.
	line := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, routing.Clip(b.String(), maxLogLine))
	select {
	case h.ch <- line:
	default:
	}
	return nil
}

func (h lineFeed) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	return lineFeed{ch: h.ch, attrs: b.String()}
}

func (h lineFeed) WithGroup(string) slog.Handler { return h }

// lockedWriter lets goroutines share a writer that may not be safe for
// concurrent use (a test's buffer; a file is), one Write at a time.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// queuedLog is a slog.Handler that leaves the formatting and the writing
// to one goroutine. The gateway logs a request before its handler returns,
// and a stream's last bytes (HTTP's end of the body) go to the client only
// then: written in line, the log line (a few microseconds of formatting and
// a system call) was part of every request's latency. Queued, lines go out
// in the order they were logged, those that come together in one write.
// Until close, which writes what is queued; from then on each line is
// written at once.
type queuedLog struct {
	q      *logQueue
	queued slog.Handler // into q.out, on q's goroutine
	direct slog.Handler // to the output itself, once q is closed
}

// logQueue is the queue of queuedLog and its handlers, and its goroutine.
type logQueue struct {
	mu     sync.RWMutex // closed; held shared while a record is queued
	closed bool
	ch     chan queuedRecord
	out    *bufio.Writer
	done   chan struct{}
}

type queuedRecord struct {
	h   slog.Handler
	ctx context.Context
	r   slog.Record
}

// logQueueLen is how many lines may wait: a logger that gets further
// ahead waits for the writing.
const logQueueLen = 1024

// newQueuedLog returns a text handler writing to out from a goroutine of
// its own, and close, which ends the goroutine once the queue is written.
func newQueuedLog(out io.Writer) (*queuedLog, func()) {
	q := &logQueue{ch: make(chan queuedRecord, logQueueLen), out: bufio.NewWriterSize(out, 32<<10), done: make(chan struct{})}
	go q.run()
	return &queuedLog{q: q, queued: slog.NewTextHandler(q.out, nil), direct: slog.NewTextHandler(out, nil)}, q.close
}

func (q *logQueue) run() {
	defer close(q.done)
	for rec := range q.ch {
		_ = rec.h.Handle(rec.ctx, rec.r)
		if len(q.ch) == 0 {
			_ = q.out.Flush() // nothing more to come at once
		}
	}
	_ = q.out.Flush()
}

func (q *logQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	<-q.done
}

func (h *queuedLog) Enabled(ctx context.Context, l slog.Level) bool { return h.direct.Enabled(ctx, l) }

func (h *queuedLog) Handle(ctx context.Context, r slog.Record) error {
	h.q.mu.RLock()
	defer h.q.mu.RUnlock()
	if h.q.closed {
		return h.direct.Handle(ctx, r)
	}
	h.q.ch <- queuedRecord{h: h.queued, ctx: ctx, r: r.Clone()}
	return nil
}

func (h *queuedLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &queuedLog{q: h.q, queued: h.queued.WithAttrs(as), direct: h.direct.WithAttrs(as)}
}

func (h *queuedLog) WithGroup(name string) slog.Handler {
	return &queuedLog{q: h.q, queued: h.queued.WithGroup(name), direct: h.direct.WithGroup(name)}
}
