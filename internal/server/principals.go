package server

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"lro.dev/lro"
	"lro.dev/lro/lroauth"
	"lro.dev/lro/lropb"
)

// principalsMax bounds how many principals principalLimits keeps state
// for. Beyond it, the entries of principals that hold nothing (no wait
// under way, a full bucket: the same as a new entry) are dropped first;
// then, if the map is still full, other entries without a wait, whose
// principals get a full bucket again. So however many principals an
// authenticator lets in, the state stays bounded.
const principalsMax = 10000

// RetryAfterHeader is the response header (gRPC metadata) by which a call
// refused for the rate limit says when to try again, in whole seconds,
// rounded up: over HTTP, Retry-After (RFC 9110 §10.2.3).
const RetryAfterHeader = "retry-after"

// principalLimits enforces PrincipalLimits: a token bucket of calls per
// principal (Rate, Burst), a cap of long polls under way per principal
// (Waits), and a cap of the operations that one claim takes (Claims).
//
// Calls without a principal (authentication off) are not limited per
// principal: they would share one bucket, which one busy client would
// empty for all. The server's global caps (MaxConnections, MaxWaits)
// bound them. Claims caps every claim, with or without a principal.
type principalLimits struct {
	limits PrincipalLimits
	burst  int

	mu         sync.Mutex
	principals map[string]*principalState
}

// principalState is what principalLimits keeps of one principal.
type principalState struct {
	bucket *rate.Limiter // nil without a rate limit
	waits  int           // long polls under way; under principalLimits.mu
}

// newPrincipalLimits returns the limits, or nil if none is set.
func newPrincipalLimits(limits PrincipalLimits) *principalLimits {
	if limits.Rate <= 0 && limits.Waits <= 0 && limits.Claims <= 0 {
		return nil
	}
	burst := limits.Burst
	if burst <= 0 {
		burst = max(int(math.Ceil(limits.Rate)), 1)
	}
	return &principalLimits{limits: limits, burst: burst, principals: make(map[string]*principalState)}
}

// state returns the state of the principal name, made if need be; under
// l.mu.
func (l *principalLimits) state(name string, now time.Time) *principalState {
	if s, ok := l.principals[name]; ok {
		return s
	}
	if len(l.principals) >= principalsMax {
		l.evict(now)
	}
	s := &principalState{}
	if l.limits.Rate > 0 {
		s.bucket = rate.NewLimiter(rate.Limit(l.limits.Rate), l.burst)
	}
	l.principals[name] = s
	return s
}

// evict drops entries until the map holds at most three quarters of
// principalsMax: first those equal to new ones, then others without a
// wait under way. Dropping a quarter at a time keeps the cost of a sweep
// to one in many calls.
func (l *principalLimits) evict(now time.Time) {
	target := principalsMax * 3 / 4
	for name, s := range l.principals {
		if s.waits == 0 && (s.bucket == nil || s.bucket.TokensAt(now) >= float64(l.burst)) {
			delete(l.principals, name)
		}
	}
	for name, s := range l.principals {
		if len(l.principals) <= target {
			return
		}
		if s.waits == 0 {
			delete(l.principals, name)
		}
	}
}

// isLongPoll reports whether req is a long poll, as limitedOperations
// counts them: a WaitOperation, or a ClaimOperations that may wait.
func isLongPoll(req any) bool {
	switch r := req.(type) {
	case *lropb.ClaimOperationsRequest:
		w := r.GetWait()
		return w == nil || w.AsDuration() > 0
	case *longrunningpb.WaitOperationRequest:
		return true
	}
	return false
}

// intercept is the unary interceptor: the rate limit, then the cap of
// waits, then the cap of claims, then the call.
func (l *principalLimits) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if claim, ok := req.(*lropb.ClaimOperationsRequest); ok && l.limits.Claims > 0 && claim.GetMax() > int32(l.limits.Claims) {
		claim.Max = int32(l.limits.Claims)
	}
	p := lroauth.FromContext(ctx)
	if p == nil {
		return handler(ctx, req)
	}
	now := time.Now()
	poll := l.limits.Waits > 0 && isLongPoll(req)
	l.mu.Lock()
	s := l.state(p.Name, now)
	if s.bucket != nil {
		r := s.bucket.ReserveN(now, 1)
		if delay := r.DelayFrom(now); delay > 0 {
			r.CancelAt(now)
			l.mu.Unlock()
			return nil, rateLimited(ctx, delay)
		}
	}
	if poll {
		if s.waits >= l.limits.Waits {
			l.mu.Unlock()
			return nil, tooManyWaits(l.limits.Waits)
		}
		s.waits++
	}
	l.mu.Unlock()
	if !poll {
		return handler(ctx, req)
	}
	defer func() {
		l.mu.Lock()
		s.waits--
		l.mu.Unlock()
	}()
	return handler(ctx, req)
}

// rateLimited is the error of a call beyond its principal's rate:
// RESOURCE_EXHAUSTED (HTTP 429), reason RATE_LIMITED, with a RetryInfo that
// says when the bucket has a token again, and a Retry-After header.
func rateLimited(ctx context.Context, delay time.Duration) error {
	grpc.SetHeader(ctx, metadata.Pairs(RetryAfterHeader, fmt.Sprint(int64(math.Ceil(delay.Seconds())))))
	st, _ := status.New(codes.ResourceExhausted,
		fmt.Sprintf("too many calls: retry in %v", delay.Round(time.Millisecond))).
		WithDetails(&errdetails.ErrorInfo{Reason: "RATE_LIMITED", Domain: lro.ErrorDomain},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	return st.Err()
}

// tooManyWaits is the error of a long poll beyond its principal's cap:
// RESOURCE_EXHAUSTED (HTTP 429), reason TOO_MANY_WAITS.
func tooManyWaits(waits int) error {
	st, _ := status.New(codes.ResourceExhausted,
		fmt.Sprintf("too many long polls (WaitOperation, ClaimOperations with a wait) of this caller at once (at most %d): "+
			"retry when one has ended, or poll with GetOperation", waits)).
		WithDetails(&errdetails.ErrorInfo{Reason: "TOO_MANY_WAITS", Domain: lro.ErrorDomain})
	return st.Err()
}
