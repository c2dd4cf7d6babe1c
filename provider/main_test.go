package provider

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: a handler
// that did not return, a connection not closed, a timer's request not ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
