//go:build !unix

package cli

import (
	"os/exec"
	"syscall"
)

// setProcAttr does nothing: process groups are a Unix notion.
func setProcAttr(*exec.Cmd) {}

// signal kills the command: there is no SIGTERM to send.
func (p *proc) signal(syscall.Signal) {
	_ = p.cmd.Process.Kill()
}
