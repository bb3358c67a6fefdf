package cli

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// MainProcess is Main for the lro process: it runs args (without the
// program name) with the process's standard streams, and returns the exit
// code. It handles SIGINT and SIGTERM. The first one cancels the command's
// context: an RPC under way ends, and lro serve begins its graceful
// shutdown. A second one ends lro serve's shutdown grace at once (its
// running operations are released, to run again as soon as a server is
// back) and kills any other command; a third kills the process.
func MainProcess(args []string) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &signals{second: make(chan struct{})}
	ctx = context.WithValue(ctx, signalsKey{}, s)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		signal.Reset(os.Interrupt, syscall.SIGTERM) // the next signal kills
		if s.serving.Load() {
			close(s.second)
			return
		}
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Signal(sig) // as if unhandled
		}
	}()
	return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// signals tells lro serve about the process's second signal.
type signals struct {
	serving atomic.Bool   // lro serve runs: a second signal closes second rather than kill
	second  chan struct{} // closed at the second signal
}

type signalsKey struct{}

// secondSignal returns a channel that is closed when the process receives a
// second SIGINT or SIGTERM, and makes that signal end lro serve's grace
// instead of killing the process; nil when ctx does not come from
// MainProcess.
func secondSignal(ctx context.Context) <-chan struct{} {
	s, _ := ctx.Value(signalsKey{}).(*signals)
	if s == nil {
		return nil
	}
	s.serving.Store(true)
	return s.second
}
