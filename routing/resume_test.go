package routing

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/provider"
)

// story is the whole answer every storyteller gives.
const story = "The quick brown fox jumps over the lazy dog, and then it runs far away into the hills."

// teller is a loopback upstream that tells story, in chunks of eight bytes.
// Asked from the start, it cuts the stream after cutAt bytes (never, when
// cutAt is 0). Asked to carry on from an assistant prefill, it does as
// onPrefill says: "continue" (the rest of the story), "cut" (the rest, cut
// after cutAt bytes again), "refuse" (a 400, as providers that take no prefill answer) or
// "restart" (the whole story again, ignoring the prefill).
type teller struct {
	srv       *httptest.Server
	requests  atomic.Int64
	resumedAt atomic.Int64 // max_tokens of the last request to carry the answer on
	cutAt     int
	onPrefill string
	stall     bool // at cutAt, go silent until the client gives up, rather than cut
}

func newTeller(t *testing.T, cutAt int, onPrefill string) *teller {
	tl := &teller{cutAt: cutAt, onPrefill: onPrefill}
	tl.srv = httptest.NewServer(http.HandlerFunc(tl.serve))
	t.Cleanup(tl.srv.Close)
	return tl
}

// stalling makes tl go silent where it would cut.
func stalling(tl *teller) *teller {
	tl.stall = true
	return tl
}

func (tl *teller) serve(w http.ResponseWriter, r *http.Request) {
	tl.requests.Add(1)
	var req struct {
		Messages  []provider.Message `json:"messages"`
		MaxTokens int64              `json:"max_tokens"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	text, cut := story, tl.cutAt
	if last := req.Messages[len(req.Messages)-1]; last.Role == "assistant" {
		tl.resumedAt.Store(req.MaxTokens)
		switch tl.onPrefill {
		case "refuse":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"the final message must not be an assistant message","type":"invalid_request_error"}}`)
			return
		case "continue":
			text, cut = strings.TrimPrefix(story, last.Content), 0
		case "cut":
			text = strings.TrimPrefix(story, last.Content)
		case "restart":
			cut = 0
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for i := 0; i < len(text); i += 8 {
		if cut > 0 && i >= cut {
			if tl.stall {
				<-r.Context().Done()
			}
			return // the connection ends with no finish reason: a cut
		}
		chunk, _ := json.Marshal(text[i:min(i+8, len(text))])
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n", chunk)
		w.(http.Flusher).Flush()
	}
	fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
}

// A stream that breaks after content reached the caller carries on from the
// text already sent, trying the same endpoint once, then the model's other
// endpoints, then the fallback models' endpoints, each only where it takes
// a prefill; a refused prefill or a restart moves on to the next. After a
// stall, the stalled endpoint comes last, only when no other can carry on. The
// caller gets the whole story, every byte once, and no upstream more
// requests than the rule allows.
func TestResumeAnywhere(t *testing.T) {
	type ep struct {
		model, name string
		tl          *teller
		prefill     bool
	}
	for _, tc := range []struct {
		name     string
		eps      func() []ep
		attempts string
		requests map[string]int64
	}{
		{"the same endpoint survives its cut", func() []ep {
			return []ep{{"m", "flaky", newTeller(t, 24, "continue"), true}}
		}, "flaky:stream_cut flaky:ok", map[string]int64{"flaky": 2}},
		{"then the model's others, then a fallback model", func() []ep {
			return []ep{{"m", "cuts", newTeller(t, 24, "cut"), true}, {"m", "noprefill", newTeller(t, 0, "continue"), false},
				{"m", "also", newTeller(t, 8, "cut"), true}, {"f", "fallback", newTeller(t, 0, "continue"), true}}
		}, "cuts:stream_cut cuts:stream_cut also:stream_cut also:stream_cut fallback:ok",
			map[string]int64{"cuts": 2, "noprefill": 0, "also": 2, "fallback": 1}},
		{"a stall moves on first", func() []ep {
			return []ep{{"m", "stalls", stalling(newTeller(t, 24, "continue")), true}, {"m", "other", newTeller(t, 0, "continue"), true}}
		}, "stalls:stall other:ok", map[string]int64{"stalls": 1, "other": 1}},
		{"a stall comes back when nothing else can carry on", func() []ep {
			return []ep{{"m", "stalls", stalling(newTeller(t, 24, "continue")), true}, {"m", "noprefill", newTeller(t, 0, "continue"), false}}
		}, "stalls:stall stalls:ok", map[string]int64{"stalls": 2, "noprefill": 0}},
		{"a refused prefill moves on", func() []ep {
			return []ep{{"m", "cuts", newTeller(t, 24, "refuse"), true}, {"f", "fallback", newTeller(t, 0, "continue"), true}}
		}, "cuts:stream_cut cuts:bad_request fallback:ok", map[string]int64{"cuts": 2, "fallback": 1}},
		{"a restart is not passed on", func() []ep {
			return []ep{{"m", "cuts", newTeller(t, 40, "restart"), true}, {"f", "fallback", newTeller(t, 0, "continue"), true}}
		}, "cuts:stream_cut cuts:malformed fallback:ok", map[string]int64{"cuts": 2, "fallback": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps := tc.eps()
			var reps []Endpoint
			for i, e := range eps {
				reps = append(reps, Endpoint{ID: e.model + "@" + e.name, Provider: e.name, Model: e.model, UpstreamModel: "u",
					PriceIn: float64(i + 1), Prefill: e.prefill, Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: e.tl.srv.URL})})
			}
			r := routerOver(t, Options{}, reps...)
			req := ask("tell me")
			req.Timeouts.Stall = 50 * time.Millisecond
			if eps[len(eps)-1].model == "f" {
				req.Models = []string{"f"}
			}
			var streamed strings.Builder
			res, err := r.Send(t.Context(), req, func(d Delta) { streamed.WriteString(d.Content) })
			if err != nil {
				t.Fatalf("%v; attempts %v", err, outcomes(res.Trace))
			}
			if streamed.String() != story {
				t.Errorf("the caller got %q\nwant        %q", streamed.String(), story)
			}
			if got := strings.Join(outcomes(res.Trace), " "); got != tc.attempts {
				t.Errorf("attempts %s, want %s", got, tc.attempts)
			}
			for _, a := range res.Trace.Attempts[1:] {
				if !a.Resumed {
					t.Errorf("attempt %+v carried the answer on but is not marked resumed", a)
				}
			}
			// The upstream caps what it generates: the three chunks
			// (tokens) sent before the first cut count against max_tokens.
			if tl := eps[0].tl; tc.requests[eps[0].name] > 1 && tl.resumedAt.Load() >= int64(req.MaxTokens) {
				t.Errorf("the resumed request asked for max_tokens %d of the caller's %d", tl.resumedAt.Load(), req.MaxTokens)
			}
			for _, e := range eps {
				if got := e.tl.requests.Load(); got != tc.requests[e.name] {
					t.Errorf("%s saw %d requests, want %d", e.name, got, tc.requests[e.name])
				}
			}
		})
	}
}
