package lro

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"lro.dev/lro/lrostore"
)

// The defaults of a RetryPolicy's fields.
const (
	RetryInitialDelayDefault = time.Second
	RetryMultiplierDefault   = 2.0
	RetryMaxDelayDefault     = 5 * time.Minute
	RetryJitterDefault       = 0.2
)

// RetryPolicy says which failures of an operation's attempt run it again,
// and when. An attempt that fails with a retryable error puts the operation
// back to pending until its next attempt's time, on whichever node claims
// it then; its error stays empty until it is done, and the last failure is
// kept (see OperationInfo.LastError). Failed attempts count toward the
// kind's MaxAttempts, as attempts that lost their worker do: the attempt
// that reaches it fails the operation with its error, whose message says
// how many attempts were made.
//
// The delay before attempt n+1 is InitialDelay × Multiplier^(n-1), at most
// MaxDelay, then spread by Jitter: with the defaults 1s, 2s, 4s, … up to
// five minutes, each within ±20%. As AIP-194 advises, only UNAVAILABLE is
// retried by default; Codes adds others. A handler may decide for one
// error with Retryable and NonRetryable, and a google.rpc.RetryInfo detail
// in its status sets the delay, as it does for Google's clients.
type RetryPolicy struct {
	// InitialDelay is the delay before the second attempt. Zero means
	// RetryInitialDelayDefault.
	InitialDelay time.Duration

	// Multiplier grows the delay from one attempt to the next; at least 1.
	// Zero means RetryMultiplierDefault.
	Multiplier float64

	// MaxDelay caps the delay. Zero means RetryMaxDelayDefault, or
	// InitialDelay if that is longer.
	MaxDelay time.Duration

	// Jitter spreads each delay at random by up to this fraction of it, in
	// either direction, so that operations that failed together do not all
	// run again together; from 0 to 1. Zero means RetryJitterDefault; a
	// negative value means none.
	Jitter float64

	// Codes are the codes that retry, besides UNAVAILABLE. DEADLINE_EXCEEDED
	// here retries attempts that ran out of the kind's AttemptTimeout.
	Codes []codes.Code

	none bool // NoRetry: no code retries
}

// NoRetry is a RetryPolicy that retries nothing: every error ends the
// operation at once (attempts that lose their worker still run again).
var NoRetry = &RetryPolicy{Jitter: -1, Codes: []codes.Code{}, none: true}

// retries reports whether a failure with code c runs the operation again.
func (p *RetryPolicy) retries(c codes.Code) bool {
	if p.none {
		return false
	}
	return c == codes.Unavailable || slices.Contains(p.Codes, c)
}

// normalized returns the policy with its defaults filled in, or an error
// naming the field that is out of range.
func (p *RetryPolicy) normalized() (*RetryPolicy, error) {
	if p == nil {
		p = &RetryPolicy{}
	}
	out := *p
	out.Codes = slices.Clone(p.Codes)
	switch {
	case out.InitialDelay < 0:
		return nil, fmt.Errorf("the initial delay %v is negative", out.InitialDelay)
	case out.MaxDelay < 0:
		return nil, fmt.Errorf("the maximum delay %v is negative", out.MaxDelay)
	case math.IsNaN(out.Multiplier) || math.IsInf(out.Multiplier, 0) || (out.Multiplier != 0 && out.Multiplier < 1):
		return nil, fmt.Errorf("the multiplier %v is below 1", out.Multiplier)
	case math.IsNaN(out.Jitter) || out.Jitter > 1:
		return nil, fmt.Errorf("the jitter %v is above 1", out.Jitter)
	case out.InitialDelay > DelayMax || out.MaxDelay > DelayMax:
		return nil, fmt.Errorf("a delay is over the longest wait, %v", DelayMax)
	}
	for _, c := range out.Codes {
		if c == codes.OK || c > codes.Unauthenticated {
			return nil, fmt.Errorf("the codes hold %d, which is not the code of a failure", c)
		}
	}
	if out.InitialDelay == 0 {
		out.InitialDelay = RetryInitialDelayDefault
	}
	if out.Multiplier == 0 {
		out.Multiplier = RetryMultiplierDefault
	}
	if out.MaxDelay == 0 {
		out.MaxDelay = max(RetryMaxDelayDefault, out.InitialDelay)
	}
	if out.MaxDelay < out.InitialDelay {
		return nil, fmt.Errorf("the maximum delay %v is below the initial delay %v", out.MaxDelay, out.InitialDelay)
	}
	switch {
	case out.Jitter == 0:
		out.Jitter = RetryJitterDefault
	case out.Jitter < 0:
		out.Jitter = 0
	}
	return &out, nil
}

// clone returns a copy that its receiver's user may change freely.
func (p *RetryPolicy) clone() *RetryPolicy {
	out := *p
	out.Codes = slices.Clone(p.Codes)
	return &out
}

// delay returns the delay after failed attempt n (from 1), before jitter is
// applied by spread.
func (p *RetryPolicy) delay(n int32) time.Duration {
	d := float64(p.InitialDelay) * math.Pow(p.Multiplier, float64(max(n, 1)-1))
	if d >= float64(p.MaxDelay) || math.IsInf(d, 0) || math.IsNaN(d) {
		return p.MaxDelay
	}
	return time.Duration(d)
}

// spread applies the jitter to d: a uniform pick in d ± Jitter×d.
func (p *RetryPolicy) spread(d time.Duration) time.Duration {
	if p.Jitter == 0 || d <= 0 {
		return d
	}
	j := float64(d) * p.Jitter
	return time.Duration(float64(d) - j + 2*j*rand.Float64())
}

// retryMark is what Retryable and NonRetryable wrap an error in.
type retryMark struct {
	err   error
	retry bool
	delay time.Duration
}

func (m *retryMark) Error() string { return m.err.Error() }
func (m *retryMark) Unwrap() error { return m.err }

// GRPCStatus keeps the status of the wrapped error, so that the operation
// fails with it.
func (m *retryMark) GRPCStatus() *status.Status {
	if st, ok := status.FromError(m.err); ok {
		return st
	}
	return status.New(codes.Unknown, m.err.Error())
}

// Retryable marks err, returned by a handler, as one that runs the
// operation again whatever its code, after delay (zero: the kind's
// RetryPolicy decides), while attempts remain. The operation fails with
// err if none do.
func Retryable(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryMark{err: err, retry: true, delay: max(delay, 0)}
}

// NonRetryable marks err, returned by a handler, as one that ends the
// operation at once, whatever its code.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryMark{err: err}
}

// retryDecision says whether a failed attempt runs again and after how
// long: the handler's mark first, then the policy's codes. A
// google.rpc.RetryInfo detail of a retryable status sets the delay (capped
// by DelayMax); otherwise the policy's schedule does.
func retryDecision(p *RetryPolicy, err error, st *status.Status, attempt int32) (bool, time.Duration) {
	var mark *retryMark
	if errors.As(err, &mark) {
		if !mark.retry {
			return false, 0
		}
		if mark.delay > 0 {
			return true, min(mark.delay, DelayMax)
		}
	} else if !p.retries(st.Code()) {
		return false, 0
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().IsValid() {
			if d := ri.GetRetryDelay().AsDuration(); d > 0 {
				return true, min(d, DelayMax)
			}
		}
	}
	return true, p.spread(p.delay(attempt))
}

// attemptDeadline returns when an attempt of op that starts at now must end,
// and the cause its handler's context gets then: the earlier of the kind's
// AttemptTimeout and the operation's deadline. The cause is nil when
// neither applies.
func attemptDeadline(k *kind, op *lrostore.Operation, now time.Time) (time.Time, error) {
	var (
		deadline time.Time
		cause    error
	)
	if k != nil && k.attemptTimeout > 0 {
		deadline, cause = now.Add(k.attemptTimeout), ErrAttemptTimeout
	}
	if !op.Deadline.IsZero() && (cause == nil || op.Deadline.Before(deadline)) {
		deadline, cause = op.Deadline, ErrTimeout
	}
	return deadline, cause
}

// timeoutError makes the error of a handler whose context ran out of time,
// with cause, a DEADLINE_EXCEEDED status, unless the handler returned a
// status of its own.
func timeoutError(err error, cause error) error {
	if cause != ErrAttemptTimeout && cause != ErrTimeout {
		return err
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if cause == ErrTimeout {
		return status.Error(codes.DeadlineExceeded, "the operation ran out of its time (the kind's Timeout)")
	}
	return status.Error(codes.DeadlineExceeded, "the attempt ran out of its time (the kind's AttemptTimeout)")
}

// retryDelay says whether the attempt of op that failed with err (stored as
// f), its handler's context ending with cause, runs again, and after how
// long: not when its cancellation was requested, its time is out, or its
// attempts are used up; otherwise as the kind's policy and the error's
// marks decide.
func retryDelay(k *kind, op *lrostore.Operation, err error, f *lrostore.Failure, cause error, now time.Time) (time.Duration, bool) {
	switch {
	case errors.Is(cause, ErrCancelRequested), errors.Is(cause, ErrTimeout), op.CancelRequested:
		return 0, false
	case !op.Deadline.IsZero() && !now.Before(op.Deadline):
		return 0, false
	case op.Attempt >= op.MaxAttempts:
		return 0, false
	}
	retry, delay := retryDecision(k.retry, err, failureStatus(f), op.Attempt)
	return delay, retry
}

// failureStatus decodes a stored failure's status.
func failureStatus(f *lrostore.Failure) *status.Status {
	st := &spb.Status{}
	if err := proto.Unmarshal(f.Status, st); err != nil {
		return status.New(codes.Code(f.Code), f.Message)
	}
	return status.FromProto(st)
}

// withAttempts adds to the failure of an operation that made more than one
// attempt how many it made.
func withAttempts(f *lrostore.Failure, attempts int32) *lrostore.Failure {
	suffix := fmt.Sprintf(" (after %d attempts)", attempts)
	if attempts < 2 || strings.HasSuffix(f.Message, suffix) { // a remote worker's client may have said it
		return f
	}
	st := failureStatus(f).Proto()
	st.Message += suffix
	return statusFailure(st)
}
