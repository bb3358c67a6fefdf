package cli

import "syscall"

// setDeathSignal has the kernel kill the command when lro work dies, even by
// SIGKILL. It reaches the direct child only: what the command starts in
// turn must watch for its parent itself.
func setDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
