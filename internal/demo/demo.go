// Package demo holds "demo.sleep", the kind that `lro serve` registers so
// that a newcomer can watch every part of lro work: it reports progress
// from its start, sleeps, reports progress several times a second, stops
// promptly when cancelled, and succeeds or fails as its input asks: at
// every attempt, or at the first few (fail_attempts), to show retries.
package demo

import (
	"context"
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"lro.dev/lro"
	"lro.dev/lro/lropb/demopb"
)

// KindSleep is the name of the demo kind.
const KindSleep = "demo.sleep"

// MaxSleep caps the duration a demo.sleep may ask for.
const MaxSleep = 24 * time.Hour

// ProgressInterval is how often demo.sleep updates its metadata.
const ProgressInterval = 200 * time.Millisecond

// RetryInitialDelay is the delay before demo.sleep's second attempt, when
// its first failed with UNAVAILABLE; it doubles from there.
const RetryInitialDelay = 500 * time.Millisecond

// Register registers demo.sleep on c.
func Register(c *lro.Client) error {
	return lro.Register(c, lro.Kind[*demopb.SleepRequest, *demopb.SleepMetadata, *demopb.SleepResponse]{
		Name:            KindSleep,
		Validate:        validateSleep,
		InitialMetadata: initialSleep,
		Run:             sleep,
		Retry:           &lro.RetryPolicy{InitialDelay: RetryInitialDelay},
	})
}

// initialSleep is the metadata of a demo.sleep from its start, before an
// attempt runs: progress 0, started now, attempt 0.
func initialSleep(*demopb.SleepRequest) (*demopb.SleepMetadata, error) {
	now := timestamppb.Now()
	return &demopb.SleepMetadata{ProgressPercent: 0, StartTime: now, UpdateTime: now}, nil
}

func validateSleep(req *demopb.SleepRequest) error {
	if d := req.GetDuration(); d != nil {
		if err := d.CheckValid(); err != nil {
			return err
		}
		if d.AsDuration() < 0 {
			return errors.New("duration must not be negative")
		}
		if d.AsDuration() > MaxSleep {
			return errors.New("duration must be at most 24h")
		}
	}
	if c := req.GetFailCode(); c < 0 || c > code.Code_UNAUTHENTICATED {
		return errors.New("fail_code must be a google.rpc.Code from 0 (succeed) to 16")
	}
	if req.GetFailAttempts() < 0 {
		return errors.New("fail_attempts must not be negative")
	}
	return nil
}

func sleep(ctx context.Context, job *lro.Job[*demopb.SleepRequest, *demopb.SleepMetadata]) (*demopb.SleepResponse, error) {
	d := job.Request.GetDuration().AsDuration()
	start := time.Now()
	report := func(now time.Time) {
		pct := int32(100)
		if d > 0 {
			pct = int32(min(100, now.Sub(start)*100/d))
		}
		_ = job.SetMetadata(&demopb.SleepMetadata{ // progress only: a lost lease ends the run
			ProgressPercent: pct,
			StartTime:       timestamppb.New(start),
			UpdateTime:      timestamppb.New(now),
			Attempt:         int32(job.Attempt),
		})
	}
	report(start)
	done := time.NewTimer(d)
	defer done.Stop()
	tick := time.NewTicker(ProgressInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case now := <-tick.C:
			report(now)
		case end := <-done.C:
			report(end)
			if c := job.Request.GetFailCode(); c != code.Code_OK && (job.Request.GetFailAttempts() == 0 || job.Attempt <= int(job.Request.GetFailAttempts())) {
				msg := job.Request.GetFailMessage()
				if msg == "" {
					msg = "demo.sleep failed as its input asked"
				}
				return nil, status.Error(codes.Code(c), msg)
			}
			return &demopb.SleepResponse{
				Slept:     durationpb.New(end.Sub(start)),
				StartTime: timestamppb.New(start),
				EndTime:   timestamppb.New(end),
			}, nil
		}
	}
}
