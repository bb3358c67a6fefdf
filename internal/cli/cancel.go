package cli

import (
	"context"
	"io"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/emptypb"
)

// nameOptions are the arguments and flags of lro cancel and lro delete.
type nameOptions struct {
	clientOptions
	name   string
	stdout io.Writer
	// call makes the RPC.
	call func(ctx context.Context, c *clients, name string) error
}

func newCancelCommand(stdout, stderr io.Writer) *cobra.Command {
	return newNameCommand(stdout, &cobra.Command{
		Use:   "cancel NAME",
		Short: "Ask for an operation to be cancelled",
		Long: `Ask the server to cancel the operation NAME. Cancellation is asynchronous:
the operation may still finish otherwise; lro wait NAME shows how it ended.
Prints nothing on success (with -o json, the empty response {}).`,
	}, func(ctx context.Context, c *clients, name string) error {
		_, err := c.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
		return err
	})
}

func newDeleteCommand(stdout, stderr io.Writer) *cobra.Command {
	return newNameCommand(stdout, &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an operation",
		Long: `Delete the operation NAME: the server forgets it. This does not cancel it.
Prints nothing on success (with -o json, the empty response {}).`,
	}, func(ctx context.Context, c *clients, name string) error {
		_, err := c.ops.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: name})
		return err
	})
}

// newNameCommand completes cmd, a command that makes one RPC about the
// operation its argument names.
func newNameCommand(stdout io.Writer, cmd *cobra.Command, call func(context.Context, *clients, string) error) *cobra.Command {
	o := &nameOptions{stdout: stdout, call: call}
	cmd.Args = exactArgs("NAME")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.name = args[0]
		o.complete()
		if err := o.Validate(); err != nil {
			return err
		}
		return o.run(cmd.Context())
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// Validate checks the arguments and flags.
func (o *nameOptions) Validate() error {
	if err := o.clientOptions.Validate(); err != nil {
		return err
	}
	if o.name == "" {
		return usageErrorf("empty NAME")
	}
	return nil
}

func (o *nameOptions) run(ctx context.Context) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	if err := o.call(ctx, c, o.name); err != nil {
		return err
	}
	if o.json() {
		return writeProtoJSON(o.stdout, &emptypb.Empty{})
	}
	return nil
}
