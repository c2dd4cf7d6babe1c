package routing

import (
	"strings"
	"testing"
	"time"

	"switchboard/monitor/monitortest"
	"switchboard/provider"
	"switchboard/sim"
	"switchboard/sim/simtest"
)

// cheapAndDear is a router with o over two simulated providers of model m,
// cheap and dear, on o's clock.
func cheapAndDear(t *testing.T, o Options) (r *Router, cheap, dear *sim.Server) {
	t.Helper()
	cheap, dear = simtest.Start(t, sim.Profile{Name: "cheap"}), simtest.Start(t, sim.Profile{Name: "dear"})
	endpoint := func(name, url string, price float64) Endpoint {
		return Endpoint{ID: "m@" + name, Provider: name, Model: "m", UpstreamModel: "m", PriceIn: price,
			Upstream: provider.NewOpenAI(provider.OpenAIOptions{BaseURL: url, Now: o.Clock.Now})}
	}
	return routerOver(t, o, endpoint("cheap", cheap.URL(), 0.01), endpoint("dear", dear.URL(), 10)), cheap, dear
}

// The requests of one conversation go to the endpoint that served it last,
// while it is healthy, for StickyIdle without a request; not when the
// request gives an order. A conversation is its session, else its first
// system and user message. Each upstream counts what it was sent.
func TestStickyRouting(t *testing.T) {
	clk := monitortest.NewClock()
	r, cheap, dear := cheapAndDear(t, Options{Clock: clk})
	send := func(req Request) *Result {
		t.Helper()
		res, err := r.Send(t.Context(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := ask("a long conversation")
	first.Provider.Only = []string{"dear"}
	if res := send(first); res.Provider != "dear" {
		t.Fatalf("served by %s", res.Provider)
	}

	// The next turn: its first user message is the same; dear first.
	next := ask("a long conversation")
	next.Messages = append(next.Messages, provider.Message{Role: "assistant", Content: "Yes."}, provider.Message{Role: "user", Content: "Go on."})
	res := send(next)
	if c := res.Trace.Ranked()[0]; res.Provider != "dear" || c.Provider != "dear" || !strings.HasPrefix(c.Why, "sticky: ") {
		t.Fatalf("served by %s; first candidate %s (%s)", res.Provider, c.Provider, c.Why)
	}
	if got := dear.Stats().Requests; got != 2 || cheap.Stats().Requests != 0 {
		t.Fatalf("dear saw %d, cheap %d; want 2 and 0", got, cheap.Stats().Requests)
	}

	// A conversation held by cheap, which the draw puts first anyway (a
	// million times as likely as dear): the trace still says why it is
	// there.
	cheapFirst := ask("a short conversation")
	cheapFirst.Provider.Only = []string{"cheap"}
	send(cheapFirst)
	if c := send(ask("a short conversation")).Trace.Ranked()[0]; c.Provider != "cheap" || !strings.HasPrefix(c.Why, "sticky: ") {
		t.Errorf("held by cheap, drawn first: first candidate %s (%s)", c.Provider, c.Why)
	}

	// A session names the conversation, whatever its messages.
	s1 := ask("one thing")
	s1.Session, s1.Provider.Only = "chat-42", []string{"dear"}
	send(s1)
	s2 := ask("something else entirely")
	s2.Session = "chat-42"
	if res := send(s2); res.Provider != "dear" {
		t.Errorf("the session's second request went to %s", res.Provider)
	}

	// An order wins over stickiness.
	ordered := ask("a long conversation")
	ordered.Provider.Order = []string{"cheap"}
	if res := send(ordered); res.Provider != "cheap" {
		t.Errorf("with order [cheap], served by %s", res.Provider)
	}
	// That turn went to cheap, which now holds the conversation; after
	// StickyIdle without a request, nothing does: the plan's own pick.
	send(first) // dear again, by only
	clk.Advance(StickyIdle)
	if res := send(ask("a long conversation")); strings.HasPrefix(res.Trace.Ranked()[0].Why, "sticky") {
		t.Errorf("after %s idle the conversation still stuck: %s", StickyIdle, res.Trace.Ranked()[0].Why)
	}

	// An endpoint that is not healthy does not hold its conversations.
	send(first)
	for range 3 {
		r.opts.Health.Record("m@dear", provider.Outcome{Class: provider.ClassServer})
	}
	clk.Advance(time.Second)
	if res := send(ask("a long conversation")); res.Provider != "cheap" {
		t.Errorf("dear is down, yet served by %s", res.Provider)
	}
}

// A router tells the fleet (ShareSticky) of a conversation's endpoint when
// it is new, and again only after stickyReshare while it stays; what it
// was told by the fleet (Stick) it does not tell again, and acts on: the
// conversation's next request goes there.
func TestStickyShared(t *testing.T) {
	clk := monitortest.NewClock()
	var told []string
	share := func(model, conversation, endpoint string) { told = append(told, model+" "+conversation+" "+endpoint) }
	r, _, _ := cheapAndDear(t, Options{Clock: clk, ShareSticky: share})
	send := func(session string) string {
		t.Helper()
		req := ask("hello")
		req.Session = session
		res, err := r.Send(t.Context(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Provider
	}
	send("a")
	send("a")
	if want := []string{"m s:a m@cheap"}; strings.Join(told, "|") != strings.Join(want, "|") {
		t.Fatalf("told the fleet %q; want %q (once, while it stays)", told, want)
	}
	clk.Advance(stickyReshare)
	send("a")
	if len(told) != 2 {
		t.Fatalf("after %s the fleet was told %d times; want again", stickyReshare, len(told))
	}

	// Told by the fleet that b went to dear: its request goes there, and
	// nothing is told back.
	r.Stick("m", "s:b", "m@dear")
	if got := send("b"); got != "dear" {
		t.Errorf("a conversation the fleet sent to dear went to %s here", got)
	}
	if len(told) != 2 {
		t.Errorf("told the fleet %q of a conversation it told", told[2:])
	}
}
