package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"switchboard/monitor"
	"switchboard/provider"
)

// Sticky routing, as OpenRouter has it for prompt caches: the requests of
// one conversation go to the endpoint that served it last, while that one
// is healthy, so that the upstream's cache of the conversation's prefix is
// used. A conversation is named by the request's Session, else by its
// first system and first user message. It forgets an endpoint after
// StickyIdle without a request, and never overrides provider.order.

// StickyIdle is how long a conversation keeps its endpoint without a
// request.
const StickyIdle = 10 * time.Minute

// maxSticky bounds the conversations remembered: past it, the idle ones are
// forgotten first, then the oldest.
const maxSticky = 100_000

type stickyKey struct{ model, conversation string }

type stickyEntry struct {
	endpoint string
	used     time.Time
	shared   time.Time // when the fleet was last told of it (Options.ShareSticky)
}

// stickyReshare is how often a conversation that stays on its endpoint is
// told to the fleet again, so that the other replicas do not forget it
// after StickyIdle.
const stickyReshare = StickyIdle / 4

// stickies remembers which endpoint served each conversation last.
type stickies struct {
	mu sync.Mutex
	m  map[stickyKey]stickyEntry
}

// get returns the endpoint that served k last, unless it has been idle for
// StickyIdle.
func (s *stickies) get(k stickyKey, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok || now.Sub(e.used) >= StickyIdle {
		delete(s.m, k)
		return "", false
	}
	return e.endpoint, true
}

// put records that endpoint served k at now. It reports whether the fleet
// should be told: the endpoint is new for k, or the fleet last heard of it
// stickyReshare ago. One told from the fleet (shared) is not told again.
func (s *stickies) put(k stickyKey, endpoint string, now time.Time, shared bool) (tell bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[stickyKey]stickyEntry{}
	}
	old, ok := s.m[k]
	if !ok && len(s.m) >= maxSticky {
		s.prune(now)
	}
	e := stickyEntry{endpoint: endpoint, used: now, shared: old.shared}
	if !ok || old.endpoint != endpoint {
		e.shared = time.Time{}
	}
	tell = !shared && now.Sub(e.shared) >= stickyReshare
	if tell || shared {
		e.shared = now
	}
	s.m[k] = e
	return tell
}

// prune forgets the idle conversations, and if that is not enough, the
// oldest tenth.
func (s *stickies) prune(now time.Time) {
	for k, e := range s.m {
		if now.Sub(e.used) >= StickyIdle {
			delete(s.m, k)
		}
	}
	if len(s.m) < maxSticky {
		return
	}
	type aged struct {
		k    stickyKey
		used time.Time
	}
	all := make([]aged, 0, len(s.m))
	for k, e := range s.m {
		all = append(all, aged{k, e.used})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.used.Compare(b.used) })
	for _, a := range all[:len(all)/10+1] {
		delete(s.m, a.k)
	}
}

// conversation names the request's conversation: its Session, else a hash
// of its first system and first user message; "" when it has neither.
func conversation(req *Request) string {
	if req.Session != "" {
		return "s:" + req.Session
	}
	var system, user *provider.Message
	for i := range req.Messages {
		m := &req.Messages[i]
		switch {
		case m.Role == "system" && system == nil:
			system = m
		case m.Role == "user" && user == nil:
			user = m
		}
	}
	if user == nil {
		return ""
	}
	h := sha256.New()
	if system != nil {
		h.Write([]byte(system.Content))
	}
	h.Write([]byte{0})
	h.Write([]byte(user.Content))
	for _, p := range user.Parts { // its text and its images, in order
		h.Write([]byte{0})
		h.Write([]byte(p.Text + p.ImageURL))
	}
	return "h:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// stick puts the endpoint that served the conversation last at the front of
// its model's leg, when it is healthy and the request gives no order, and
// says so in the trace (also when the plan had put it first).
func (x *run) stick(snap *monitor.Snapshot) {
	if x.conversation == "" || len(x.req.Provider.Order) > 0 || len(x.legs) == 0 {
		return
	}
	l := &x.legs[0]
	model := l.order[0].Model
	id, ok := x.r.stickies.get(stickyKey{model, x.conversation}, snap.At)
	if !ok {
		return
	}
	i := slices.IndexFunc(l.order, func(e *Endpoint) bool { return e.ID == id })
	if st := snap.Status(id); i < 0 || st == nil || st.State != monitor.Healthy {
		return // no longer a candidate, or not healthy
	}
	if c := slices.IndexFunc(x.t.Candidates, func(c Candidate) bool { return c.Endpoint == id }); c >= 0 && x.t.Candidates[c].group != groupHealthy {
		return // planned after the healthy (silent to a request in flight)
	}
	if i > 0 { // first already (the draw's pick too): it stays, and the trace says why all the same
		e := l.order[i]
		l.order = slices.Insert(slices.Delete(l.order, i, i+1), 0, e)
		at := slices.Index(x.t.Order, id)
		x.t.Order = slices.Insert(slices.Delete(x.t.Order, at, at+1), 0, id)
	}
	for j := range x.t.Candidates {
		if c := &x.t.Candidates[j]; c.Endpoint == id {
			c.Why = "sticky: it served this conversation last, and its cache of the prompt may be warm; " + c.Why
		}
	}
}

// remember records the endpoint that answered the conversation.
func (x *run) remember(now time.Time) {
	if x.conversation == "" || x.answer == nil {
		return
	}
	k := stickyKey{x.answer.e.Model, x.conversation}
	if x.r.stickies.put(k, x.answer.e.ID, now, false) && x.r.opts.ShareSticky != nil {
		x.r.opts.ShareSticky(k.model, k.conversation, x.answer.e.ID)
	}
}

// Stick records that another replica of the fleet sent a conversation of a
// model to endpoint (see Options.ShareSticky), so that the conversation's
// next request here goes there as well.
func (r *Router) Stick(model, conversation, endpoint string) {
	r.stickies.put(stickyKey{model, conversation}, endpoint, r.opts.Clock.Now(), true)
}
