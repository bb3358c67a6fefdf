package cli

import (
	"context"
	"io"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// getOptions are the arguments and flags of lro get.
type getOptions struct {
	clientOptions
	name   string
	stdout io.Writer
}

func newGetCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &getOptions{stdout: stdout}
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show an operation",
		Long: `Show the operation NAME, such as operations/123: its name, whether it is
done, its state (pending, running, succeeded, failed or cancelled), its
result and its metadata and response as JSON when their types are known to
lro, else their type and size. With -o json, print the operation as
protobuf JSON.

While the operation runs, the lease line says when its worker's lease
expires: a live worker renews it (every --heartbeat-interval of the
server), so it stays ahead; a lease that has expired means the worker is
gone, and the operation runs again once the server rescues it.`,
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
	return cmd
}

// Validate checks the arguments and flags.
func (o *getOptions) Validate() error {
	if err := o.clientOptions.Validate(); err != nil {
		return err
	}
	if o.name == "" {
		return usageErrorf("empty NAME")
	}
	return nil
}

func (o *getOptions) run(ctx context.Context) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	var header metadata.MD
	op, err := c.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: o.name}, grpc.Header(&header))
	if err != nil {
		return err
	}
	if o.json() {
		return writeOperation(o.stdout, op, true)
	}
	return writeOperationState(o.stdout, op, liveStateOf(header), time.Now())
}
