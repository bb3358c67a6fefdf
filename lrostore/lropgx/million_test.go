package lropgx_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lropb/demopb"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
)

// TestMillionMetadataFilter measures lists filtered on metadata fields over
// 1,000,000 operations, the page p99 to stay within 50 ms. It runs on
// demand only, with LRO_BENCH_MILLION=1 (and LRO_TEST_POSTGRES), since
// filling the table takes a while:
//
//	LRO_BENCH_MILLION=1 go test -run TestMillionMetadataFilter -v ./lrostore/lropgx/
//
// Four kinds of 250,000 operations each, each with its own metadata type;
// one in ten pending; demo.sleep's progress_percent from 0 to 100. The
// rows go in with INSERT ... SELECT generate_series in the test's own
// schema, dropped at the end.
func TestMillionMetadataFilter(t *testing.T) {
	if os.Getenv("LRO_BENCH_MILLION") != "1" {
		t.Skip("set LRO_BENCH_MILLION=1 to run")
	}
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	pool := lropgx.Pool(s)
	began := time.Now()
	_, err := pool.Exec(ctx, `INSERT INTO lro_operation (id, parent, kind, state, input, metadata, metadata_type,
			metadata_json, max_attempts, create_time, update_time, end_time)
		SELECT lpad(to_hex(g), 32, '0')::uuid, 'projects/p', 'k' || (g % 4), CASE WHEN g % 10 = 0 THEN 0 ELSE 2 END,
			'\x'::bytea, '\x'::bytea,
			(ARRAY['type.googleapis.com/lro.demo.v1.SleepMetadata', 'type.googleapis.com/google.protobuf.Empty',
				'type.googleapis.com/google.protobuf.Duration', 'type.googleapis.com/google.protobuf.Timestamp'])[g % 4 + 1],
			CASE WHEN g % 4 = 0 THEN jsonb_build_object('progress_percent', g % 101,
				'start_time', to_char(timestamp '2026-01-01' + g * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
				ELSE '{}'::jsonb END,
			3, now(), now(), CASE WHEN g % 10 = 0 THEN NULL ELSE now() END
		FROM generate_series(1, 1000000) g`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE lro_operation`)
	require.NoError(t, err)
	t.Logf("filled 1,000,000 operations in %v", time.Since(began).Round(time.Millisecond))

	kinds := []lrostore.FilterKind{
		{Name: "k0", Metadata: desc(&demopb.SleepMetadata{})},
		{Name: "k1", Metadata: desc(&emptypb.Empty{})},
		{Name: "k2", Metadata: desc(&durationpb.Duration{})},
		{Name: "k3", Metadata: desc(&timestamppb.Timestamp{})},
	}
	for _, tc := range []struct {
		filter string
		within bool // the p99 must be within 50 ms
	}{
		{`metadata.progress_percent >= 50 AND done = false`, true},
		{`metadata.@type = "type.googleapis.com/lro.demo.v1.SleepMetadata" AND metadata.progress_percent >= 50 AND done = false`, true},
		{`kind = "k0" AND metadata.start_time > "2026-01-05T00:00:00Z"`, true},
		{`metadata.progress_percent = 100`, true},
		// The worst case, measured but not bounded: a field that only the
		// oldest operations match. The list walks the type's operations
		// newest first, so the first page reads the 160,000 newer ones
		// before it finds one; no index covers the fields themselves.
		{`kind = "k0" AND metadata.start_time < "2026-01-05T00:00:00Z"`, false},
	} {
		filter := tc.filter
		f, err := lrostore.ParseFilterKinds(filter, kinds)
		require.NoError(t, err)
		// The plan walks an index newest first: (parent, metadata_type,
		// id) or, when the type is a large share of the parent's
		// operations (here a quarter, of the one parent), the primary key.
		where, args := f.SQL(lropgx.Dialect, 2)
		rows, err := pool.Query(ctx, `EXPLAIN SELECT o.id FROM lro_operation o WHERE o.parent = $1 AND (`+where+
			`) ORDER BY o.id DESC LIMIT 51`, append([]any{"projects/p"}, args...)...)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		plan := strings.Join(lines, "\n")
		require.NotContains(t, plan, "Seq Scan", "%s:\n%s", filter, plan)
		require.Contains(t, plan, "Index Scan Backward", "%s:\n%s", filter, plan)
		t.Logf("%s:\n%s", filter, plan)
		var took []time.Duration
		for range 10 {
			before := ""
			for range 20 { // 20 pages of 50, newest first
				start := time.Now()
				page, err := s.OperationList(ctx, &lrostore.OperationListParams{Parent: "projects/p", Filter: f,
					BeforeID: before, Limit: 51, MaxBytes: 3 << 20})
				took = append(took, time.Since(start))
				require.NoError(t, err)
				require.NotEmpty(t, page)
				before = page[len(page)-1].ID
			}
		}
		slices.Sort(took)
		p50, p99 := took[len(took)/2], took[len(took)*99/100]
		t.Logf("%s: %d pages of 50, p50 %v, p99 %v", filter, len(took), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
		if tc.within {
			require.Less(t, p99, 50*time.Millisecond, filter)
		}
	}
}

func desc(m interface{ ProtoReflect() protoreflect.Message }) protoreflect.MessageDescriptor {
	return m.ProtoReflect().Descriptor()
}
