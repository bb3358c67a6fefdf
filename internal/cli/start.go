package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"lro.dev/lro/lropb"
)

// startOptions are the arguments and flags of lro start.
type startOptions struct {
	clientOptions
	kind      string
	input     string // --input: JSON, @FILE or -; empty when not given
	inputSet  bool
	requestID string
	parent    string
	delay     time.Duration // --delay; 0 when not given
	delaySet  bool
	at        string // --at, RFC 3339; "" when not given

	stdin  io.Reader
	stdout io.Writer

	request *lropb.StartOperationRequest // built by Validate
}

func newStartCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &startOptions{stdout: stdout}
	cmd := &cobra.Command{
		Use:   "start KIND",
		Short: "Start an operation",
		Long: `Start an operation of the registered kind KIND (see lro kinds) and print
its name, so that name=$(lro start KIND) works; with -o json, print the
whole operation.

--input is the kind's request as a JSON object in the protobuf JSON mapping
of the kind's request message; @FILE reads it from FILE and - from the
standard input. Without --input the request is empty.

--delay D or --at TIME (RFC 3339) delays the operation: it stays pending
until then (lro get shows when it runs), and may be cancelled meanwhile.`,
		Example: `  lro start demo.sleep --input '{"duration": "30s"}'
  lro start demo.sleep --input @request.json --request-id "$(uuidgen)"
  name=$(lro start demo.sleep) && lro wait "$name"
  lro start demo.sleep --delay 30s
  lro start demo.sleep --at 2026-12-05T10:00:00Z`,
		Args: exactArgs("KIND"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.kind = args[0]
			o.inputSet = cmd.Flags().Changed("input")
			o.delaySet = cmd.Flags().Changed("delay")
			o.stdin = cmd.InOrStdin()
			o.complete()
			if err := o.Validate(); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.input, "input", "", "the request as `JSON` (usually an object), @FILE to read it from FILE, or - for stdin")
	cmd.Flags().StringVar(&o.requestID, "request-id", "", "idempotency key: a repeat with the same `ID` returns the first operation")
	cmd.Flags().DurationVar(&o.delay, "delay", 0, "run the operation after this `DURATION`, such as 30s or 2h")
	cmd.Flags().StringVar(&o.at, "at", "", "run the operation at this `TIME` (RFC 3339, such as 2026-12-05T10:00:00Z)")
	cmd.Flags().StringVar(&o.parent, "parent", "", "the `PARENT` resource that owns the operation, such as projects/p/locations/l")
	return cmd
}

// Validate checks the flags and reads and parses --input into the request.
func (o *startOptions) Validate() error {
	if err := o.clientOptions.Validate(); err != nil {
		return err
	}
	if o.kind == "" {
		return usageErrorf("empty KIND")
	}
	o.request = &lropb.StartOperationRequest{
		Parent:    o.parent,
		Kind:      o.kind,
		RequestId: o.requestID,
	}
	switch {
	case o.delaySet && o.at != "":
		return usageErrorf("--delay and --at: give one or the other")
	case o.delaySet && o.delay < 0:
		return usageErrorf("--delay %v: a delay is not negative", o.delay)
	case o.delaySet:
		o.request.StartTime = &lropb.StartOperationRequest_Delay{Delay: durationpb.New(o.delay)}
	case o.at != "":
		at, err := time.Parse(time.RFC3339Nano, o.at)
		if err != nil {
			return usageErrorf("--at %q: not an RFC 3339 time such as 2026-12-05T10:00:00Z", o.at)
		}
		o.request.StartTime = &lropb.StartOperationRequest_RunAfter{RunAfter: timestamppb.New(at)}
	}
	if !o.inputSet {
		return nil
	}
	data, err := o.readInput()
	if err != nil {
		return usageErrorf("--input: %v", err)
	}
	s, err := parseInput(data)
	if err != nil {
		return usageErrorf("--input: %v", err)
	}
	o.request.KindInput = &lropb.StartOperationRequest_Input{Input: s}
	return nil
}

// readInput returns the JSON text that --input gives.
func (o *startOptions) readInput() ([]byte, error) {
	switch {
	case o.input == "-":
		return io.ReadAll(o.stdin)
	case strings.HasPrefix(o.input, "@"):
		return os.ReadFile(strings.TrimPrefix(o.input, "@"))
	default:
		return []byte(o.input), nil
	}
}

// parseInput parses data as one JSON value: the JSON form of the kind's
// request, usually an object.
func parseInput(data []byte) (*structpb.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty, want JSON such as {\"duration\": \"2s\"}")
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not valid JSON: more after the JSON value")
	}
	value := new(structpb.Value)
	if err := protojson.Unmarshal(data, value); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	return value, nil
}

func (o *startOptions) run(ctx context.Context) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	op, err := c.lro.StartOperation(ctx, o.request)
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.stdout, operationJSON(op))
	}
	_, err = fmt.Fprintln(o.stdout, op.GetName())
	return err
}
