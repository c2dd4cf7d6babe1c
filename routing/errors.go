package routing

import (
	"fmt"
	"time"

	"switchboard/monitor"
	"switchboard/provider"
)

// Kind is what a routing failure was, in the router's own terms. The
// gateway's dialects map a kind to an HTTP status and an error type of
// their protocol; the router never speaks HTTP.
type Kind uint8

// The kinds of routing failure.
const (
	KindBadRequest    Kind = iota + 1 // the request is wrong (an option, a name), or a provider refused its input
	KindContentPolicy                 // a provider's moderation refused the input
	KindContextLength                 // the prompt does not fit any endpoint that was tried or planned
	KindUnknownModel                  // a model the router does not serve
	KindNoEndpoints                   // the request's requirements leave no endpoint to try
	KindExhausted                     // every endpoint tried failed
	KindUnavailable                   // every endpoint was down before the request (breakers open), and the last resort failed too
	KindRateLimited                   // the endpoints tried were rate limited
	KindTimeout                       // the request's total time ran out
	KindCanceled                      // the caller went away
	KindInterrupted                   // the answer broke off after streaming to the caller had begun
)

var kindNames = [...]string{"", "bad_request", "content_policy", "context_length", "unknown_model", "no_endpoints",
	"exhausted", "unavailable", "rate_limited", "timeout", "canceled", "interrupted"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k > 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MarshalText makes a kind read as its name in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	i, err := monitor.NameIndex(kindNames[:], b, "kind")
	*k = Kind(i)
	return err
}

// CallersFault reports whether the failure is the request's own (its
// options or its input), so that it says nothing of routing's quality.
func (k Kind) CallersFault() bool {
	switch k {
	case KindBadRequest, KindContentPolicy, KindContextLength, KindUnknownModel, KindCanceled:
		return true
	}
	return false
}

// Error is a routing failure: what kind it was, in plain words, and the
// facts a protocol needs to answer it.
type Error struct {
	Kind    Kind   `json:"kind"`
	Message string `json:"message"`
	// Param names the request field at fault, for a bad request
	// ("provider.order[1]"); "" when none is.
	Param string `json:"param,omitempty"`
	// Class is the class of the last failed attempt, if any.
	Class provider.Class `json:"-"`
	// RetryAfter, when positive, is how long until an endpoint that
	// refused may take the request again: the nearest end of a rate-limit
	// cooldown or of an open breaker's backoff among those that caused the
	// failure.
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
	// Previous lists every failed attempt before this error, as
	// OpenRouter's metadata.previous_errors does.
	Previous []PreviousError `json:"previous_errors,omitempty"`
}

// PreviousError is one failed attempt, as an error answer lists it.
type PreviousError struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Class    string `json:"code"`
	Status   int    `json:"status,omitempty"`
}

func (e *Error) Error() string { return e.Message }

func errorf(k Kind, c provider.Class, format string, args ...any) *Error {
	return &Error{Kind: k, Class: c, Message: fmt.Sprintf(format, args...)}
}

// badRequest is the caller's error about one field of the request.
func badRequest(param, format string, args ...any) *Error {
	e := errorf(KindBadRequest, provider.ClassOK, format, args...)
	e.Param = param
	return e
}
