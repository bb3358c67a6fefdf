//go:build !(linux || darwin)

package server

// RaiseFileLimit does nothing on this system: it returns 0 (unknown).
func RaiseFileLimit() (uint64, error) { return 0, nil }

// fileLimit is 0: unknown on this system.
func fileLimit() uint64 { return 0 }
