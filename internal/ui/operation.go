package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"lro.dev/lro"
	"lro.dev/lro/internal/httperr"
	"lro.dev/lro/lroauth"
)

// detail is the answer of GET /ui/api/operation: the operation as the API
// gives it, and what the store knows of it besides.
type detail struct {
	Operation       json.RawMessage `json:"operation"`
	Kind            string          `json:"kind"`
	Parent          string          `json:"parent"`
	State           string          `json:"state"`
	Attempt         int             `json:"attempt"`
	MaxAttempts     int             `json:"maxAttempts"`
	CreateTime      *time.Time      `json:"createTime,omitempty"`
	UpdateTime      *time.Time      `json:"updateTime,omitempty"`
	EndTime         *time.Time      `json:"endTime,omitempty"`
	Deadline        *time.Time      `json:"deadline,omitempty"`
	NotBefore       *time.Time      `json:"notBefore,omitempty"`
	LeaseOwner      string          `json:"leaseOwner,omitempty"`
	LeaseExpireTime *time.Time      `json:"leaseExpireTime,omitempty"`
	CancelRequested bool            `json:"cancelRequested"`
	LastError       *errorJSON      `json:"lastError,omitempty"`
	Attempts        []attemptJSON   `json:"attempts"`
	Timeline        []event         `json:"timeline"`
	// Progress is the metadata's percentage, when it has a numeric field
	// that says so (progress_percent, percent, progress...).
	Progress *float64 `json:"progress,omitempty"`
	Allowed  allowed  `json:"allowed"`

	done bool
}

type allowed struct {
	Cancel bool `json:"cancel"`
	Delete bool `json:"delete"`
}

// errorJSON is a google.rpc.Status as the page shows it: the code's number
// and name, the message and the details in JSON.
type errorJSON struct {
	Code    int32             `json:"code"`
	Status  string            `json:"status"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details,omitempty"`
}

func statusJSON(st *status.Status) *errorJSON {
	if st == nil {
		return nil
	}
	e := &errorJSON{Code: int32(st.Code()), Status: httperr.CodeName(st.Code()), Message: st.Message()}
	for _, d := range st.Proto().GetDetails() {
		if b, err := protojson.Marshal(d); err == nil {
			e.Details = append(e.Details, b)
		}
	}
	return e
}

func (h *Handler) operation(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	d, err := h.detail(r.Context(), name)
	if err != nil {
		writeError(w, h.config.Logger, err)
		return
	}
	writeJSON(w, h.config.Logger, d)
}

// detail reads the operation name for the caller of ctx, who needs the
// reader role on its parent.
func (h *Handler) detail(ctx context.Context, name string) (*detail, error) {
	if name == "" {
		return nil, &lro.Error{Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT", Message: "name is required (?name=operations/…)"}
	}
	if err := h.allowsOperation(ctx, lroauth.MethodGetOperation, name); err != nil {
		return nil, err
	}
	op, info, err := h.config.Client.GetOperationInfo(ctx, name)
	if err != nil {
		return nil, err
	}
	opJSON, err := marshalOperation(op)
	if err != nil {
		return nil, err
	}
	d := &detail{
		Operation:       opJSON,
		Kind:            info.Kind,
		Parent:          info.Parent,
		State:           info.State,
		Attempt:         info.Attempt,
		MaxAttempts:     info.MaxAttempts,
		CreateTime:      timePtr(info.CreateTime),
		UpdateTime:      timePtr(info.UpdateTime),
		EndTime:         timePtr(info.EndTime),
		Deadline:        timePtr(info.Deadline),
		NotBefore:       timePtr(info.NotBefore),
		LeaseOwner:      info.LeaseOwner,
		LeaseExpireTime: timePtr(info.LeaseExpireTime),
		CancelRequested: info.CancelRequested,
		LastError:       statusJSON(info.LastError),
		Attempts:        attemptsJSON(info),
		Timeline:        timeline(info, op),
		Progress:        progressOf(op),
		done:            op.GetDone(),
	}
	if !d.done {
		d.Allowed.Cancel = h.allowsOperation(ctx, lroauth.MethodCancelOperation, name) == nil
	}
	d.Allowed.Delete = h.allowsOperation(ctx, lroauth.MethodDeleteOperation, name) == nil
	return d, nil
}

// marshalOperation encodes op as the HTTP API does. Metadata or a response
// of a type this binary does not know (a kind declared on another node) is
// shown by its type alone, rather than failing the page.
func marshalOperation(op *longrunningpb.Operation) (json.RawMessage, error) {
	b, err := protojson.Marshal(op)
	if err == nil {
		return b, nil
	}
	var m map[string]any
	if b, err = protojson.Marshal(&longrunningpb.Operation{Name: op.GetName(), Done: op.GetDone()}); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	unknown := func(typeURL string) map[string]any {
		return map[string]any{"@type": typeURL, "@unknown": "this server does not know the type"}
	}
	if md := op.GetMetadata(); md != nil {
		m["metadata"] = unknown(md.GetTypeUrl())
	}
	switch res := op.GetResult().(type) {
	case *longrunningpb.Operation_Response:
		m["response"] = unknown(res.Response.GetTypeUrl())
	case *longrunningpb.Operation_Error:
		e := statusJSON(status.FromProto(res.Error))
		m["error"] = map[string]any{"code": e.Code, "message": e.Message, "details": e.Details}
	}
	return json.Marshal(m)
}

// progressOf finds the percentage in an operation's metadata: its first
// numeric field, at the top level, whose name says percent (then one that
// says progress), unset counting as 0, clamped to [0, 100]. Nil when the
// metadata has none, or is of a type this binary does not know.
func progressOf(op *longrunningpb.Operation) *float64 {
	if op.GetMetadata() == nil {
		return nil
	}
	md, err := op.GetMetadata().UnmarshalNew()
	if err != nil {
		return nil
	}
	m := md.ProtoReflect()
	fields := m.Descriptor().Fields()
	for _, want := range []string{"percent", "progress"} {
		for i := range fields.Len() {
			f := fields.Get(i)
			if f.IsList() || f.IsMap() || !strings.Contains(strings.ToLower(string(f.Name())), want) {
				continue
			}
			var v float64
			switch f.Kind() {
			case protoreflect.FloatKind, protoreflect.DoubleKind:
				v = m.Get(f).Float()
			case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
				protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
				v = float64(m.Get(f).Int())
			case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
				v = float64(m.Get(f).Uint())
			default:
				continue
			}
			if math.IsNaN(v) {
				continue
			}
			v = min(max(v, 0), 100)
			return &v
		}
	}
	return nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// events streams the operation's detail as server-sent events: at once,
// then at each change, until it is done (a last detail, then "end"), the
// caller goes, or the server shuts down.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.URL.Query().Get("name")
	if n := h.streams.Add(1); n > int64(h.config.MaxStreams) {
		h.streams.Add(-1)
		writeError(w, h.config.Logger, &lro.Error{Code: codes.ResourceExhausted, Reason: "TOO_MANY_STREAMS",
			Message: fmt.Sprintf("the server has %d streams open, its most; try again later", h.config.MaxStreams)})
		return
	}
	defer h.streams.Add(-1)
	d, err := h.detail(ctx, name)
	if err != nil {
		writeError(w, h.config.Logger, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("X-Accel-Buffering", "no") // proxies: do not hold the events back
	rc := http.NewResponseController(w)
	send := func(event string, data []byte) bool {
		// Each write gets its own deadline: a client that stops reading
		// frees the stream, and the server's write timeout, which is for
		// whole responses, does not end a stream that keeps writing.
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		var buf bytes.Buffer
		if event != "" {
			fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", event, data)
		} else {
			buf.Write(data)
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	var last []byte
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		body, err := json.Marshal(d)
		if err != nil {
			h.config.Logger.Error("dashboard stream: detail does not encode", "error", err)
			return
		}
		if !bytes.Equal(body, last) {
			if !send("operation", body) {
				return
			}
			last = body
		}
		if d.done {
			send("end", []byte("{}"))
			return
		}
		// Wait for the next look: WaitOperation returns as soon as the
		// operation is done, and after the interval if not.
		waitCtx, cancel := context.WithCancel(ctx)
		waited := make(chan struct{})
		go func() {
			defer close(waited)
			_, _ = h.config.Client.WaitOperation(waitCtx, name, h.config.StreamInterval)
		}()
		select {
		case <-waited:
		case <-ping.C:
			cancel()
			<-waited
			if !send("", []byte(": ping\n\n")) {
				return
			}
		case <-ctx.Done():
			cancel()
			<-waited
			return
		case <-h.config.Done:
			cancel()
			<-waited
			return
		}
		cancel()
		if d, err = h.detail(ctx, name); err != nil {
			st := grpcStatus(err, h.config.Logger)
			body, _ := json.Marshal(statusJSON(st))
			send("error", body) // deleted, or the store is away: the page says so
			return
		}
	}
}
