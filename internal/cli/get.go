package cli

import (
	"context"
	"io"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/spf13/cobra"
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
done, its state (running, succeeded, failed or cancelled), its result and
its metadata and response as JSON when their types are known to lro, else
their type and size. With -o json, print the operation as protobuf JSON.`,
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
	op, err := c.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: o.name})
	if err != nil {
		return err
	}
	return writeOperation(o.stdout, op, o.json())
}
