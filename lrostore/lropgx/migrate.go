package lropgx

import (
	"context"
	"embed"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"lro.dev/lro/lrostore/internal/storekit"
)

//go:embed migration/*.sql
var migrations embed.FS

// migrationLockKey is the key of the transaction-level advisory lock that
// migrations hold, so that nodes starting at once apply each migration once.
// It is fixed (the bytes of "lromigr8") and the same for every schema of a
// database: migrations of different schemas wait for each other, briefly.
const migrationLockKey int64 = 0x6c726f6d69677238

// Migrate brings the schema of the database that dsn names up to date, and
// returns. Open and New migrate too; Migrate is for running migrations
// alone, such as before a deployment.
func Migrate(ctx context.Context, dsn string) error {
	_, _, err := MigrateVersions(ctx, dsn)
	return err
}

// MigrateVersions is Migrate, and returns the schema's version before and
// after: from is 0 when there was no schema, and equals to when there was
// nothing to do.
func MigrateVersions(ctx context.Context, dsn string) (from, to int, err error) {
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("lropgx: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return 0, 0, fmt.Errorf("lropgx: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if from, to, err = migrate(ctx, conn); err != nil {
		return 0, 0, fmt.Errorf("lropgx: migrate: %w", err)
	}
	return from, to, nil
}

// migrate applies the migrations that the lro_migration table does not
// list, in one transaction that holds an advisory lock: of several nodes
// starting at once, one migrates and the others then find nothing to do. It
// returns the schema's version before and after.
func migrate(ctx context.Context, conn *pgx.Conn) (from, to int, err error) {
	all, err := storekit.Migrations(migrations, "migration")
	if err != nil {
		return 0, 0, err
	}
	if err := checkSchema(ctx, conn); err != nil {
		return 0, 0, err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		from, to, err = storekit.Migrate(ctx, migrationTx{tx}, all)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return from, to, nil
}

// migrationTx is storekit.MigrationTx on PostgreSQL.
type migrationTx struct{ tx pgx.Tx }

func (m migrationTx) Applied(ctx context.Context, _ []storekit.Migration) ([]int, error) {
	if _, err := m.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return nil, err
	}
	// The table has had this schema from the first version.
	if _, err := m.tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS lro_migration (
		version      integer     PRIMARY KEY,
		name         text        NOT NULL,
		applied_time timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, err
	}
	rows, err := m.tx.Query(ctx, `SELECT version FROM lro_migration`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

func (m migrationTx) Apply(ctx context.Context, mig storekit.Migration) error {
	// Without arguments, Exec uses the simple protocol, which runs the
	// file's several statements.
	if _, err := m.tx.Exec(ctx, mig.Body); err != nil {
		return err
	}
	_, err := m.tx.Exec(ctx, `INSERT INTO lro_migration (version, name) VALUES ($1, $2)`, mig.Version, mig.Name)
	return err
}

// checkSchema fails when the connection's search_path names no schema that
// exists, which PostgreSQL reports only as "no schema has been selected to
// create in", and says how to fix it.
func checkSchema(ctx context.Context, conn *pgx.Conn) error {
	var schema *string
	var searchPath string
	if err := conn.QueryRow(ctx, `SELECT current_schema(), current_setting('search_path')`).Scan(&schema, &searchPath); err != nil {
		return err
	}
	if schema != nil {
		return nil
	}
	first := "myschema"
	for name := range strings.SplitSeq(searchPath, ",") {
		if name = strings.TrimSpace(name); name != "" && name != `"$user"` && name != "$user" {
			first = name
			break
		}
	}
	return fmt.Errorf("no schema of the search_path %q exists: create it first (CREATE SCHEMA %s;), or set another in the DSN (options=-c%%20search_path%%3Dmyschema)",
		searchPath, first)
}
