package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// benchModel is the public model every endpoint serves behind Switchboard;
// the mock and the bare proxy take any name.
const benchModel = "bench/model"

// requestBody is the one request every target gets, streamed or not.
func requestBody(stream bool) []byte {
	body := map[string]any{"model": benchModel, "max_tokens": max(64, 2*len(answerWords)),
		"messages": []map[string]string{{"role": "user", "content": "Say twenty words about proxies."}}}
	if stream {
		body["stream"] = true
		body["stream_options"] = map[string]bool{"include_usage": true}
	}
	return mustJSON(body)
}

// loadResult is what one closed-loop run came to.
type loadResult struct {
	ok        int             // whole answers
	errors    int             // anything else
	firstErrs []string        // the first few errors, for the report
	elapsed   time.Duration   // from the first request to the last answer
	latencies []time.Duration // of the whole answers, sorted
}

// rps is whole answers per second.
func (r loadResult) rps() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// percentile is the q-th quantile (0..1) of the latencies, nearest rank.
func (r loadResult) percentile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.latencies))+0.5) - 1
	return r.latencies[min(max(i, 0), len(r.latencies)-1)]
}

// load is the load generator: conc clients, each sending the next request
// as soon as its answer is whole (a closed loop), over keep-alive
// connections, for d. Requests in flight at the end are finished and
// counted.
func load(ctx context.Context, base string, stream bool, conc int, d time.Duration) loadResult {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = conc
	t.DisableCompression = true
	client := &http.Client{Transport: t}
	defer t.CloseIdleConnections()
	body := requestBody(stream)
	url := base + "/chat/completions"

	type worker struct {
		ok, errs  int
		firstErrs []string
		lat       []time.Duration
	}
	ws := make([]worker, conc)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range ws {
		w := &ws[i]
		w.lat = make([]time.Duration, 0, 4096)
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				err := roundTrip(ctx, client, url, body, stream)
				took := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					w.errs++
					if len(w.firstErrs) < 3 {
						w.firstErrs = append(w.firstErrs, err.Error())
					}
					continue
				}
				w.ok++
				w.lat = append(w.lat, took)
			}
		})
	}
	wg.Wait()
	r := loadResult{elapsed: time.Since(start)}
	for _, w := range ws {
		r.ok += w.ok
		r.errors += w.errs
		r.latencies = append(r.latencies, w.lat...)
		for _, e := range w.firstErrs {
			if len(r.firstErrs) < 5 {
				r.firstErrs = append(r.firstErrs, e)
			}
		}
	}
	slices.Sort(r.latencies)
	return r
}

// roundTrip sends one request and reads its answer to the end, checking
// that it is a 200 with the whole answer: for stream:false one JSON
// completion with all the content and finish_reason "stop"; for
// stream:true SSE events whose deltas make up the content, a finish
// reason, a usage chunk and [DONE].
func roundTrip(ctx context.Context, client *http.Client, url string, body []byte, stream bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if !stream {
		return checkCompletion(resp.Body)
	}
	return checkStream(resp.Body)
}

// checkCompletion reads a stream:false answer.
func checkCompletion(r io.Reader) error {
	var c struct {
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
	}
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return fmt.Errorf("the answer is not a JSON completion: %w", err)
	}
	// Drain what follows (a newline) so that the connection is reused.
	io.Copy(io.Discard, r)
	switch {
	case len(c.Choices) != 1:
		return fmt.Errorf("the answer has %d choices, not 1", len(c.Choices))
	case c.Choices[0].Message.Content != answer:
		return fmt.Errorf("the answer's content is %q, not the whole answer", c.Choices[0].Message.Content)
	case c.Choices[0].FinishReason != "stop":
		return fmt.Errorf("the answer's finish_reason is %q, not stop", c.Choices[0].FinishReason)
	}
	return nil
}

// checkStream reads a stream:true answer.
func checkStream(r io.Reader) error {
	var text strings.Builder
	finished, usage, done := false, false, false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue // blank lines between events, keep-alive comments
		}
		if string(data) == "[DONE]" {
			done = true
			continue
		}
		var c struct {
			Choices []struct {
				Delta        struct{ Content string }
				FinishReason *string `json:"finish_reason"`
			}
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
			Error *struct{ Message string }
		}
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("an event is not JSON (%w): %.200s", err, data)
		}
		if c.Error != nil {
			return fmt.Errorf("the stream carries an error: %s", c.Error.Message)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				finished = true
			}
		}
		if c.Usage != nil && c.Usage.CompletionTokens > 0 {
			usage = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the stream: %w", err)
	}
	switch {
	case text.String() != answer:
		return fmt.Errorf("the streamed content is %q, not the whole answer", text.String())
	case !finished:
		return fmt.Errorf("the stream has no finish reason")
	case !usage:
		return fmt.Errorf("the stream has no usage chunk")
	case !done:
		return fmt.Errorf("the stream does not end with [DONE]")
	}
	return nil
}
