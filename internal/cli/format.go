package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/code"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	// The standard error details and the demo kind's messages, so that they
	// show as JSON.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	_ "lro.dev/lro/lropb/demopb"

	"lro.dev/lro/lrogrpc"
)

// Operation states of the human form.
const (
	stateRunning   = "running"
	stateSucceeded = "succeeded"
	stateFailed    = "failed"
	stateCancelled = "cancelled"
)

// state is the state of op: running while not done, else how it ended.
func state(op *longrunningpb.Operation) string {
	switch {
	case !op.GetDone():
		return stateRunning
	case op.GetError() == nil:
		return stateSucceeded
	case op.GetError().GetCode() == int32(code.Code_CANCELLED):
		return stateCancelled
	default:
		return stateFailed
	}
}

// resultText is the result line of the human form of a done op:
// "succeeded", "failed: CODE_NAME: message" or "cancelled".
func resultText(op *longrunningpb.Operation) string {
	switch s := state(op); s {
	case stateFailed:
		e := op.GetError()
		return "failed: " + codeName(e.GetCode()) + ": " + e.GetMessage()
	default:
		return s
	}
}

// resultCell is the RESULT column of list: "running", "succeeded",
// "CANCELLED" or "CODE_NAME: message".
func resultCell(op *longrunningpb.Operation) string {
	switch s := state(op); s {
	case stateCancelled:
		return codeName(int32(code.Code_CANCELLED))
	case stateFailed:
		e := op.GetError()
		return cell(codeName(e.GetCode())+": "+e.GetMessage(), 60)
	default:
		return s
	}
}

// cell makes s fit a table cell: one line without tabs, at most max runes.
func cell(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

// progress is the progress_percent field of op's metadata as "42%", or ""
// when the metadata's type is unknown or has no such field.
func progress(op *longrunningpb.Operation) string {
	md := op.GetMetadata()
	if md == nil {
		return ""
	}
	m, err := md.UnmarshalNew()
	if err != nil {
		return ""
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("progress_percent")
	if fd == nil || fd.IsList() || fd.IsMap() {
		return ""
	}
	v := r.Get(fd)
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10) + "%"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10) + "%"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64) + "%"
	}
	return ""
}

// liveState is what the server tells of an operation that is not done, in
// GetOperation's header metadata (lrogrpc.StateHeader and
// lrogrpc.LeaseExpireTimeHeader).
type liveState struct {
	state       string    // "pending" or "running"; "" when not told
	leaseExpire time.Time // zero when not told
	notBefore   time.Time // when a delayed operation may run; zero when not told
	attempt     int       // attempts started; 0 when none or not told
	deadline    time.Time // zero when none or not told
	lastError   *spb.Status
}

// liveStateOf reads a liveState from GetOperation's header metadata.
func liveStateOf(md metadata.MD) liveState {
	var s liveState
	if v := md.Get(lrogrpc.StateHeader); len(v) == 1 {
		s.state = v[0]
	}
	if v := md.Get(lrogrpc.LeaseExpireTimeHeader); len(v) == 1 {
		s.leaseExpire, _ = time.Parse(time.RFC3339Nano, v[0])
	}
	if v := md.Get(lrogrpc.NotBeforeHeader); len(v) == 1 {
		s.notBefore, _ = time.Parse(time.RFC3339Nano, v[0])
	}
	if v := md.Get(lrogrpc.AttemptHeader); len(v) == 1 {
		s.attempt, _ = strconv.Atoi(v[0])
	}
	if v := md.Get(lrogrpc.DeadlineHeader); len(v) == 1 {
		s.deadline, _ = time.Parse(time.RFC3339Nano, v[0])
	}
	if v := md.Get(lrogrpc.LastErrorHeader); len(v) == 1 {
		st := &spb.Status{}
		if proto.Unmarshal([]byte(v[0]), st) == nil {
			s.lastError = st
		}
	}
	return s
}

// leaseText is the lease line of an operation whose lease expires at
// expire, seen at now.
func leaseText(expire, now time.Time) string {
	at := expire.UTC().Format(time.RFC3339)
	d := expire.Sub(now).Round(time.Second)
	if d > 0 {
		return fmt.Sprintf("expires in %v (%s) unless its worker renews it", d, at)
	}
	return fmt.Sprintf("expired %v ago (%s): its worker is gone; the operation runs again once the server rescues it", -d, at)
}

// runsText is the runs line of a delayed operation that may run at at,
// seen at now.
func runsText(at, now time.Time) string {
	when := at.UTC().Format(time.RFC3339)
	switch d := at.Sub(now); {
	case d >= time.Second:
		return fmt.Sprintf("in %v (%s)", d.Round(time.Second), when)
	case d > 0: // a retry's short wait
		return fmt.Sprintf("in %v (%s)", d.Round(time.Millisecond), when)
	}
	return fmt.Sprintf("now: due since %s, at the next claim", when)
}

// writeOperation writes op in the human form, or as JSON.
func writeOperation(w io.Writer, op *longrunningpb.Operation, asJSON bool) error {
	if asJSON {
		return writeJSON(w, operationJSON(op))
	}
	return writeOperationState(w, op, liveState{}, time.Time{})
}

// writeOperationState writes op in the human form, with what live tells of
// it, seen at now.
func writeOperationState(w io.Writer, op *longrunningpb.Operation, live liveState, now time.Time) error {
	var b strings.Builder
	line := func(key, value string) { fmt.Fprintf(&b, "%-10s%s\n", key+":", value) }
	line("name", op.GetName())
	line("done", strconv.FormatBool(op.GetDone()))
	if !op.GetDone() && live.state != "" {
		line("state", live.state)
	} else {
		line("state", state(op))
	}
	if !op.GetDone() && !live.leaseExpire.IsZero() {
		line("lease", leaseText(live.leaseExpire, now))
	}
	if !op.GetDone() && !live.notBefore.IsZero() {
		line("runs", runsText(live.notBefore, now))
	}
	if !op.GetDone() && live.attempt > 0 {
		line("attempts", strconv.Itoa(live.attempt))
	}
	if !op.GetDone() && live.lastError != nil {
		line("last try", fmt.Sprintf("failed with %s: %s; the operation runs again",
			code.Code(live.lastError.GetCode()), live.lastError.GetMessage()))
	}
	if !op.GetDone() && !live.deadline.IsZero() {
		line("deadline", live.deadline.UTC().Format(time.RFC3339))
	}
	if op.GetDone() {
		line("result", resultText(op))
	}
	for _, d := range op.GetError().GetDetails() {
		line("detail", anyText(d))
	}
	if md := op.GetMetadata(); md != nil {
		line("metadata", anyText(md))
	}
	if resp := op.GetResponse(); resp != nil {
		line("response", anyText(resp))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// anyText is a as compact JSON when its type is known, else its type URL and
// size.
func anyText(a *anypb.Any) string {
	if b, err := protojson.Marshal(a); err == nil {
		var buf bytes.Buffer
		if json.Compact(&buf, b) == nil {
			return buf.String()
		}
	}
	return fmt.Sprintf("%s (%d bytes)", a.GetTypeUrl(), len(a.GetValue()))
}

// writeJSON writes the JSON b indented by two spaces and a newline. b is
// reformatted because protojson's spacing deliberately varies.
func writeJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeProtoJSON writes m as indented protobuf JSON.
func writeProtoJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	return writeJSON(w, b)
}

// operationJSON is op in the protobuf JSON mapping. Where a metadata,
// response or error detail is of a type that this binary does not know, and
// so has no JSON mapping, it shows as {"@type": URL, "value": BASE64}.
func operationJSON(op *longrunningpb.Operation) json.RawMessage {
	if b, err := protojson.Marshal(op); err == nil {
		return b
	}
	type statusJSON struct {
		Code    int32             `json:"code,omitempty"`
		Message string            `json:"message,omitempty"`
		Details []json.RawMessage `json:"details,omitempty"`
	}
	// The fields in protojson's order: by declaration.
	var o struct {
		Name     string          `json:"name,omitempty"`
		Metadata json.RawMessage `json:"metadata,omitempty"`
		Done     bool            `json:"done,omitempty"`
		Error    *statusJSON     `json:"error,omitempty"`
		Response json.RawMessage `json:"response,omitempty"`
	}
	o.Name = op.GetName()
	o.Done = op.GetDone()
	if md := op.GetMetadata(); md != nil {
		o.Metadata = anyJSON(md)
	}
	if e := op.GetError(); e != nil {
		o.Error = &statusJSON{Code: e.GetCode(), Message: e.GetMessage()}
		for _, d := range e.GetDetails() {
			o.Error.Details = append(o.Error.Details, anyJSON(d))
		}
	}
	if resp := op.GetResponse(); resp != nil {
		o.Response = anyJSON(resp)
	}
	return marshalJSON(o)
}

// anyJSON is a in the protobuf JSON mapping, or {"@type": URL, "value":
// BASE64} when its type is not known.
func anyJSON(a *anypb.Any) json.RawMessage {
	if b, err := protojson.Marshal(a); err == nil {
		return b
	}
	return marshalJSON(struct {
		Type  string `json:"@type"`
		Value []byte `json:"value"`
	}{a.GetTypeUrl(), a.GetValue()})
}

// writeTable writes rows as a table with columns aligned by spaces and no
// trailing spaces. Cells must not hold tabs or newlines: see cell.
func writeTable(w io.Writer, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line != "" {
			out.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// marshalJSON is v as compact JSON, without escaping <, > and & as
// encoding/json does by default. v holds only strings, numbers, booleans and
// valid JSON.
func marshalJSON(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
