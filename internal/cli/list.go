package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// listOptions are the flags of lro list.
type listOptions struct {
	clientOptions
	parent    string
	filter    string
	pageSize  int32
	pageToken string
	all       bool

	flags          *pflag.FlagSet // the command's flags, to repeat them in the next page's command
	stdout, stderr io.Writer
}

func newListCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &listOptions{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List operations",
		Long: `List the operations of a collection: "operations" by default, or
PARENT/operations with --parent PARENT. Print a table of NAME, DONE, RESULT
(running, succeeded, CANCELLED or CODE_NAME: message) and PROGRESS (the
metadata's progress_percent, when its type is known and has one).

One page is listed, of the server's default size unless --page-size; when
there are more, the command that lists the next one is printed on stderr as
"next page: lro list ... --page-token TOKEN" (the flags given, and the
next page's token: a token belongs to its --parent and --filter). --all lists every page.

With -o json, print the ListOperationsResponse as protobuf JSON; with --all,
every operation in one {"operations": [...]}.`,
		Example: `  lro list
  lro list --parent projects/p/locations/l --filter 'done = false' --all
  lro list -o json --all | jq -r '.operations[]?.name'`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.flags = cmd.Flags()
			o.complete()
			if err := o.Validate(); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&o.parent, "parent", "", "list `PARENT`/operations instead of operations")
	fs.StringVar(&o.filter, "filter", "", "the server's `FILTER` expression")
	fs.Int32Var(&o.pageSize, "page-size", 0, "at most `N` operations per page; 0 lets the server choose")
	fs.StringVar(&o.pageToken, "page-token", "", "the page to list: the `TOKEN` that the previous one printed")
	fs.BoolVar(&o.all, "all", false, "list every page (from --page-token's, if given)")
	return cmd
}

// Validate checks the flags.
func (o *listOptions) Validate() error {
	if err := o.clientOptions.Validate(); err != nil {
		return err
	}
	if o.pageSize < 0 {
		return usageErrorf("negative --page-size %d", o.pageSize)
	}
	return nil
}

// collection is the name of the collection to list.
func (o *listOptions) collection() string {
	if p := strings.TrimSuffix(o.parent, "/"); p != "" {
		return p + "/operations"
	}
	return "operations"
}

func (o *listOptions) run(ctx context.Context) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()

	req := &longrunningpb.ListOperationsRequest{
		Name:      o.collection(),
		Filter:    o.filter,
		PageSize:  o.pageSize,
		PageToken: o.pageToken,
	}
	var (
		ops         []*longrunningpb.Operation
		unreachable []string
		next        string
	)
	seen := map[string]bool{}
	for {
		resp, err := o.listPage(ctx, c, req)
		if err != nil {
			return err
		}
		ops = append(ops, resp.GetOperations()...)
		unreachable = append(unreachable, resp.GetUnreachable()...)
		next = resp.GetNextPageToken()
		if !o.all || next == "" {
			break
		}
		if seen[next] {
			return fmt.Errorf("the server returned page token %q twice", next)
		}
		seen[next] = true
		req.PageToken = next
	}

	if o.json() {
		return writeJSON(o.stdout, listJSON(ops, next, unreachable))
	}
	rows := [][]string{{"NAME", "DONE", "RESULT", "PROGRESS"}}
	for _, op := range ops {
		rows = append(rows, []string{cell(op.GetName(), 200), strconv.FormatBool(op.GetDone()), resultCell(op), progress(op)})
	}
	if err := writeTable(o.stdout, rows); err != nil {
		return err
	}
	for _, u := range unreachable {
		fmt.Fprintf(o.stderr, "unreachable: %s\n", u)
	}
	if next != "" {
		fmt.Fprintf(o.stderr, "next page: %s\n", o.nextCommand(next))
	}
	return nil
}

func (o *listOptions) listPage(ctx context.Context, c *clients, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	return c.ops.ListOperations(ctx, req)
}

// nextCommand is the command line that lists the page after this one: the
// flags given, quoted for a shell, with the next --page-token. A page token
// belongs to its collection and filter, and the address may have come from
// $LRO_ADDR: the command says them all, so that it works as it is, anywhere;
// but for --token, a secret that the output must not show.
func (o *listOptions) nextCommand(token string) string {
	args := []string{"lro", "list"}
	if !o.flags.Changed("addr") && o.addr != defaultAddr {
		args = append(args, "--addr", shellQuote(o.addr)) // from $LRO_ADDR
	}
	o.flags.Visit(func(f *pflag.Flag) {
		if f.Name != "page-token" && f.Name != "token" {
			args = append(args, "--"+f.Name, shellQuote(f.Value.String()))
		}
	})
	args = append(args, "--page-token", shellQuote(token))
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// listJSON is a ListOperationsResponse in the protobuf JSON mapping, with
// operations as operationJSON shows them.
func listJSON(ops []*longrunningpb.Operation, next string, unreachable []string) json.RawMessage {
	var r struct {
		Operations    []json.RawMessage `json:"operations,omitempty"`
		NextPageToken string            `json:"nextPageToken,omitempty"`
		Unreachable   []string          `json:"unreachable,omitempty"`
	}
	for _, op := range ops {
		r.Operations = append(r.Operations, operationJSON(op))
	}
	r.NextPageToken = next
	r.Unreachable = unreachable
	return marshalJSON(r)
}
