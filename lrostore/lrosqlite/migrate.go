package lrosqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	// the "sqlite" database/sql driver

	"lro.dev/lro/lrostore/internal/storekit"
)

//go:embed migration/*.sql
var migrations embed.FS

// Migrate creates or brings up to date the schema of the database at path,
// as Open does, closes it, and returns the schema's version before and
// after: from is 0 for a new database, and equals to when there was nothing
// to do.
func Migrate(ctx context.Context, path string) (from, to int, err error) {
	s, from, to, err := open(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	return from, to, s.Close()
}

// migrate applies the migrations that the lro_migration table does not
// list, in one transaction, and returns the schema's version before and
// after.
func (s *Store) migrate(ctx context.Context) (from, to int, err error) {
	all, err := storekit.Migrations(migrations, "migration")
	if err != nil {
		return 0, 0, fmt.Errorf("lrosqlite: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		from, to, err = storekit.Migrate(ctx, migrationTx{tx}, all)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("lrosqlite: migrate: %w", err)
	}
	return from, to, nil
}

// migrationTx is storekit.MigrationTx on SQLite. Its lro_migration keeps
// applied_time as Unix microseconds, as the store keeps every time.
type migrationTx struct{ tx *sql.Tx }

func (m migrationTx) Applied(ctx context.Context, all []storekit.Migration) ([]int, error) {
	if _, err := m.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS lro_migration (
		version INTEGER PRIMARY KEY NOT NULL, applied_time INTEGER NOT NULL, name TEXT NOT NULL DEFAULT '')`); err != nil {
		return nil, err
	}
	// The table of older versions had no name.
	var named int
	if err := m.tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('lro_migration') WHERE name = 'name'`).Scan(&named); err != nil {
		return nil, err
	}
	if named == 0 {
		if _, err := m.tx.ExecContext(ctx, `ALTER TABLE lro_migration ADD COLUMN name TEXT NOT NULL DEFAULT ''`); err != nil {
			return nil, err
		}
		for _, mig := range all {
			if _, err := m.tx.ExecContext(ctx, `UPDATE lro_migration SET name = ? WHERE version = ?`, mig.Name, mig.Version); err != nil {
				return nil, err
			}
		}
	}
	rows, err := m.tx.QueryContext(ctx, `SELECT version FROM lro_migration`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var applied []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied = append(applied, v)
	}
	return applied, rows.Err()
}

func (m migrationTx) Apply(ctx context.Context, mig storekit.Migration) error {
	if _, err := m.tx.ExecContext(ctx, mig.Body); err != nil {
		return err
	}
	_, err := m.tx.ExecContext(ctx, `INSERT INTO lro_migration (version, name, applied_time) VALUES (?, ?, ?)`,
		mig.Version, mig.Name, time.Now().UnixMicro())
	return err
}
