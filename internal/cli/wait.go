package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	// waitUnavailableMax is the longest pause between calls while the
	// server is unavailable.
	waitUnavailableMax = 5 * time.Second
	// waitCallTimeout is the timeout of each WaitOperation call: how long
	// the server holds it before it returns the operation not done.
	waitCallTimeout = 250 * time.Millisecond
	// waitCallGrace is how much longer than waitCallTimeout a WaitOperation
	// call may take before the client gives up on it and makes another.
	waitCallGrace = 10 * time.Second
)

// waitPollInterval is the least time between the starts of two calls that
// return the operation not done, so that a server that returns at once
// (ignoring the timeout, or polled with GetOperation because it does not
// implement WaitOperation) is not called in a tight loop.
const waitPollInterval = waitCallTimeout

// terminal is a writer that says itself whether it is a terminal, and how
// many columns it has (0 when unknown): one that is not an *os.File, such
// as the stderr that tests give.
type terminal interface {
	TerminalWidth() (width int, ok bool)
}

// terminalWidth reports whether w is a terminal, where wait shows its
// progress, and how many columns it has (0 when unknown).
func terminalWidth(w io.Writer) (width int, ok bool) {
	if t, ok := w.(terminal); ok {
		return t.TerminalWidth()
	}
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0, true
	}
	return width, true
}

// waitOptions are the arguments and flags of lro wait.
type waitOptions struct {
	clientOptions
	name    string
	timeout time.Duration

	stdout, stderr io.Writer
}

func newWaitCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &waitOptions{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "wait NAME",
		Short: "Wait for an operation to be done and show it",
		Long: `Wait for the operation NAME to be done, then show it like lro get.

While it waits on a terminal, the operation's state and progress show on
stderr on one line, cleared when done; elsewhere nothing is printed while
waiting. When the server is unavailable (it restarts, or its store does not
answer) the wait goes on: it says so once on stderr and tries again, every
5s at most.

Exit codes:
  0  the operation succeeded
  1  the operation ended with an error (it is shown first), or an RPC failed
  3  --timeout passed first: the operation's latest state is shown, and
     "lro: NAME is not done after TIMEOUT" on stderr`,
		Example: `  lro wait operations/123 --timeout 5m
  name=$(lro start demo.sleep --input '{"duration": "10s"}') && lro wait "$name"`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			o.complete()
			if err := o.Validate(); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "give up after `DURATION`, with exit code 3; 0 waits for ever")
	return cmd
}

// Validate checks the arguments and flags.
func (o *waitOptions) Validate() error {
	if err := o.clientOptions.Validate(); err != nil {
		return err
	}
	if o.name == "" {
		return usageErrorf("empty NAME")
	}
	if o.timeout < 0 {
		return usageErrorf("negative --timeout %v", o.timeout)
	}
	return nil
}

func (o *waitOptions) run(ctx context.Context) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()

	waitCtx, cancel := ctx, context.CancelFunc(func() {})
	if o.timeout > 0 {
		waitCtx, cancel = context.WithTimeout(ctx, o.timeout)
	}
	defer cancel()

	var line progressLine
	if width, ok := terminalWidth(o.stderr); ok {
		line.w, line.width = o.stderr, width
	}
	op, err := o.wait(waitCtx, c, &line)
	line.clear()
	if err != nil && ctx.Err() == nil && waitCtx.Err() != nil {
		// --timeout passed: show the latest state.
		getCtx, cancel := context.WithTimeout(ctx, rpcTimeout)
		defer cancel()
		op, err = c.ops.GetOperation(getCtx, &longrunningpb.GetOperationRequest{Name: o.name})
		if err != nil {
			return err
		}
		if err := writeOperation(o.stdout, op, o.json()); err != nil {
			return err
		}
		if !op.GetDone() {
			fmt.Fprintf(o.stderr, "lro: %s is not done after %v\n", o.name, o.timeout)
			return &exitError{code: exitTimeout}
		}
	} else if err != nil {
		return err
	} else if err := writeOperation(o.stdout, op, o.json()); err != nil {
		return err
	}
	if op.GetError() != nil {
		return &exitError{code: exitFailure}
	}
	return nil
}

// wait returns the operation once it is done.
func (o *waitOptions) wait(ctx context.Context, c *clients, line *progressLine) (*longrunningpb.Operation, error) {
	poll := false // whether to use GetOperation: the server has no WaitOperation
	pause := waitPollInterval
	unavailable := false
	for {
		start := time.Now()
		op, err := o.call(ctx, c, poll)
		if status.Code(err) != codes.Unavailable {
			unavailable, pause = false, waitPollInterval
		}
		switch {
		case err == nil:
			if op.GetDone() {
				return op, nil
			}
			line.show(o.name + " " + strings.TrimSpace(state(op)+" "+progress(op)))
		case status.Code(err) == codes.Unavailable && ctx.Err() == nil:
			// The server restarts, or its store does not answer: wait on,
			// saying so once, backing off up to waitUnavailableMax.
			if !unavailable {
				line.clear()
				fmt.Fprintf(o.stderr, "lro: %s; still waiting\n", errorText(err))
				unavailable = true
			} else {
				pause = min(2*pause, waitUnavailableMax)
			}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case status.Code(err) == codes.DeadlineExceeded:
			// This call took too long; make another.
		case status.Code(err) == codes.Unimplemented && !poll:
			poll = true
			continue
		default:
			return nil, err
		}
		if d := pause - time.Since(start); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	}
}

// call makes one WaitOperation call, or GetOperation when poll.
func (o *waitOptions) call(ctx context.Context, c *clients, poll bool) (*longrunningpb.Operation, error) {
	if poll {
		ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		defer cancel()
		return c.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: o.name})
	}
	ctx, cancel := context.WithTimeout(ctx, waitCallTimeout+waitCallGrace)
	defer cancel()
	return c.ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{
		Name:    o.name,
		Timeout: durationpb.New(waitCallTimeout),
	})
}

// progressLine is one line of a terminal rewritten in place. Its zero value,
// or one with a nil w, prints nothing.
type progressLine struct {
	w     io.Writer
	width int // the terminal's columns; 0 when unknown
	last  string
}

// show replaces the line with s.
func (l *progressLine) show(s string) {
	if l.w == nil {
		return
	}
	if r := []rune(s); l.width > 1 && len(r) > l.width-1 {
		s = string(r[:l.width-2]) + "…"
	}
	if s == l.last {
		return
	}
	pad := len([]rune(l.last)) - len([]rune(s))
	if pad < 0 {
		pad = 0
	}
	fmt.Fprintf(l.w, "\r%s%s", s, strings.Repeat(" ", pad))
	l.last = s
}

// clear empties the line and puts the cursor at its start.
func (l *progressLine) clear() {
	if l.w == nil || l.last == "" {
		return
	}
	fmt.Fprintf(l.w, "\r%s\r", strings.Repeat(" ", len([]rune(l.last))))
	l.last = ""
}
