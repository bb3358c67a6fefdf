//go:build linux || darwin

package server

import "syscall"

// RaiseFileLimit raises the process's soft limit of open files to its hard
// limit, so that a server with many connections does not run out of files
// (each connection is one) before its caps; lro serve calls it at start.
// It returns the limit in force.
func RaiseFileLimit() (uint64, error) {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return 0, err
	}
	if limit.Cur < limit.Max {
		raised := limit
		raised.Cur = limit.Max
		// Refused where the hard limit is above what the system allows a
		// process (macOS): the soft limit stays as it is.
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			limit = raised
		}
	}
	return limit.Cur, nil
}

// fileLimit is the process's soft limit of open files; 0 if unknown.
func fileLimit() uint64 {
	var limit syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit) != nil {
		return 0
	}
	return limit.Cur
}
