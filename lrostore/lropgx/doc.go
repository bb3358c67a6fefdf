// Package lropgx is lro's PostgreSQL store, through pgx v5 and its pool,
// pgxpool. It lets several lro nodes share one database: each node runs
// workers that claim operations, any node answers for any operation, and
// events ([lrostore.Notifier]) tell every node what the others did.
//
//	store, err := lropgx.Open(ctx, "postgres://lro@db.internal:5432/lro?sslmode=verify-full")
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//
// [Open] takes a libpq URL or key=value DSN and owns its pool; [New] uses a
// pool of the caller's, which it does not close. Both bring the schema up to
// date; [Migrate] does only that. The tables (lro_operation, lro_key and
// lro_migration) are made in the first schema of the connection's
// search_path. PostgreSQL 12 or later is required.
//
// # Migrations
//
// The migrations are SQL files embedded in the package
// (migration/NNN_name.sql); lro_migration lists those applied. They run in
// one transaction that first takes a transaction-level advisory lock with a
// fixed key, so nodes that start at once wait for each other: one applies
// the migrations, the others then find them applied.
//
// # Statements
//
// Every method is one statement, one round trip, whatever the size of its
// batch: the batch travels as arrays that the statement unnests. Claims and
// rescues lock the rows they take with FOR UPDATE SKIP LOCKED, so that nodes
// claiming at once take different operations and never wait for each other.
// The writes of a lease's holder (heartbeat, metadata, finish, release) lock
// their rows in ID order first, so that two of them on overlapping leases
// wait for each other rather than deadlock. Only an insert whose request ID
// is taken, and a cancellation of a done operation, need a second statement,
// to read the operation that is there.
//
// # Time
//
// A method given a zero Now uses the database's clock, now(), rather than
// the node's: lease expiries, written by one node and checked by another,
// then compare times of one clock even if the nodes' clocks differ. Lease
// TTLs are added in SQL. Times come back in UTC, in microseconds, the
// precision of timestamptz.
//
// # Plans
//
// The statements whose best plan depends on the table's contents or on the
// size of their arrays (claims, heartbeats, finishes, lists, the rescue and
// retention) are planned anew at every execution, for their arguments and
// the table as it is: pgx sends them as unnamed statements. A prepared
// statement may switch to a generic plan after five executions, which
// PostgreSQL keeps until the table is next analyzed: a generic plan made
// while the table was empty joined a heartbeat's leases with every running
// operation (10ms instead of 0.8ms for 100 leases among 1,000 running), and
// the retention delete scanned the whole table. Planning costs about 0.1ms
// a statement, which a batch of many rows shares. Point reads by ID (Get,
// Cancel, Delete) and the insert keep their prepared statements and
// generic plans: their plan never changes, and planning each would halve
// the speed of a Get.
//
// # Statistics
//
// A prepared statement's generic plan is kept until the table is next
// analyzed. On a database whose autovacuum is off, nothing analyzes
// lro_operation, and a point read planned while the table was small (a
// sequential scan, the cheapest plan then) went on scanning the whole
// table as it grew: Gets by ID fell to half their speed within 90 seconds
// of starts. So the store analyzes the table itself: when it opens, if the
// table holds operations but was never analyzed, and in the background
// whenever this store has inserted twice as many operations as the table
// held at its last ANALYZE (10,000 at least). ANALYZE also makes every
// session plan its statements on the table again. Growth is what counts:
// PostgreSQL scales the row counts of a table's statistics by its current
// size, so plans made from them stay good as it grows, and what goes bad is
// a plan kept from when it was small. It reads a sample of the table and needs no lock that
// writes wait for. Autovacuum is still needed: it reclaims the space of
// updated and deleted rows.
//
// # Shared reads
//
// Brief reads by ID (those of GetOperation and WaitOperation) that arrive
// while others run share statements. A read alone runs at once, on its own
// (after one yield of the processor, which lets reads that arrived with it
// join it); under load, each statement reads the IDs that queued while the
// last one ran, up to 16, with a list of fixed length (a short batch
// repeats an ID) so that it too keeps one generic plan. At most a quarter
// of the pool's connections, and two at least, run brief reads at once.
// Each ID then costs PostgreSQL a row rather than a statement, and lro a
// share of a round trip; the yield lets more reads share each statement.
//
// # Notifications
//
// Writes publish events with pg_notify in a part (a CTE) of their own
// statement, so an event is sent exactly when its write commits, and
// PostgreSQL delivers notifications in commit order. Inserts, releases and
// rescues that make operations pending send one Pending event per statement;
// finishes, rescues that end operations and cancellations of pending
// operations send Done with the IDs; cancellations of running operations
// send CancelRequested with the ID. The payload is one letter, P, D or C,
// followed for D and C by the IDs, separated by commas: D0190c1c5-...,...
// Under PostgreSQL's limit of 8,000 bytes, a notification holds at most 200
// IDs, and longer lists are split.
//
// [Store.Listen] listens on a connection of its own, made with the pool's
// configuration outside the pool. When the connection is lost it reconnects,
// waiting up to a second between attempts, and then calls its function with
// a Resync event. The channel is "lro_events" unless [WithChannel] sets
// another; all nodes sharing a database must use the same. The connection
// must be a session of its own: LISTEN does not work through a pooler in
// transaction mode.
package lropgx
