package sim

import "sync/atomic"

// Stats counts what a server has answered since it started. Requests counts
// every /v1 request; each of them ends in exactly one outcome, so once none
// is in flight the outcomes add up to Requests.
type Stats struct {
	Requests uint64 `json:"requests"`
	// Chats counts the chat requests (both APIs) among Requests, and
	// ChatsDown those of them refused because the server was down (an
	// outage or ModeDown): what a router sent it while it was down.
	Chats       uint64 `json:"chats"`
	ChatsDown   uint64 `json:"chats_down"`
	OK          uint64 `json:"ok"`           // answered in full
	Rejected    uint64 `json:"rejected"`     // client errors: 400, 401, 404, 413
	Unavailable uint64 `json:"unavailable"`  // 503 (Anthropic: 529) for an outage or ModeDown
	RateLimited uint64 `json:"rate_limited"` // 429
	Failed      uint64 `json:"failed"`       // injected error statuses
	Cut         uint64 `json:"cut"`          // connection dropped mid-answer
	Stalled     uint64 `json:"stalled"`      // went silent until the client left
	Errored     uint64 `json:"errored"`      // ended by an error event mid-answer (not streamed: an error status)
	Canceled    uint64 `json:"canceled"`     // the client left, or the server closed, first
	// SilentClosed counts requests read, held and closed with no answer.
	SilentClosed uint64 `json:"silent_closed"`
	// Prefills counts the chat requests that ended with the assistant's
	// text, continued or refused (beside their outcome); Garbled counts the
	// streams that carried a garbage event (beside theirs).
	Prefills uint64 `json:"prefills"`
	Garbled  uint64 `json:"garbled"`
	// LastUser is the end user (OpenAI's user, Anthropic's
	// metadata.user_id) of the last well-formed chat request, "" if it
	// named none: the one thing kept of what a client sent, so that a
	// client's test can see the field arrive.
	LastUser string `json:"last_user"`
}

// outcome is how one request ended.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeRejected
	outcomeUnavailable
	outcomeRateLimited
	outcomeFailed
	outcomeCut
	outcomeStalled
	outcomeErrored
	outcomeCanceled
	outcomeSilentClosed
	numOutcomes
)

// counters are the live, lock-free form of Stats.
type counters struct {
	requests atomic.Uint64
	chats    atomic.Uint64
	down     atomic.Uint64 // chats refused while down
	outcomes [numOutcomes]atomic.Uint64
	lastUser atomic.Pointer[string]
	prefills atomic.Uint64
	garbled  atomic.Uint64
}

func (c *counters) count(o outcome) { c.outcomes[o].Add(1) }

// Stats returns the counters as they are now.
func (s *Server) Stats() Stats {
	o := &s.stats.outcomes
	var user string
	if u := s.stats.lastUser.Load(); u != nil {
		user = *u
	}
	return Stats{
		LastUser:     user,
		Requests:     s.stats.requests.Load(),
		Chats:        s.stats.chats.Load(),
		ChatsDown:    s.stats.down.Load(),
		OK:           o[outcomeOK].Load(),
		Rejected:     o[outcomeRejected].Load(),
		Unavailable:  o[outcomeUnavailable].Load(),
		RateLimited:  o[outcomeRateLimited].Load(),
		Failed:       o[outcomeFailed].Load(),
		Cut:          o[outcomeCut].Load(),
		Stalled:      o[outcomeStalled].Load(),
		Errored:      o[outcomeErrored].Load(),
		Canceled:     o[outcomeCanceled].Load(),
		SilentClosed: o[outcomeSilentClosed].Load(),
		Prefills:     s.stats.prefills.Load(),
		Garbled:      s.stats.garbled.Load(),
	}
}
