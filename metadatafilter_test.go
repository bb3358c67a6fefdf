package lro_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"lro.dev/lro"
	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore"
)

type sleepKind = lro.Kind[*demopb.SleepRequest, *demopb.SleepMetadata, *demopb.SleepResponse]

// ListOperations filters on the fields of the kinds' metadata and
// responses, written at start, by SetMetadata and at the finish.
func TestListMetadataFilter(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, store lrostore.Store) {
		ctx := context.Background()
		// The progress is the request's fail_message, from the start.
		initial := func(r *demopb.SleepRequest) (*demopb.SleepMetadata, error) {
			p, err := strconv.Atoi(r.GetFailMessage())
			return &demopb.SleepMetadata{ProgressPercent: int32(p),
				StartTime: timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 500, time.UTC))}, err
		}
		c := newClient(t, store, &lro.Config{Workers: 8}, func(c *lro.Client) {
			lro.MustRegister(c, sleepKind{Name: "meta.pending", InitialMetadata: initial,
				Run: func(ctx context.Context, j *lro.Job[*demopb.SleepRequest, *demopb.SleepMetadata]) (*demopb.SleepResponse, error) {
					<-ctx.Done()
					return nil, ctx.Err()
				}})
			lro.MustRegister(c, sleepKind{Name: "meta.done", InitialMetadata: initial,
				Run: func(ctx context.Context, j *lro.Job[*demopb.SleepRequest, *demopb.SleepMetadata]) (*demopb.SleepResponse, error) {
					if err := j.SetMetadata(&demopb.SleepMetadata{ProgressPercent: 100}); err != nil {
						return nil, err
					}
					return &demopb.SleepResponse{Slept: durationpb.New(2 * time.Second)}, nil
				}})
		})
		start := func(kind, progress string) string {
			op, err := c.StartOperation(ctx, kind, &demopb.SleepRequest{FailMessage: progress}, nil)
			require.NoError(t, err)
			return op.GetName()
		}
		p0, p50, p80 := start("meta.pending", "0"), start("meta.pending", "50"), start("meta.pending", "80")
		done := start("meta.done", "60")
		op, err := c.WaitOperation(ctx, done, 10*time.Second)
		require.NoError(t, err)
		require.True(t, op.GetDone())

		for _, tc := range []struct {
			filter string
			want   []string
		}{
			{`metadata.progress_percent >= 50 AND done = false`, []string{p80, p50}},
			{`metadata.progressPercent >= 50`, []string{done, p80, p50}},
			{`metadata.progress_percent = 100 AND kind = "meta.done"`, []string{done}},
			{`response.slept >= 2s`, []string{done}},
			{`response.slept > 2s`, nil},
			{`metadata.@type = "type.googleapis.com/lro.demo.v1.SleepMetadata" metadata.start_time < "2026-01-01T00:00:00.000001Z"`,
				[]string{p80, p50, p0}},
			{`metadata.start_time > "2026-01-01T00:00:00.0000005Z"`, nil},
		} {
			resp, err := c.ListOperations(ctx, "operations", &lro.ListOptions{Filter: tc.filter})
			require.NoError(t, err, tc.filter)
			var got []string
			for _, op := range resp.GetOperations() {
				got = append(got, op.GetName())
			}
			require.Equal(t, tc.want, got, tc.filter)
		}

		_, err = c.ListOperations(ctx, "operations", &lro.ListOptions{Filter: `kind = "meta.done" AND metadata.nope = 1`})
		require.Equal(t, codes.InvalidArgument, status.Code(err))
		require.ErrorContains(t, err, "column 24: field metadata.nope: lro.demo.v1.SleepMetadata has no field nope")
	})
}
