package storekit

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// The migration runner of both stores. A store embeds its migrations as
// files NNN_name.sql, applied in the order of their numbers, and lists the
// applied ones in the table lro_migration, of one schema in both stores:
//
//	version       the migration's number, the primary key
//	name          the file's name without ".sql" (such as "001_operations")
//	applied_time  when it was applied, in the store's time type
//
// A store's database from an older lro may hold an older lro_migration
// (SQLite's had no name): MigrationTx.Applied brings it to this schema in
// place.

// Migration is one migration file.
type Migration struct {
	Version int
	Name    string // the file's name without ".sql"
	Body    string
}

// LatestVersion returns the version of the last migration in dir, the
// schema's version once every migration is applied.
func LatestVersion(files fs.FS, dir string) (int, error) {
	all, err := Migrations(files, dir)
	if err != nil {
		return 0, err
	}
	if len(all) == 0 {
		return 0, fmt.Errorf("%s: no migrations", dir)
	}
	return all[len(all)-1].Version, nil
}

// Migrations reads the migrations of dir in files, in version order.
func Migrations(files fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(files, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	var all []Migration
	for _, file := range names {
		name := strings.TrimSuffix(path.Base(file), ".sql")
		prefix, _, _ := strings.Cut(name, "_")
		version, err := strconv.ParseInt(prefix, 10, 32)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: bad name", file)
		}
		body, err := fs.ReadFile(files, file)
		if err != nil {
			return nil, err
		}
		all = append(all, Migration{Version: int(version), Name: name, Body: string(body)})
	}
	slices.SortFunc(all, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(all); i++ {
		if all[i].Version == all[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s: one version", all[i-1].Name, all[i].Name)
		}
	}
	return all, nil
}

// MigrationTx is a transaction of a store's database, in which Migrate
// runs.
type MigrationTx interface {
	// Applied creates lro_migration if there is none, brings one that an
	// older lro made to the current schema (all are the store's
	// migrations, for their names), and returns the versions it lists.
	Applied(ctx context.Context, all []Migration) ([]int, error)
	// Apply runs m's body and lists m in lro_migration.
	Apply(ctx context.Context, m Migration) error
}

// Migrate applies, in tx, the migrations of all that lro_migration does
// not list, and returns the schema's version before and after: from is 0
// for a new database, and equals to when there was nothing to do.
func Migrate(ctx context.Context, tx MigrationTx, all []Migration) (from, to int, err error) {
	applied, err := tx.Applied(ctx, all)
	if err != nil {
		return 0, 0, err
	}
	if len(applied) > 0 {
		from = slices.Max(applied)
	}
	to = from
	for _, m := range all {
		to = max(to, m.Version)
		if slices.Contains(applied, m.Version) {
			continue
		}
		if err := tx.Apply(ctx, m); err != nil {
			return 0, 0, fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return from, to, nil
}
