package provider

import (
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// pipeStream is a stream of the OpenAI protocol reading from the pipe it
// returns the writing end of.
func pipeStream() (*eventStream, *io.PipeWriter) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancelCause(context.Background())
	return newEventStream(streamConfig{
		parent: context.Background(), ctx: ctx, cancel: cancel,
		wd:    startWatchdog(cancel, watchdogLimits{}),
		start: time.Now(), now: time.Now, where: "test", key: testKey,
		body: pr, kind: bodySSE,
	}, &openAIDecoder{key: testKey}), pw
}

// readerGivenBack reports whether s gave its read buffer back to the pool.
func readerGivenBack(s *eventStream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.br == nil && s.sse == nil
}

// A stream gives its read buffer back to the pool once it ended, however it
// ended, and never while a Next may still read into it: a Close that comes
// while Next waits for the body leaves the buffer to that Next (with -race,
// a buffer given back under a running read is a data race on it).
func TestStreamGivesBackItsReadBuffer(t *testing.T) {
	chunk := "data: " + `{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}` + "\n\n"
	t.Run("read to the end", func(t *testing.T) {
		s := streamOver([]byte(chunk + "data: [DONE]\n\n"))
		if _, err := drain(t, s); err != io.EOF {
			t.Fatalf("stream ended with %v", err)
		}
		if !readerGivenBack(s) {
			t.Error("a stream read to its end kept its read buffer")
		}
	})
	t.Run("closed before reading", func(t *testing.T) {
		s, _ := pipeStream()
		s.Close()
		if !readerGivenBack(s) {
			t.Error("a stream closed before any Next kept its read buffer")
		}
		if _, err := s.Next(); ClassOf(err) != ClassCanceled {
			t.Errorf("Next after Close: %v, want ClassCanceled", err)
		}
	})
	t.Run("closed while Next waits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, pw := pipeStream()
			defer pw.Close()
			done := make(chan error)
			go func() {
				_, err := s.Next()
				done <- err
			}()
			synctest.Wait() // Next is blocked reading the body
			s.Close()
			if err := <-done; ClassOf(err) != ClassCanceled {
				t.Errorf("Next ended with %v, want ClassCanceled", err)
			}
			if !readerGivenBack(s) {
				t.Error("the Next that Close interrupted did not give the read buffer back")
			}
		})
	})
}
