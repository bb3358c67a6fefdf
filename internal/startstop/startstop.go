// Package startstop runs the goroutines of a service and stops them.
//
// A service embeds a Service and starts its loops with Start, which returns
// once they are running; Stop cancels their context and waits for them to
// return. Stop may be called more than once, and before Start, so that the
// owner of several services can stop them all without tracking which ones
// it started.
package startstop

import (
	"context"
	"errors"
	"sync"
)

// ErrStarted is returned by Start on a service that was started already.
var ErrStarted = errors.New("startstop: service already started")

// Service runs a service's goroutines. The zero value is ready to start.
type Service struct {
	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Start runs each of loops on a goroutine of its own, with a context that
// ends when ctx does or when Stop is called. A service starts once: a second
// Start, or a Start after Stop, returns ErrStarted.
func (s *Service) Start(ctx context.Context, loops ...func(ctx context.Context)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrStarted
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	for _, loop := range loops {
		s.wg.Go(func() { loop(ctx) })
	}
	return nil
}

// Stop cancels the context of the loops and waits for them to return.
func (s *Service) Stop() {
	s.mu.Lock()
	s.started = true // a stopped service does not start
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}
