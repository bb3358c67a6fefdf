//go:build unix

package cli

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the command in a process group of its own, so that a
// cancel reaches what it started too, and a terminal's Ctrl-C reaches lro
// work only (which then stops the commands itself).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
}

// signal sends sig to the command's process group.
func (p *proc) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}
