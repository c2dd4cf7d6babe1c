package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Class is the kind of failure of an upstream call. Every failure is exactly
// one class; the router decides what to do next from it and the monitor counts
// it for or against availability.
type Class uint8

// The classes, in the order the dashboard lists them.
const (
	ClassOK            Class = iota // no failure
	ClassTimeout                    // no answer (or no first token) in time
	ClassConnect                    // could not connect, or the connection was reset before an answer
	ClassRateLimited                // 429, possibly with Retry-After
	ClassOverloaded                 // 503 or 529: the provider is up but shedding load
	ClassServer                     // other 5xx
	ClassAuth                       // 401, 402 or 403 for the key (not moderation)
	ClassNotFound                   // 404: model or route unknown to the upstream
	ClassBadRequest                 // 400, 413, 422: the caller's input
	ClassContextLength              // the prompt does not fit the model's context
	ClassContentPolicy              // refused by moderation
	ClassMalformed                  // an answer that does not parse
	ClassStreamCut                  // the stream ended without a finish
	ClassStall                      // the stream went silent between chunks
	ClassCanceled                   // the caller went away; nobody's fault upstream

	// NumClasses is the number of classes, for arrays indexed by Class.
	NumClasses
)

var classNames = [NumClasses]string{
	"ok", "timeout", "connect", "rate_limited", "overloaded", "server", "auth", "not_found",
	"bad_request", "context_length", "content_policy", "malformed", "stream_cut", "stall", "canceled",
}

// String returns the class's stable snake_case name.
func (c Class) String() string {
	if c < NumClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Classes lists every class, ClassOK first.
func Classes() []Class {
	cs := make([]Class, NumClasses)
	for i := range cs {
		cs[i] = Class(i)
	}
	return cs
}

// UserError reports whether the failure is the caller's (their input was
// refused): it neither lowers availability nor justifies a fallback.
func (c Class) UserError() bool {
	return c == ClassBadRequest || c == ClassContextLength || c == ClassContentPolicy
}

// ProviderError reports whether the failure counts against the endpoint's
// availability: everything but success, user errors, rate limits and
// cancellation by the caller.
func (c Class) ProviderError() bool {
	return c != ClassOK && !c.UserError() && c != ClassRateLimited && c != ClassCanceled
}

// Error is a classified upstream failure.
type Error struct {
	Class      Class
	Status     int           // HTTP status, 0 if the failure came before or outside one
	RetryAfter time.Duration // from a Retry-After header, 0 if none
	Message    string        // the upstream's own words, if any, without secrets
	Err        error         // the underlying error, if any
}

func (e *Error) Error() string {
	s := e.Class.String()
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	} else if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Blip reports whether the failure is often momentary, worth one more try
// on the same endpoint after a short pause: a connection that failed or was
// reset, or a plain 500. A 502, 503 or overloaded answer says the provider
// is struggling; trying elsewhere is faster.
func (e *Error) Blip() bool {
	return e.Class == ClassConnect || e.Class == ClassServer && e.Status == 500
}

// AsError returns err as an *Error, classifying errors that are not one
// (context cancellation, deadlines, anything else as a connection failure).
// It returns nil for nil and io.EOF, which mean success.
func AsError(err error) *Error {
	if err == nil || err == io.EOF {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Class: ClassCanceled, Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Class: ClassTimeout, Err: err}
	}
	return &Error{Class: ClassConnect, Err: err}
}

// ClassOf returns the class of err; ClassOK for nil and io.EOF.
func ClassOf(err error) Class {
	if e := AsError(err); e != nil {
		return e.Class
	}
	return ClassOK
}
