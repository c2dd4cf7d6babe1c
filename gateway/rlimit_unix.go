//go:build unix

package gateway

import "syscall"

// openFileLimit is the process's limit on open files (its soft limit, which
// Go raises to the hard one at start).
func openFileLimit() int {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil || r.Cur > 1<<30 {
		return 1 << 30 // unknown or unlimited: DefaultMaxConnections's ceiling applies
	}
	return int(r.Cur)
}
