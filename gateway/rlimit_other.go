//go:build !unix

package gateway

// openFileLimit is what the process may open where there is no rlimit to
// read: Windows handles are not scarce, so DefaultMaxConnections's ceiling
// applies.
func openFileLimit() int { return 1 << 30 }
