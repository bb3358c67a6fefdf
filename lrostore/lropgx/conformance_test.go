package lropgx_test

import (
	"context"
	"testing"

	"lro.dev/lro/internal/pgtest"
	"lro.dev/lro/lrostore"
	"lro.dev/lro/lrostore/lropgx"
	"lro.dev/lro/lrostore/lrostoretest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pgtest.URL(t) // skip here rather than in each case
	lrostoretest.Run(t, func(t *testing.T) lrostore.Store {
		return open(t, pgtest.Schema(t), lropgx.WithChannel(pgtest.Name("lro_test_")))
	})
	t.Run("Notifier", func(t *testing.T) {
		lrostoretest.RunNotifier(t, func(t *testing.T) (writer, listener lrostore.Store) {
			dsn, channel := pgtest.Schema(t), lropgx.WithChannel(pgtest.Name("lro_test_"))
			return open(t, dsn, channel), open(t, dsn, channel)
		})
	})
	t.Run("Migrations", func(t *testing.T) {
		lrostoretest.RunMigrations(t, func(t *testing.T) *lrostoretest.Database {
			dsn := pgtest.Schema(t)
			return &lrostoretest.Database{
				Migrate: func(ctx context.Context) (int, int, error) { return lropgx.MigrateVersions(ctx, dsn) },
				Open:    func(t *testing.T) lrostore.Store { return open(t, dsn) },
			}
		}, 7)
	})
}
