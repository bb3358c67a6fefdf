package lro

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro/internal/leasetoken"
	"lro.dev/lro/lropb"
	"lro.dev/lro/lrostore"
)

// The Workers service's calls on held leases: renew, finish, release. Each
// checks its items first (name, lease token, message types and sizes),
// writes the good ones in one store call fenced by their lease tokens,
// and reads an operation only to tell why the store refused its item.

// RenewLeases implements lro.v1.Workers.RenewLeases: it renews the leases
// for their kind's lease TTL, writes the metadata that items carry, and
// says per lease whether it is HELD, CANCEL_REQUESTED (held, and the
// operation's cancellation was requested) or LOST (with why). Metadata of
// the wrong type, or over Config.MetadataBytesMax, is not written, and the
// item's error says so; its lease is renewed all the same. More than
// WorkerItemsMax leases is INVALID_ARGUMENT.
func (c *Client) RenewLeases(ctx context.Context, req *lropb.RenewLeasesRequest) (*lropb.RenewLeasesResponse, error) {
	items := req.GetLeases()
	tokens, err := c.beginItems(ctx, "RenewLeases", req.GetWorker(), "leases", len(items), "renew leases")
	if err != nil {
		return nil, err
	}
	resp := &lropb.RenewLeasesResponse{Leases: make([]*lropb.LeaseState, len(items))}
	if len(items) == 0 {
		return resp, nil
	}
	held := make([]heldLease, len(items))
	ok := make([]bool, len(items))
	metaErr := make([]*Error, len(items))
	var updates []*lrostore.OperationSetMetadataParams
	var updated []int // the items of updates
	for i, it := range items {
		h, e := c.lease(tokens, "leases", i, it.GetName(), it.GetLeaseToken())
		if e != nil {
			resp.Leases[i] = &lropb.LeaseState{Name: it.GetName(), State: lropb.LeaseState_LOST, Error: itemStatus(e)}
			continue
		}
		held[i], ok[i] = h, true
		b, url, e := c.workerMessage("leases", i, "metadata", it.GetMetadata(), it.GetTypedMetadata(),
			h.kind.metadata, c.config.MetadataBytesMax)
		switch {
		case e != nil:
			metaErr[i] = e
		case b != nil:
			updates = append(updates, &lrostore.OperationSetMetadataParams{Lease: h.lease, Metadata: b, MetadataType: url,
				MetadataJSON: messageJSON(h.kind.metadata, b)})
			updated = append(updated, i)
		}
	}
	type renewal struct {
		held, cancel bool
	}
	renewed := make(map[string]renewal, len(items))
	for _, ttl := range ttlGroups(held, ok) {
		var leases []lrostore.Lease
		for i, h := range held {
			if ok[i] && h.kind.leaseTTL == ttl {
				leases = append(leases, h.lease)
			}
		}
		res, err := c.store.OperationHeartbeat(ctx, &lrostore.OperationHeartbeatParams{Leases: leases, LeaseTTL: ttl})
		if err != nil {
			return nil, c.storeError("renew leases", err)
		}
		for _, r := range res {
			renewed[r.ID] = renewal{held: true, cancel: r.CancelRequested}
		}
	}
	current := candidates(held, ok)
	lost := make([]bool, len(items))
	for i, h := range held {
		lost[i] = ok[i] && (!renewed[h.lease.ID].held || held[current[h.lease.ID]].lease != h.lease)
	}
	if len(updates) > 0 {
		// Write the metadata of the leases that were renewed.
		n := 0
		for j, i := range updated {
			if !lost[i] {
				updates[n], updated[n] = updates[j], i
				n++
			}
		}
		if n > 0 {
			written, err := c.workerMetadata(ctx, updates[:n])
			if err != nil {
				return nil, c.storeError("renew leases", err)
			}
			for j, w := range written {
				switch {
				case w == nil:
					metaErr[updated[j]] = notStored(held[updated[j]].name, "metadata")
				case !*w:
					lost[updated[j]] = true // lost since the renewal
				}
			}
		}
	}
	for i, h := range held {
		switch {
		case !ok[i]:
		case lost[i]:
			resp.Leases[i] = &lropb.LeaseState{Name: h.name, State: lropb.LeaseState_LOST, Error: itemStatus(c.refused(ctx, h))}
		default:
			state := lropb.LeaseState_HELD
			if renewed[h.lease.ID].cancel {
				state = lropb.LeaseState_CANCEL_REQUESTED
			}
			st := &lropb.LeaseState{Name: h.name, State: state}
			if metaErr[i] != nil {
				st.Error = itemStatus(metaErr[i])
			}
			resp.Leases[i] = st
		}
	}
	return resp, nil
}

// beginItems checks what every call on a list of leases checks first:
// that this client is a server (not a remote client), the worker's name,
// the number of items, and that the client runs. It returns the codec of
// the lease tokens, or nil when there are no items to look at.
func (c *Client) beginItems(ctx context.Context, method, worker, field string, n int, what string) (*leasetoken.Codec, error) {
	if c.remote != nil {
		return nil, remoteUnimplemented(method, "a remote client is a worker, not a server")
	}
	if _, err := workerName(worker); err != nil {
		return nil, err
	}
	if err := checkItems(field, n); err != nil {
		return nil, err
	}
	if err := c.checkStarted(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	tokens, err := c.leaseTokens(ctx)
	if err != nil {
		return nil, c.storeError(what, err)
	}
	return tokens, nil
}

// FinishOperations implements lro.v1.Workers.FinishOperations: it ends each
// operation with its response (JSON or typed, of the kind's response type;
// none is an empty response) or its error (not OK), and its metadata if
// given, and wakes the operation's waiters. A response, metadata or error
// of the wrong type or over the limits of local handlers
// (Config.ResponseBytesMax, MetadataBytesMax, ErrorBytesMax) refuses the
// item with INVALID_ARGUMENT, writing nothing. The outcome of each item is
// OK, ABORTED (the lease is lost), FAILED_PRECONDITION (the operation is
// done already), NOT_FOUND or INVALID_ARGUMENT. More than WorkerItemsMax
// results is INVALID_ARGUMENT.
func (c *Client) FinishOperations(ctx context.Context, req *lropb.FinishOperationsRequest) (*lropb.FinishOperationsResponse, error) {
	items := req.GetResults()
	tokens, err := c.beginItems(ctx, "FinishOperations", req.GetWorker(), "results", len(items), "finish operations")
	if err != nil {
		return nil, err
	}
	resp := &lropb.FinishOperationsResponse{Results: make([]*spbStatus, len(items))}
	if len(items) == 0 {
		return resp, nil
	}
	finishes := make([]*lrostore.OperationFinishParams, 0, len(items))
	held := make([]heldLease, 0, len(items))
	index := make([]int, 0, len(items)) // the item of each finish
	for i, it := range items {
		h, e := c.lease(tokens, "results", i, it.GetName(), it.GetLeaseToken())
		if e == nil {
			var f *lrostore.OperationFinishParams
			if f, e = c.finishParams(i, h, it); e == nil {
				finishes, held, index = append(finishes, f), append(held, h), append(index, i)
				continue
			}
		}
		resp.Results[i] = itemStatus(e)
	}
	if len(finishes) == 0 {
		return resp, nil
	}
	for j, f := range finishes {
		if f.State == lrostore.StateFailed {
			if err := c.planRetry(ctx, f, held[j].kind, items[index[j]]); err != nil {
				return nil, c.storeError("finish operations", err)
			}
		}
	}
	res, err := c.workerFinishes(ctx, finishes)
	if err != nil {
		return nil, c.storeError("finish operations", err)
	}
	for j, r := range res {
		switch {
		case r == nil:
			resp.Results[index[j]] = itemStatus(notStored(held[j].name, "result"))
		case r.Finished && finishes[j].State == lrostore.StatePending && r.State == lrostore.StatePending:
			c.alarm.set(finishes[j].NotBefore)
			resp.Results[index[j]] = itemStatus(nil)
			if km := held[j].kind.metrics; km != nil {
				km.retried.Inc()
			}
		case r.Finished:
			if km := held[j].kind.metrics; km != nil {
				km.ended(r.State, finishes[j].Error, "", r.CreateTime, time.Now())
			}
			c.waiters.notify(held[j].lease.ID)
			resp.Results[index[j]] = itemStatus(nil)
		default:
			resp.Results[index[j]] = itemStatus(c.refused(ctx, held[j]))
		}
	}
	return resp, nil
}

// planRetry decides whether a worker's failure of an attempt runs the
// operation again, as a local handler's failure would (retryDelay): if so,
// it makes f put the operation back to pending until its next attempt;
// if not, and the operation made more than one attempt, its error says
// how many. It reads the operation, for its attempts and deadline: this
// costs failures, not successes.
func (c *Client) planRetry(ctx context.Context, f *lrostore.OperationFinishParams, k *kind, it *lropb.OperationResult) error {
	op, err := c.store.OperationGet(ctx, &lrostore.OperationGetParams{ID: f.Lease.ID})
	if errors.Is(err, lrostore.ErrNotFound) {
		return nil // the finish finds it gone too
	}
	if err != nil {
		return err
	}
	if op.LeaseToken != f.Lease.Token || op.State != lrostore.StateRunning {
		return nil // the finish finds the lease lost
	}
	st := failureStatus(f.Error)
	marked := st.Err()
	if it.Retryable != nil {
		if it.GetRetryable() {
			marked = Retryable(marked, 0)
		} else {
			marked = NonRetryable(marked)
		}
	}
	now := time.Now()
	if delay, ok := retryDelay(k, op, marked, f.Error, nil, now); ok {
		f.State, f.NotBefore = lrostore.StatePending, now.Add(delay)
		return nil
	}
	f.Error = withAttempts(f.Error, op.Attempt)
	return nil
}

// workerFinishes writes finishes in one store call. When the store refuses
// them for good (lrostore.IsPermanent), one of them may be at fault: each
// is then written alone, so that it fails alone, and its result is nil.
// With metrics, the results carry the operations' creation times, for
// lro_operation_duration_seconds: the worker's claim had them, not this
// call.
func (c *Client) workerFinishes(ctx context.Context, fs []*lrostore.OperationFinishParams) ([]*lrostore.OperationFinishResult, error) {
	res, err := c.store.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: fs, CancelledError: cancelledFailure,
		CreateTimes: c.metrics != nil})
	if err == nil && len(res) != len(fs) {
		err = fmt.Errorf("lro: the store returned %d results for %d finishes", len(res), len(fs))
	}
	if err == nil || !lrostore.IsPermanent(err) {
		return res, err
	}
	if len(fs) == 1 {
		c.logs.Log(ctx, slog.LevelError, "worker result not stored", "the store refused a worker's result", slog.Any("error", err))
		return []*lrostore.OperationFinishResult{nil}, nil
	}
	res = make([]*lrostore.OperationFinishResult, len(fs))
	for i := range fs {
		one, err := c.workerFinishes(ctx, fs[i:i+1])
		if err != nil {
			return nil, err
		}
		res[i] = one[0]
	}
	return res, nil
}

// workerMetadata writes metadata updates in one store call, or, when the
// store refuses them for good, each alone; an update refused alone for
// good has a nil result.
func (c *Client) workerMetadata(ctx context.Context, us []*lrostore.OperationSetMetadataParams) ([]*bool, error) {
	written, err := c.store.OperationSetMetadataMany(ctx, &lrostore.OperationSetMetadataManyParams{Updates: us})
	if err == nil && len(written) != len(us) {
		err = fmt.Errorf("lro: the store returned %d results for %d metadata updates", len(written), len(us))
	}
	out := make([]*bool, len(us))
	switch {
	case err == nil:
		for i := range written {
			out[i] = &written[i]
		}
		return out, nil
	case !lrostore.IsPermanent(err):
		return nil, err
	case len(us) == 1:
		c.logs.Log(ctx, slog.LevelError, "worker metadata not stored", "the store refused a worker's metadata", slog.Any("error", err))
		return out, nil
	}
	for i := range us {
		one, err := c.workerMetadata(ctx, us[i:i+1])
		if err != nil {
			return nil, err
		}
		out[i] = one[0]
	}
	return out, nil
}

// notStored is the error of an item whose result or metadata the store
// refused for good; the store's error is in the log, not for the worker.
func notStored(name, what string) *Error {
	return &Error{Code: codes.Internal, Reason: strings.ToUpper(what) + "_NOT_STORED", Resource: name,
		Message: fmt.Sprintf("the store refused the %s of %q; the server's log has its error", what, name)}
}

// finishParams builds the store's finish of an item whose lease is good.
func (c *Client) finishParams(i int, h heldLease, it *lropb.OperationResult) (*lrostore.OperationFinishParams, *Error) {
	f := &lrostore.OperationFinishParams{Lease: h.lease}
	var e *Error
	switch r := it.GetResult().(type) {
	case *lropb.OperationResult_Error:
		code := r.Error.GetCode()
		if code <= int32(codes.OK) || code > int32(codes.Unauthenticated) {
			return nil, invalidArgument(itemField("results", i, "error.code"), "INVALID_ERROR_CODE",
				"error.code %d is not a google.rpc.Code of a failure: want 1 to 16", code)
		}
		f.State, f.Error = lrostore.StateFailed, statusFailure(r.Error)
		if len(f.Error.Status) > c.config.ErrorBytesMax {
			return nil, invalidArgument(itemField("results", i, "error"), "ERROR_TOO_LARGE",
				"the error takes %d bytes encoded; at most %d are allowed", len(f.Error.Status), c.config.ErrorBytesMax)
		}
	case nil:
		f.State = lrostore.StateSucceeded
		b, url, err := marshalAny(h.kind.response.New().Interface())
		if err != nil {
			return nil, invalidArgument(itemField("results", i, "response"), "INVALID_RESPONSE", "the empty response does not encode: %v", err)
		}
		f.Response, f.ResponseType = b, url
	default:
		f.State = lrostore.StateSucceeded
		f.Response, f.ResponseType, e = c.workerMessage("results", i, "response", it.GetResponse(), it.GetTypedResponse(),
			h.kind.response, c.config.ResponseBytesMax)
		if e != nil {
			return nil, e
		}
		f.ResponseJSON = messageJSON(h.kind.response, f.Response)
	}
	f.Metadata, f.MetadataType, e = c.workerMessage("results", i, "metadata", it.GetMetadata(), it.GetTypedMetadata(),
		h.kind.metadata, c.config.MetadataBytesMax)
	if e != nil {
		return nil, e
	}
	f.MetadataJSON = messageJSON(h.kind.metadata, f.Metadata)
	return f, nil
}

// ReleaseOperations implements lro.v1.Workers.ReleaseOperations: the
// operations are pending again at once, the attempt not counted, and the
// claims waiting for work wake. The outcome of each lease is as in
// FinishOperations. More than WorkerItemsMax leases is INVALID_ARGUMENT.
func (c *Client) ReleaseOperations(ctx context.Context, req *lropb.ReleaseOperationsRequest) (*lropb.ReleaseOperationsResponse, error) {
	items := req.GetLeases()
	tokens, err := c.beginItems(ctx, "ReleaseOperations", req.GetWorker(), "leases", len(items), "release operations")
	if err != nil {
		return nil, err
	}
	resp := &lropb.ReleaseOperationsResponse{Results: make([]*spbStatus, len(items))}
	if len(items) == 0 {
		return resp, nil
	}
	held := make([]heldLease, len(items))
	ok := make([]bool, len(items))
	leases := make([]lrostore.Lease, 0, len(items))
	for i, it := range items {
		h, e := c.lease(tokens, "leases", i, it.GetName(), it.GetLeaseToken())
		if e != nil {
			resp.Results[i] = itemStatus(e)
			continue
		}
		held[i], ok[i] = h, true
		leases = append(leases, h.lease)
	}
	if len(leases) == 0 {
		return resp, nil
	}
	ids, err := c.store.OperationReleaseMany(ctx, &lrostore.OperationReleaseManyParams{Leases: leases})
	if err != nil {
		return nil, c.storeError("release operations", err)
	}
	if len(ids) > 0 {
		c.pendingMayExist()
	}
	released := make(map[string]bool, len(ids))
	for _, id := range ids {
		released[id] = true
	}
	current := candidates(held, ok)
	for i, h := range held {
		switch {
		case !ok[i]:
		case released[h.lease.ID] && held[current[h.lease.ID]].lease == h.lease:
			resp.Results[i] = itemStatus(nil)
		default:
			resp.Results[i] = itemStatus(c.refused(ctx, h))
		}
	}
	return resp, nil
}

// candidates returns, for each operation ID among the good items, the
// item whose lease the store may have held: a call that names an
// operation under two claims holds at most one of them, the latest (the
// highest token); items that repeat that lease share its outcome.
func candidates(items []heldLease, ok []bool) map[string]int {
	m := make(map[string]int, len(items))
	for i, h := range items {
		if !ok[i] {
			continue
		}
		if j, seen := m[h.lease.ID]; !seen || h.lease.Token > items[j].lease.Token {
			m[h.lease.ID] = i
		}
	}
	return m
}

// itemField names a field of an item of a call's list.
func itemField(list string, i int, field string) string {
	return fmt.Sprintf("%s[%d].%s", list, i, field)
}

// workerMessage turns the JSON or typed form of a message from a worker
// into the encoded google.protobuf.Any to store, of type t; nil when
// neither is set. A message that does not parse as t, or whose encoding is
// over limit, is INVALID_ARGUMENT, naming the field what of item i of
// list.
func (c *Client) workerMessage(list string, i int, what string, json *structpb.Value, typed *anypb.Any, t protoreflect.MessageType, limit int) ([]byte, string, *Error) {
	// The error's field and reason are built on the refused path only.
	bad := func(tooLarge bool, format string, args ...any) *Error {
		reason := "INVALID_" + strings.ToUpper(what)
		if tooLarge {
			reason = strings.ToUpper(what) + "_TOO_LARGE"
		}
		return invalidArgument(itemField(list, i, what), reason, format, args...)
	}
	typeName := t.Descriptor().FullName()
	var m proto.Message
	switch {
	case json != nil:
		if typeName == structName {
			s, isStruct := json.GetKind().(*structpb.Value_StructValue)
			if !isStruct || s.StructValue == nil {
				return nil, "", bad(false, "%s must be a JSON object: the kind's %s is a google.protobuf.Struct", what, what)
			}
			m = s.StructValue
			break
		}
		b, err := protojson.Marshal(json)
		if err != nil {
			return nil, "", bad(false, "%s is not valid JSON: %v", what, err)
		}
		m = t.New().Interface()
		if err := protojson.Unmarshal(b, m); err != nil {
			return nil, "", bad(false, "%s does not parse as a %s: %v", what, typeName, err)
		}
	case typed != nil:
		url := typed.GetTypeUrl()
		if url[strings.LastIndex(url, "/")+1:] != string(typeName) {
			return nil, "", bad(false, "typed_%s is a %q; the kind's %s is a %s", what, url, what, typeName)
		}
		m = t.New().Interface()
		if err := proto.Unmarshal(typed.GetValue(), m); err != nil {
			return nil, "", bad(false, "typed_%s does not decode as a %s: %v", what, typeName, err)
		}
	default:
		return nil, "", nil
	}
	b, url, err := encodeAny(m)
	if err != nil {
		return nil, "", bad(false, "%s does not encode: %v", what, err)
	}
	if len(b) > limit {
		return nil, "", bad(true, "the %s takes %d bytes encoded; at most %d are allowed", what, len(b), limit)
	}
	return b, url, nil
}

// structName is the full name of google.protobuf.Struct, the type of the
// messages of kinds that take and return JSON.
var structName = (&structpb.Struct{}).ProtoReflect().Descriptor().FullName()

// encodeAny returns the encoding of m packed in a google.protobuf.Any,
// and the Any's type URL: what marshalAny returns, written straight into
// one buffer rather than through an Any message.
func encodeAny(m proto.Message) ([]byte, string, error) {
	url := typeURLPrefix + string(m.ProtoReflect().Descriptor().FullName())
	size := proto.Size(m)
	out := make([]byte, 0, 2*binary.MaxVarintLen64+len(url)+size+2)
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendString(out, url)
	out = protowire.AppendTag(out, 2, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(size))
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(out, m)
	if err != nil {
		return nil, "", err
	}
	return out, url, nil
}

// typeURLPrefix is the prefix of the type URLs that anypb.New makes.
const typeURLPrefix = "type.googleapis.com/"

// unpackAny decodes the message that a stored google.protobuf.Any holds
// into m, which must be of the Any's type, without building the Any.
func unpackAny(b []byte, m proto.Message) error {
	var url, value []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var field []byte
		if typ == protowire.BytesType {
			field, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			url = field
		case num == 2 && typ == protowire.BytesType:
			value = field
		}
	}
	want := m.ProtoReflect().Descriptor().FullName()
	if i := bytes.LastIndexByte(url, '/'); string(url[i+1:]) != string(want) {
		return fmt.Errorf("the stored message is a %q, not a %s", url, want)
	}
	return proto.Unmarshal(value, m)
}

// decodeAny decodes a stored google.protobuf.Any.
func decodeAny(b []byte) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := proto.Unmarshal(b, a); err != nil {
		return nil, err
	}
	return a, nil
}

// anyToJSON turns a stored google.protobuf.Any of type t into its protobuf
// JSON mapping, as a google.protobuf.Value.
func anyToJSON(b []byte, t protoreflect.MessageType) (*structpb.Value, error) {
	if t.Descriptor().FullName() == structName {
		s := &structpb.Struct{}
		if err := unpackAny(b, s); err != nil {
			return nil, err
		}
		return structpb.NewStructValue(s), nil
	}
	m := t.New().Interface()
	if err := unpackAny(b, m); err != nil {
		return nil, err
	}
	j, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	v := &structpb.Value{}
	if err := protojson.Unmarshal(j, v); err != nil {
		return nil, err
	}
	return v, nil
}
