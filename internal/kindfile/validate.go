package kindfile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
)

const (
	// violationsMax bounds the field violations one refused start reports.
	violationsMax = 10
	// descriptionMax bounds one violation's description, which may quote
	// the request.
	descriptionMax = 200
)

// Declared is the kind as lro.Declare takes it: its requests are checked
// against its input_schema, if any, at start.
func (k *Kind) Declared() lro.DeclaredKind {
	d := lro.DeclaredKind{
		Name:        k.Name,
		Request:     k.Request,
		Metadata:    k.Metadata,
		Response:    k.Response,
		InputSchema: k.InputSchema,
		MaxAttempts: k.MaxAttempts,
		LeaseTTL:    k.LeaseTTL,

		Retry:          k.Retry,
		AttemptTimeout: k.AttemptTimeout,
		Timeout:        k.Timeout,
	}
	if k.schema != nil {
		d.Validate = k.validate
	}
	return d
}

// Register declares the kinds on the client.
func Register(c *lro.Client, kinds []*Kind) error {
	for _, k := range kinds {
		if err := lro.Declare(c, k.Declared()); err != nil {
			// lro's own errors begin "lro: ", as this one will be shown.
			return fmt.Errorf("%s:%d: %s", k.file, k.Line, strings.TrimPrefix(err.Error(), "lro: "))
		}
	}
	return nil
}

// validate checks a request against the kind's schema, in the request's
// protobuf JSON mapping. A failure is INVALID_ARGUMENT with a field
// violation per problem, such as input.size, and a message that lists them.
func (k *Kind) validate(req proto.Message) error {
	var v any
	if s, ok := req.(*structpb.Struct); ok {
		v = s.AsMap() // a JSON object already: no encoding round trip
	} else {
		b, err := protojson.Marshal(req)
		if err != nil {
			return err // validationError makes it INVALID_ARGUMENT
		}
		if v, err = jsonschema.UnmarshalJSON(bytes.NewReader(b)); err != nil {
			return err
		}
	}
	err := k.schema.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var violations []*errdetails.BadRequest_FieldViolation
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			if len(violations) < violationsMax {
				violations = append(violations, &errdetails.BadRequest_FieldViolation{
					Field:       fieldPath(v, e.InstanceLocation),
					Description: truncate(e.ErrorKind.LocalizedString(printer), descriptionMax),
					Reason:      "INVALID_INPUT",
				})
			}
			return
		}
		for _, c := range e.Causes {
			leaves(c)
		}
	}
	leaves(ve)
	msg := make([]string, len(violations))
	for i, fv := range violations {
		msg[i] = fv.Field + ": " + fv.Description
	}
	st := status.New(codes.InvalidArgument, fmt.Sprintf("invalid input for kind %q: %s", k.Name, strings.Join(msg, "; ")))
	if d, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: "INVALID_INPUT", Domain: lro.ErrorDomain, Metadata: map[string]string{"kind": k.Name}},
		&errdetails.BadRequest{FieldViolations: violations},
	); err == nil {
		st = d
	}
	return &schemaError{st}
}

// schemaError is a request's failure of its kind's schema: a gRPC status
// with a field violation per problem, which wraps lro.ErrInvalidArgument
// as lro's own errors do, for callers of the library.
type schemaError struct{ st *status.Status }

func (e *schemaError) Error() string              { return e.st.Message() }
func (e *schemaError) GRPCStatus() *status.Status { return e.st }
func (e *schemaError) Unwrap() error              { return lro.ErrInvalidArgument }

// fieldPath is the AIP-193 path of a location in the request v, from
// input: input.items[2].size.
func fieldPath(v any, loc []string) string {
	var b strings.Builder
	b.WriteString("input")
	for _, seg := range loc {
		switch x := v.(type) {
		case []any:
			b.WriteString("[" + seg + "]")
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(x) {
				v = x[i]
			}
		case map[string]any:
			b.WriteString("." + seg)
			v = x[seg]
		default:
			b.WriteString("." + seg)
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 { // not within a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}
