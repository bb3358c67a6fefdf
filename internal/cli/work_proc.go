package cli

import (
	"os"
	"os/exec"
	"runtime"
)

// A proc is a running command of lro work, with the parent's ends of its
// pipes: standard input, output and error, and file descriptor 3.
type proc struct {
	cmd                  *exec.Cmd
	stdin                *os.File
	stdout, stderr, meta *os.File
	// unlock undoes the thread lock that the parent death signal needs.
	unlock func()
}

// startCommand starts path with args and env in a process group of its own
// (see setProcAttr).
func startCommand(path string, args, env []string) (p *proc, err error) {
	var files []*os.File // every end, closed on error
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		return nil, err
	}
	metaR, metaW, err := pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:       path,
		Args:       args,
		Env:        env,
		Stdin:      inR,
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: []*os.File{metaW},
	}
	setProcAttr(cmd)
	// The parent death signal (Linux) fires when the thread that started
	// the child exits, not the process: keep this goroutine on its thread
	// until the child is reaped.
	runtime.LockOSThread()
	if err := cmd.Start(); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	for _, f := range []*os.File{inR, outW, errW, metaW} {
		f.Close()
	}
	return &proc{cmd: cmd, stdin: inW, stdout: outR, stderr: errR, meta: metaR, unlock: runtime.UnlockOSThread}, nil
}

// wait waits for the command to exit.
func (p *proc) wait() (*os.ProcessState, error) {
	defer p.unlock()
	err := p.cmd.Wait()
	if p.cmd.ProcessState != nil {
		return p.cmd.ProcessState, nil
	}
	return nil, err
}

// closeStreams closes the parent's ends of the pipes (again is harmless).
func (p *proc) closeStreams() {
	for _, f := range []*os.File{p.stdin, p.stdout, p.stderr, p.meta} {
		f.Close()
	}
}
