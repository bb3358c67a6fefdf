// Package testkinds holds what the tests of lro's services share to steer
// their handlers: gates that hold a handler until the test releases it, and
// the failure a failing kind reports. Only tests import it.
package testkinds

import (
	"context"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Type URLs the tests check responses and metadata against.
const (
	TypeStringValue   = "type.googleapis.com/google.protobuf.StringValue"
	TypeEmpty         = "type.googleapis.com/google.protobuf.Empty"
	TypeSleepMetadata = "type.googleapis.com/lro.demo.v1.SleepMetadata"
)

// FailStatus is the status a failing kind fails with: a code, a message and
// details that must reach clients exactly.
func FailStatus(key string) *status.Status {
	st, err := status.New(codes.FailedPrecondition, "boom").WithDetails(
		&errdetails.ErrorInfo{Reason: "BOOM", Domain: "test.example", Metadata: map[string]string{"key": key}},
		&errdetails.LocalizedMessage{Locale: "en-US", Message: "it went boom"},
	)
	if err != nil {
		panic(err)
	}
	return st
}

// Gate lets a test follow and end one blocking handler.
type Gate struct {
	Key         string
	Started     chan struct{} // closed when a handler starts holding it
	Cause       chan error    // context.Cause, when the handler's context ended first
	release     chan struct{}
	startOnce   sync.Once
	releaseOnce sync.Once
}

// Release lets the handler holding g return its response.
func (g *Gate) Release() { g.releaseOnce.Do(func() { close(g.release) }) }

// Hold blocks until g is released, then returns "released KEY", or until
// ctx ends, then returns its cause; a stubborn holder returns "finished
// anyway KEY" even then.
func (g *Gate) Hold(ctx context.Context, stubborn bool) (*wrapperspb.StringValue, error) {
	g.startOnce.Do(func() { close(g.Started) })
	select {
	case <-g.release:
		return wrapperspb.String("released " + g.Key), nil
	case <-ctx.Done():
		cause := context.Cause(ctx)
		select {
		case g.Cause <- cause:
		default:
		}
		if stubborn {
			return wrapperspb.String("finished anyway " + g.Key), nil
		}
		return nil, cause
	}
}

// Gates holds a Gate per key; the zero value is ready to use.
type Gates struct {
	mu sync.Mutex
	m  map[string]*Gate
}

// Get returns the gate of key, making it on first use.
func (gs *Gates) Get(key string) *Gate {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.m == nil {
		gs.m = map[string]*Gate{}
	}
	g := gs.m[key]
	if g == nil {
		g = &Gate{Key: key, Started: make(chan struct{}), release: make(chan struct{}), Cause: make(chan error, 1)}
		gs.m[key] = g
	}
	return g
}
