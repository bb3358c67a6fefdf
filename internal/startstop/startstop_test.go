package startstop_test

import (
	"context"
	"errors"
	"testing"

	"lro.dev/lro/internal/startstop"
)

func TestStopCancelsAndWaits(t *testing.T) {
	var s startstop.Service
	returned := make(chan struct{}, 2)
	loop := func(ctx context.Context) {
		<-ctx.Done()
		returned <- struct{}{}
	}
	if err := s.Start(context.Background(), loop, loop); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if len(returned) != 2 {
		t.Fatalf("%d loops returned before Stop did, want 2", len(returned))
	}
	s.Stop() // again: nothing more
}

func TestStartOnce(t *testing.T) {
	var s startstop.Service
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, startstop.ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	s.Stop()
}

func TestStopBeforeStart(t *testing.T) {
	var s startstop.Service
	s.Stop()
	if err := s.Start(context.Background()); !errors.Is(err, startstop.ErrStarted) {
		t.Fatalf("Start after Stop = %v, want ErrStarted", err)
	}
}
