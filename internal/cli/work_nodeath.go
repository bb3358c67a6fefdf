//go:build unix && !linux

package cli

import "syscall"

// setDeathSignal does nothing: only Linux has a parent death signal.
func setDeathSignal(*syscall.SysProcAttr) {}
