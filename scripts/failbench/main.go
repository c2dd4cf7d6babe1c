// Command failbench measures what a Switchboard binary makes of the faults
// that failover should rescue an answer from: for each fault, an upstream
// that plays it (a real HTTP server on loopback, speaking OpenAI's
// protocol) behind `switchboard serve` with the default settings, in two
// layouts: the faulty endpoint alone on the model asked for, with a
// fallback model in `models`; and the faulty endpoint beside a healthy one
// of the same model. It prints, per fault, layout and streaming or not,
// the outcome the client got (whole answer, clean error, truncated), the
// wall time and the requests each upstream saw.
//
//	go run ./scripts/failbench -bin ./switchboard
//
// scripts/failbench.sh runs it on two revisions, for a before/after table.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// story is every upstream's whole answer, told in chunks of eight bytes.
const story = "The quick brown fox jumps over the lazy dog, and then it runs far away into the hills beyond the river."

// The faults, each played by the faulty upstream (after warm requests that
// give it a history, where the fault is against its own norm).
var faults = []string{"rate_limited_short", "slow_start", "silence_then_close", "cut_then_continue", "refused_prefill", "malformed_event"}

// upstream is one loopback provider.
type upstream struct {
	fault    string // "" for a healthy one
	warm     atomic.Int64
	requests atomic.Int64
	ln       net.Listener
	srv      *http.Server
}

func (u *upstream) url() string { return "http://" + u.ln.Addr().String() + "/v1" }

func startUpstream(fault string) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{fault: fault, ln: ln}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	go u.srv.Serve(ln)
	return u, nil
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet { // the monitor's probe
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":[{"id":"m"}]}`)
		return
	}
	var req struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	warming := lastUser(req.Messages) == "warm"
	if warming {
		u.warm.Add(1)
	} else {
		u.requests.Add(1)
	}
	prefill := ""
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == "assistant" {
		prefill = req.Messages[n-1].Content
	}
	// A fast provider's first token: 20ms (the monitor keeps times in
	// milliseconds, and a loopback answer under one would read as none).
	text, cutAt, delay := strings.TrimPrefix(story, prefill), 0, 20*time.Millisecond
	fault := u.fault
	if warming {
		fault = ""
	}
	switch fault {
	case "rate_limited_short":
		if u.requests.Load() == 1 {
			w.Header().Set("Retry-After", "2")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"rate limited","type":"rate_limit_exceeded"}}`)
			return
		}
	case "slow_start":
		delay = 12 * time.Second // far past its norm of a few ms, under the 30s cap
	case "silence_then_close":
		select {
		case <-time.After(12 * time.Second):
		case <-r.Context().Done():
		}
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
		return
	case "cut_then_continue":
		if prefill == "" {
			cutAt = 40
		}
	case "refused_prefill":
		if prefill != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"the final message must not be an assistant message","type":"invalid_request_error"}}`)
			return
		}
		cutAt = 40
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for i := 0; i < len(text); i += 8 {
		if cutAt > 0 && i >= cutAt {
			return
		}
		if fault == "malformed_event" && i == 40 {
			io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\n\n")
		}
		chunk, _ := json.Marshal(text[i:min(i+8, len(text))])
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n", chunk)
		w.(http.Flusher).Flush()
	}
	io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
}

func lastUser(ms []struct{ Role, Content string }) string {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Role == "user" {
			return ms[i].Content
		}
	}
	return ""
}

// layout is where the faulty upstream stands.
type layout struct {
	name     string
	fallback bool // a fallback model in models; else a second endpoint of the model
}

var layouts = []layout{{"alone + models fallback", true}, {"beside a healthy endpoint", false}}

func config(l layout, faulty, healthy *upstream) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[gateway]\nlisten = \"127.0.0.1:0\"\n\n")
	for _, p := range []struct {
		name string
		u    *upstream
	}{{"faulty", faulty}, {"healthy", healthy}} {
		fmt.Fprintf(&b, "[[provider]]\nname = %q\nbase_url = %q\n\n", p.name, p.u.url())
	}
	b.WriteString("[[model]]\nname = \"bench/asked\"\n\n[[model.endpoint]]\nprovider = \"faulty\"\nupstream_model = \"m\"\nprice_in = 0.1\nprice_out = 0.1\nprefill = true\n\n")
	if l.fallback {
		b.WriteString("[[model]]\nname = \"bench/fallback\"\n\n")
	}
	b.WriteString("[[model.endpoint]]\nprovider = \"healthy\"\nupstream_model = \"m\"\nprice_in = 5\nprice_out = 5\nprefill = true\n")
	return b.String()
}

// result is what one request came to, on the client's side.
type result struct {
	outcome string // "whole answer", "clean error", "truncated"
	took    time.Duration
}

func send(base string, stream, fallback bool, prompt string) result {
	body := map[string]any{"model": "bench/asked", "stream": stream, "max_tokens": 100,
		"messages": []map[string]string{{"role": "user", "content": prompt}}}
	if fallback {
		body["models"] = []string{"bench/fallback"}
	}
	b, _ := json.Marshal(body)
	start := time.Now()
	resp, err := http.Post(base+"/chat/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		return result{"no answer: " + err.Error(), time.Since(start)}
	}
	defer resp.Body.Close()
	if !stream {
		var a struct {
			Choices []struct {
				Message      struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
			Error *struct{ Message string }
		}
		err := json.NewDecoder(resp.Body).Decode(&a)
		took := time.Since(start)
		switch {
		case err != nil:
			return result{"truncated (not JSON)", took}
		case a.Error != nil:
			return result{fmt.Sprintf("clean error (%d)", resp.StatusCode), took}
		case len(a.Choices) == 1 && a.Choices[0].Message.Content == story:
			return result{"whole answer", took}
		}
		return result{"truncated", took}
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return result{fmt.Sprintf("clean error (%d)", resp.StatusCode), time.Since(start)}
	}
	var text strings.Builder
	errored, done := false, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var c struct {
			Choices []struct {
				Delta struct{ Content string }
			}
			Error *struct{ Message string }
		}
		if json.Unmarshal([]byte(data), &c) != nil {
			continue
		}
		if c.Error != nil {
			errored = true
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	took := time.Since(start)
	switch {
	case errored:
		return result{"clean error (in stream)", took}
	case done && text.String() == story:
		return result{"whole answer", took}
	}
	return result{fmt.Sprintf("truncated (%d of %d bytes)", text.Len(), len(story)), took}
}

// serve runs bin serve on config and returns its base URL and a stop.
func serve(bin, dir, cfg string) (string, func(), error) {
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", path, "--no-history")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("serve said nothing: %v", err)
	}
	_, after, _ := strings.Cut(line, "API on ")
	base, _, _ := strings.Cut(after, " ")
	go io.Copy(io.Discard, out)
	return base, stop, nil
}

func main() {
	bin := flag.String("bin", "./switchboard", "the switchboard binary to measure")
	label := flag.String("label", "", "a label for the rows (e.g. before, after)")
	only := flag.String("only", "", "measure only this fault")
	flag.Parse()
	dir, err := os.MkdirTemp("", "failbench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	fmt.Printf("%-8s %-19s %-26s %-6s %-28s %8s  %s\n", "binary", "fault", "layout", "stream", "outcome", "took", "requests faulty/healthy")
	for _, f := range faults {
		if *only != "" && f != *only {
			continue
		}
		for _, l := range layouts {
			for _, stream := range []bool{false, true} {
				faulty, err1 := startUpstream(f)
				healthy, err2 := startUpstream("")
				if err1 != nil || err2 != nil {
					fmt.Fprintln(os.Stderr, err1, err2)
					os.Exit(1)
				}
				base, stop, err := serve(*bin, dir, config(l, faulty, healthy))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				// A history for the faulty endpoint: a few quick answers.
				for range 5 {
					send(base, false, l.fallback, "warm")
				}
				// The monitor folds answers into its 30-minute figures, which
				// the norms read, a bucket (2s) after they came.
				time.Sleep(3 * time.Second)
				r := send(base, stream, l.fallback, "tell me the story")
				fmt.Printf("%-8s %-19s %-26s %-6v %-28s %7.1fs  %d/%d\n", *label, f, l.name, stream, r.outcome, r.took.Seconds(),
					faulty.requests.Load(), healthy.requests.Load())
				stop()
				faulty.srv.Close()
				healthy.srv.Close()
			}
		}
	}
}
