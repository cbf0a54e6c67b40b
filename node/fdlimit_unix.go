//go:build unix

package node

import "syscall"

// raiseFileLimit raises the process's soft limit on open descriptors to its
// hard limit where it may, and returns the soft limit before and after, and
// the hard limit. ok is false when the limits cannot be read.
func raiseFileLimit() (before, now, hard uint64, ok bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, 0, false
	}
	before, hard = l.Cur, l.Max
	if l.Cur < l.Max {
		l.Cur = l.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		}
	}
	return before, l.Cur, hard, true
}
