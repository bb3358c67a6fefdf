package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes of Main.
const (
	exitOK      = 0 // success
	exitFailure = 1 // a failed RPC or other runtime error; wait: the operation failed
	exitUsage   = 2 // a usage error
	exitTimeout = 3 // wait: --timeout passed before the operation was done
)

// Main runs the lro command line args (without the program name) and returns
// the process exit code. Output goes to stdout and stderr; stdin is read only
// for start --input -. Cancelling ctx cancels the RPC under way.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, os.Stdin, stdout, stderr)
}

// run is Main with the standard input given.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if args == nil {
		args = []string{} // cobra reads os.Args when args is nil
	}
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if cmd == nil {
		cmd = root
	}

	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	var rerr *runError
	if errors.As(err, &rerr) {
		fmt.Fprintf(stderr, "lro: %s\n", errorText(rerr.err))
		return exitFailure
	}
	// Everything else comes from cobra (unknown command or flag, wrong
	// arguments) or from a Validate method: a usage error.
	fmt.Fprintf(stderr, "lro: %s\n", err)
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return exitUsage
}

// newRootCommand returns the lro command with all its subcommands.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "lro",
		Short: "Start and follow long-running operations",
		Long: `lro starts and follows long-running operations on an lro server, and runs
the server.

The client commands talk gRPC without transport security to --addr, which
defaults to $LRO_ADDR, else 127.0.0.1:8080. They print a human form by
default and the RPC's response as protobuf JSON with -o json.

Exit codes:
  0  success
  1  a failed RPC or other error, printed as "lro: CODE_NAME: message" on
     stderr; for wait, also an operation that ended with an error
  2  a usage error: unknown command or flag, wrong arguments or flag values
  3  wait --timeout passed before the operation was done`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: checkFlagsUTF8,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newStartCommand(stdout, stderr),
		newGetCommand(stdout, stderr),
		newListCommand(stdout, stderr),
		newWaitCommand(stdout, stderr),
		newCancelCommand(stdout, stderr),
		newDeleteCommand(stdout, stderr),
		newKindsCommand(stdout, stderr),
		newServeCommand(stdout, stderr),
		newMigrateCommand(stdout, stderr),
		newWorkCommand(stdout, stderr),
	)
	markRunErrors(root)
	return root
}

// markRunErrors wraps the RunE of cmd and its subcommands so that the errors
// they return, other than usage errors, are told apart from cobra's own
// (usage) errors.
func markRunErrors(cmd *cobra.Command) {
	if runE := cmd.RunE; runE != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			err := runE(cmd, args)
			var uerr *usageError
			var exit *exitError
			if err == nil || errors.As(err, &uerr) || errors.As(err, &exit) {
				return err
			}
			return &runError{err: err}
		}
	}
	for _, sub := range cmd.Commands() {
		markRunErrors(sub)
	}
}

// usageError is a usage error found by a command: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usageError with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// runError is an error that happened running a command: exit code 1.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// exitError ends the command with an exit code after the command printed
// what it had to say.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// errorText is how an error is shown after "lro: ": "CODE_NAME: message" for
// a gRPC status.
func errorText(err error) string {
	if st, ok := status.FromError(err); ok {
		return codeName(int32(st.Code())) + ": " + st.Message() + tlsHint(st)
	}
	// The lro package's own errors start with "lro: " already.
	return strings.TrimPrefix(err.Error(), "lro: ")
}

// tlsHint says what to try when a connection failed for speaking TLS to a
// server without it, or the other way round: gRPC's own message names
// neither.
func tlsHint(st *status.Status) string {
	if st.Code() != codes.Unavailable {
		return ""
	}
	// A TLS server closes a plain client's connection, which reads EOF or
	// a reset, depending on timing.
	switch msg := st.Message(); {
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return " (the server does not use TLS: leave out --tls, --tls-ca, --tls-cert and --tls-key)"
	case strings.Contains(msg, "error reading server preface"):
		return " (if the server uses TLS, give --tls-ca FILE, or --tls for a certificate the system trusts)"
	}
	return ""
}

// codeName is the google.rpc.Code name of c, such as "NOT_FOUND".
func codeName(c int32) string {
	return code.Code(c).String()
}

// exactArgs is like cobra.ExactArgs, naming the arguments in its error. An
// argument that is not valid UTF-8 is a usage error too: a protobuf string
// cannot carry it.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			if len(args) < len(names) {
				return usageErrorf("missing argument %s", names[len(args)])
			}
			return usageErrorf("unexpected argument %q", args[len(names)])
		}
		for i, a := range args {
			if !utf8.ValidString(a) {
				return usageErrorf("invalid argument %s %q: not valid UTF-8", names[i], a)
			}
		}
		return nil
	}
}

// checkFlagsUTF8 refuses flag values that are not valid UTF-8: the strings
// that the client commands send are protobuf strings, which cannot carry
// them, and a name or DSN that holds them is a mistake.
func checkFlagsUTF8(cmd *cobra.Command, args []string) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if v := f.Value.String(); err == nil && !utf8.ValidString(v) {
			err = usageErrorf("invalid --%s %q: not valid UTF-8", f.Name, v)
		}
	})
	return err
}
