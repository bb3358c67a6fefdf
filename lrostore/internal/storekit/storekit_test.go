package storekit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/internal/storekit"
)

func TestNoneSelected(t *testing.T) {
	for n, want := range map[int]bool{-1: true, 0: true, 1: false, 100: false} {
		require.Equal(t, want, storekit.NoneSelected(n), "limit %d", n)
	}
}

func TestInterpretError(t *testing.T) {
	noRows, closed, refused, other := errors.New("no rows"), errors.New("closed"), errors.New("refused"), errors.New("other")
	e := &storekit.Errors{
		NoRows:    noRows,
		Closed:    func(err error) bool { return errors.Is(err, closed) },
		Permanent: func(err error) bool { return errors.Is(err, refused) },
	}
	require.NoError(t, e.InterpretError(nil))
	require.ErrorIs(t, e.InterpretError(noRows), lrostore.ErrNotFound)
	require.ErrorIs(t, e.InterpretError(closed), lrostore.ErrClosed)
	require.True(t, lrostore.IsPermanent(e.InterpretError(refused)))
	require.ErrorIs(t, e.InterpretError(refused), refused, "a permanent error wraps the driver's")
	require.Equal(t, other, e.InterpretError(other))
}

func TestColumns(t *testing.T) {
	require.Equal(t, `id, parent, kind, state, input, metadata, metadata_type, response, response_type,
	error, error_code, error_message, request_id, request_hash, attempt, max_attempts,
	lease_owner, lease_token, lease_expire_time, cancel_requested, create_time, update_time, end_time,
	not_before, last_error, deadline, trace_context`, storekit.Columns(""))
	var r storekit.OperationRow[int64]
	require.Len(t, r.Dest(), 27, "one destination a column")
}

func TestMigrations(t *testing.T) {
	files := fstest.MapFS{
		"m/002_second.sql": {Data: []byte("two")},
		"m/001_first.sql":  {Data: []byte("one")},
		"m/README":         {Data: []byte("not a migration")},
	}
	all, err := storekit.Migrations(files, "m")
	require.NoError(t, err)
	require.Equal(t, []storekit.Migration{{1, "001_first", "one"}, {2, "002_second", "two"}}, all)

	_, err = storekit.Migrations(fstest.MapFS{"m/first.sql": {}}, "m")
	require.ErrorContains(t, err, "bad name")
	_, err = storekit.Migrations(fstest.MapFS{"m/001_a.sql": {}, "m/1_b.sql": {}}, "m")
	require.ErrorContains(t, err, "one version")
}

// fakeTx is a database whose lro_migration lists applied.
type fakeTx struct {
	applied []int
	ran     []string
	fail    string // the migration whose body fails
}

func (f *fakeTx) Applied(context.Context, []storekit.Migration) ([]int, error) { return f.applied, nil }

func (f *fakeTx) Apply(_ context.Context, m storekit.Migration) error {
	if m.Name == f.fail {
		return errors.New("syntax error")
	}
	f.ran = append(f.ran, m.Name)
	f.applied = append(f.applied, m.Version)
	return nil
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	all := []storekit.Migration{{1, "001_a", "a"}, {2, "002_b", "b"}, {3, "003_c", "c"}}
	tx := &fakeTx{}
	from, to, err := storekit.Migrate(ctx, tx, all)
	require.NoError(t, err)
	require.Equal(t, [2]int{0, 3}, [2]int{from, to})
	require.Equal(t, []string{"001_a", "002_b", "003_c"}, tx.ran)

	tx.ran = nil
	from, to, err = storekit.Migrate(ctx, tx, all)
	require.NoError(t, err)
	require.Equal(t, [2]int{3, 3}, [2]int{from, to}, "nothing to do")
	require.Empty(t, tx.ran)

	tx = &fakeTx{applied: []int{1}}
	from, to, err = storekit.Migrate(ctx, tx, all)
	require.NoError(t, err)
	require.Equal(t, [2]int{1, 3}, [2]int{from, to})
	require.Equal(t, []string{"002_b", "003_c"}, tx.ran)

	_, _, err = storekit.Migrate(ctx, &fakeTx{fail: "002_b"}, all)
	require.ErrorContains(t, err, "migration 002_b: syntax error")
}

func TestRules(t *testing.T) {
	d := storekit.Dialect{
		IsTrue:  func(c string) string { return c },
		IsFalse: func(c string) string { return "NOT " + c },
		True:    "true",
		Indent:  " ",
	}
	require.Equal(t, "state = CASE WHEN state = 0 THEN 4 ELSE state END,"+
		" error = CASE WHEN state = 0 THEN s ELSE error END,"+
		" error_code = CASE WHEN state = 0 THEN c ELSE error_code END,"+
		" error_message = CASE WHEN state = 0 THEN m ELSE error_message END,"+
		" end_time = CASE WHEN state = 0 THEN now ELSE end_time END,"+
		" cancel_requested = true, update_time = now",
		strings.ReplaceAll(d.CancelSet(storekit.FailureArgs{"s", "c", "m"}, "now"), "\n", ""))
}

func TestTraceContext(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tt := range []struct {
		parent, state, column string
		ok                    bool
	}{
		{"", "", "", false},
		{"", "a=b", "", false},
		{parent, "", parent, true},
		{parent, "a=b, c=d e", parent + " a=b, c=d e", true},
	} {
		column, ok := storekit.TraceContext(tt.parent, tt.state)
		require.Equal(t, tt.column, column)
		require.Equal(t, tt.ok, ok)
		if ok {
			p, s := storekit.SplitTraceContext(column)
			require.Equal(t, [2]string{tt.parent, tt.state}, [2]string{p, s})
		}
	}
}
