package lro

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"lro.dev/lro/lrostore"
)

// What a handler gives (its metadata, its response or its error) becomes
// part of the stored operation, and of every Get, Wait and List that
// returns it. This file makes it storable, and keeps it within the limits
// of Config.MetadataBytesMax, ResponseBytesMax and ErrorBytesMax.

// errorQuoteMax caps how much of an error's message the error that
// replaces an oversized one quotes.
const errorQuoteMax = 1024

// handlerFailure turns a handler's error into the stored failure: a gRPC
// status keeps its code, message and details; any other error is UNKNOWN.
// An error whose encoding is over Config.ErrorBytesMax becomes
// RESOURCE_EXHAUSTED, with its code and the start of its message.
func (e *handlerExecutor) handlerFailure(j *job, err error) *lrostore.Failure {
	var f *lrostore.Failure
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		f = statusFailure(st.Proto())
	} else {
		f = failure(codes.Unknown, "OPERATION_FAILED", err.Error())
	}
	if len(f.Status) <= e.config.ErrorBytesMax {
		return f
	}
	name := code.Code(f.Code).String() // NOT_FOUND, as clients see codes
	j.logThrottled(slog.LevelWarn, "error too large", "the handler's error is over Config.ErrorBytesMax; the operation fails with RESOURCE_EXHAUSTED",
		slog.String("code", name), slog.Int("bytes", len(f.Status)), slog.Int("limit", e.config.ErrorBytesMax))
	quote := f.Message
	if len(quote) > errorQuoteMax {
		cut := errorQuoteMax
		for cut > 0 && !utf8.RuneStart(quote[cut]) {
			cut--
		}
		quote = quote[:cut] + "…"
	}
	return failureInfo(codes.ResourceExhausted, "ERROR_TOO_LARGE", map[string]string{"code": name},
		fmt.Sprintf("the operation failed with %s, but its error is %d bytes encoded, over the limit of %d bytes; its message begins: %s",
			name, len(f.Status), e.config.ErrorBytesMax, quote))
}

// statusFailure encodes a status as a stored failure. It is the one place
// where the text of a status is made storable: protobuf refuses to encode
// a string field that is not valid UTF-8, so each invalid sequence of the
// message becomes U+FFFD (a NUL byte is valid UTF-8, and kept: the
// encoded status holds the message exactly; the stores make their text
// copy of it, Failure.Message, storable too). A status that still does
// not encode (a detail whose type URL is not UTF-8) loses its details.
func statusFailure(st *spb.Status) *lrostore.Failure {
	if !utf8.ValidString(st.Message) {
		st = &spb.Status{Code: st.Code, Message: strings.ToValidUTF8(st.Message, "\uFFFD"), Details: st.Details}
	}
	b, err := proto.Marshal(st)
	if err != nil {
		st = &spb.Status{Code: st.Code, Message: st.Message}
		b, _ = proto.Marshal(st)
	}
	return &lrostore.Failure{Code: st.Code, Message: st.Message, Status: b}
}

// failure builds a stored google.rpc.Status with an ErrorInfo.
func failure(code codes.Code, reason, message string) *lrostore.Failure {
	return failureInfo(code, reason, nil, message)
}

// failureInfo is failure with the ErrorInfo's metadata.
func failureInfo(code codes.Code, reason string, metadata map[string]string, message string) *lrostore.Failure {
	info, _ := anypb.New(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: metadata})
	return statusFailure(&spb.Status{Code: int32(code), Message: message, Details: []*anypb.Any{info}})
}

// responseTooLarge is the failure of an operation whose handler returned a
// response over Config.ResponseBytesMax.
func (e *handlerExecutor) responseTooLarge(j *job, size int) *lrostore.Failure {
	j.logThrottled(slog.LevelWarn, "response too large", "the handler's response is over Config.ResponseBytesMax; the operation fails with RESOURCE_EXHAUSTED",
		slog.Int("bytes", size), slog.Int("limit", e.config.ResponseBytesMax))
	return failure(codes.ResourceExhausted, "RESPONSE_TOO_LARGE",
		fmt.Sprintf("the operation's response is %d bytes encoded, over the limit of %d bytes", size, e.config.ResponseBytesMax))
}

// resultNotStored is the failure written in place of a result that the
// store refused for good (see lrostore.IsPermanent).
var resultNotStored = failure(codes.Internal, "RESULT_NOT_STORED",
	"the operation ended, but its result could not be stored; the server's log has the store's error")

// checkMetadata refuses metadata over Config.MetadataBytesMax, logging it
// once for the job.
func (j *job) checkMetadata(size int) error {
	limit := j.e.config.MetadataBytesMax
	if size <= limit {
		return nil
	}
	j.mu.Lock()
	logged := j.metaTooLarge
	j.metaTooLarge = true
	j.mu.Unlock()
	if !logged {
		j.logger().Warn("metadata over Config.MetadataBytesMax is not stored; the last metadata set is kept",
			slog.Int("bytes", size), slog.Int("limit", limit))
	}
	return fmt.Errorf("%w: %d bytes encoded, over the limit of %d bytes (Config.MetadataBytesMax); the last metadata set is kept",
		ErrMetadataTooLarge, size, limit)
}

// finishOutcome is the outcome of one result write: the store's result,
// or the error of this write alone.
type finishOutcome struct {
	res *lrostore.OperationFinishResult
	err error
}

// finishMany writes a batch of results in one statement. When the store
// refuses it for good, one of them may be at fault: each is then written
// alone, so that it fails alone and the others are stored.
func (e *handlerExecutor) finishMany(ctx context.Context, fs []*lrostore.OperationFinishParams) ([]finishOutcome, error) {
	res, err := e.store.OperationFinishMany(ctx, &lrostore.OperationFinishManyParams{Finishes: fs, CancelledError: cancelledFailure})
	if err != nil && (len(fs) == 1 || !lrostore.IsPermanent(err)) {
		return nil, err
	}
	if err == nil && len(res) != len(fs) {
		return nil, fmt.Errorf("lro: the store returned %d results for %d finishes", len(res), len(fs))
	}
	out := make([]finishOutcome, len(fs))
	if err == nil {
		for i, r := range res {
			out[i].res = r
		}
		return out, nil
	}
	for i := range fs {
		one, err := e.finishMany(ctx, fs[i:i+1]) // alone: any error is returned
		if err != nil {
			out[i].err = err
		} else {
			out[i] = one[0]
		}
	}
	return out, nil
}
