package cli

import (
	"context"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"lro.dev/lro/lropb"
)

// kindsOptions are the flags of lro kinds.
type kindsOptions struct {
	clientOptions
	stdout io.Writer
}

func newKindsCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &kindsOptions{stdout: stdout}
	cmd := &cobra.Command{
		Use:   "kinds",
		Short: "List the kinds of operation the server can start",
		Long: `List the kinds of operation the server can start, sorted by name, as a table
of NAME, REQUEST, METADATA and RESPONSE (full message names; - when a kind
reports no metadata), MAX ATTEMPTS, LEASE TTL (how long a lease lasts
without a renewal), RUNS ON (server: the server runs the kind's operations
itself; workers: they wait, pending, for a worker to claim them, as the
kinds of lro serve --kinds do) and SCHEMA (yes when requests must pass a
JSON Schema to start). With -o json, print the ListKindsResponse as
protobuf JSON, schemas included.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
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

func (o *kindsOptions) run(ctx context.Context) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	resp, err := c.lro.ListKinds(ctx, &lropb.ListKindsRequest{})
	if err != nil {
		return err
	}
	if o.json() {
		return writeProtoJSON(o.stdout, resp)
	}
	rows := [][]string{{"NAME", "REQUEST", "METADATA", "RESPONSE", "MAX ATTEMPTS", "LEASE TTL", "RUNS ON", "SCHEMA"}}
	for _, k := range resp.GetKinds() {
		leaseTTL, runsOn, schema := "-", "workers", "-"
		if k.GetLeaseTtl() != nil {
			leaseTTL = k.GetLeaseTtl().AsDuration().String()
		}
		if k.GetHandled() {
			runsOn = "server"
		}
		if k.GetInputSchema() != nil {
			schema = "yes"
		}
		rows = append(rows, []string{orDash(k.GetName()), orDash(k.GetRequestType()), orDash(k.GetMetadataType()),
			orDash(k.GetResponseType()), strconv.Itoa(int(k.GetMaxAttempts())), leaseTTL, runsOn, schema})
	}
	return writeTable(o.stdout, rows)
}

// orDash is s, or "-" when s is empty, for a table cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return cell(s, 200)
}
