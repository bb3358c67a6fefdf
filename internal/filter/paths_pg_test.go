package filter

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"lro.dev/lro/internal/pgtest"
)

// The path tests on PostgreSQL: the same filters select the same rows from
// jsonb columns.
func TestPathsPostgres(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.Schema(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	_, err = conn.Exec(ctx, `CREATE TABLE operations (id text COLLATE "C" PRIMARY KEY, kind text COLLATE "C" NOT NULL,
		metadata_type text COLLATE "C", metadata_json jsonb, response_type text COLLATE "C", response_json jsonb)`)
	require.NoError(t, err)
	for _, r := range pathRows {
		var typ, js any
		if r.metaType != "" {
			typ = r.metaType
		}
		if r.msg != nil {
			b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(r.msg)
			require.NoError(t, err)
			js = string(b)
		}
		_, err := conn.Exec(ctx, `INSERT INTO operations VALUES ($1, $2, $3, $4::text::jsonb, NULL, NULL)`, r.id, r.kind, typ, js)
		require.NoError(t, err)
	}
	for _, tt := range pathTests {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := ParseSchema(tt.filter, testSchema)
			require.NoError(t, err)
			where, args := SQL(e, pgDialect, 1)
			rows, err := conn.Query(ctx, `SELECT id FROM operations WHERE `+where+` ORDER BY id`, args...)
			require.NoError(t, err, where)
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err, where)
			if got == nil {
				got = []string{}
			}
			require.Equal(t, tt.want, got, where)
		})
	}
}
