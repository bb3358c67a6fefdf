package lropgx

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"lro.dev/lro/internal/testsignal"
	"lro.dev/lro/lrostore"
)

// The first byte of a notification's payload tells its event; Done and
// CancelRequested are followed by operation IDs, separated by commas:
//
//	P                      Pending
//	D<id>,<id>,...         Done
//	C<id>                  CancelRequested
const (
	eventPending         = 'P'
	eventDone            = 'D'
	eventCancelRequested = 'C'
)

// maxIDsPerEvent bounds the IDs of one notification: 200 IDs of 36 bytes and
// their commas make 7,400 bytes, under PostgreSQL's limit of 8,000.
const maxIDsPerEvent = 200

// decodeEvent returns the event of a notification's payload, or nil for a
// payload it does not know (sent by a newer version, or by hand).
func decodeEvent(payload string) *lrostore.Event {
	if payload == "" {
		return nil
	}
	var ids []string
	if rest := payload[1:]; rest != "" {
		ids = strings.Split(rest, ",")
	}
	switch payload[0] {
	case eventPending:
		return &lrostore.Event{Pending: true}
	case eventDone:
		if len(ids) > 0 {
			return &lrostore.Event{Done: ids}
		}
	case eventCancelRequested:
		if len(ids) > 0 {
			return &lrostore.Event{CancelRequested: ids}
		}
	}
	return nil
}

// testSignals are the moments of Listen that tests wait for (see
// internal/testsignal); they cost a nil check each unless a test turned
// them on.
type testSignals struct {
	// listened carries the backend PID of the connection each time it runs
	// LISTEN.
	listened testsignal.Signal[uint32]
	// listenFailed carries the error of each attempt to listen that failed
	// before LISTEN ran (a connection that could not be made, say).
	listenFailed testsignal.Signal[error]
}

// Backoff of Listen's reconnections.
const (
	listenRetryMin = 50 * time.Millisecond
	listenRetryMax = time.Second
)

// Listen implements lrostore.Notifier. It listens on a connection of its
// own, made with the pool's configuration but outside the pool, so that it
// takes none of the pool's connections. When that connection is lost (or
// cannot be made), it tries again, waiting from 50ms up to 1s between
// attempts. Each time it listens, the first time included, it calls fn with
// a Resync event: events before that may have been missed. It
// returns ctx.Err() when ctx ends, and lrostore.ErrClosed when the store is
// closed.
func (s *Store) Listen(ctx context.Context, fn func(*lrostore.Event)) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	listenCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	ended := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.closing.Err() != nil {
			return lrostore.ErrClosed
		}
		return nil
	}
	resync := true // the caller may have missed events before the first LISTEN too
	delay := listenRetryMin
	for {
		listened, err := s.listen(listenCtx, fn, resync)
		if !listened {
			s.testSignals.listenFailed.Signal(err)
		}
		if err := ended(); err != nil {
			return err
		}
		// The connection was lost, or could not be made: events may be
		// missed until the next one listens.
		resync = true
		if listened {
			delay = listenRetryMin
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-listenCtx.Done():
			t.Stop()
			return ended()
		}
		delay = min(2*delay, listenRetryMax)
	}
}

// listen connects, runs LISTEN, calls fn with a Resync event if resync is
// set, then with the events of the notifications until the connection
// fails or ctx ends. It reports whether it listened.
func (s *Store) listen(ctx context.Context, fn func(*lrostore.Event), resync bool) (listened bool, err error) {
	poolConfig := s.pool.Config()
	config := poolConfig.ConnConfig.Copy()
	if poolConfig.BeforeConnect != nil {
		if err := poolConfig.BeforeConnect(ctx, config); err != nil {
			return false, err
		}
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return false, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if poolConfig.AfterConnect != nil {
		if err := poolConfig.AfterConnect(ctx, conn); err != nil {
			return false, err
		}
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return false, err
	}
	s.testSignals.listened.Signal(conn.PgConn().PID())
	if resync {
		fn(&lrostore.Event{Resync: true})
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		if n.Channel != s.channel {
			continue
		}
		if ev := decodeEvent(n.Payload); ev != nil {
			fn(ev)
		}
	}
}

// Notifications. Writes publish events with pg_notify in a CTE of their own
// statement, so that an event is sent if and only if the write commits; the
// final SELECT joins (SELECT count(*) FROM <cte>) so that PostgreSQL runs the
// CTE's every row. $1 is the channel in every statement that notifies.
//
// doneNotify publishes the IDs of the rows of cte that match cond as Done
// events, maxIDsPerEvent per notification; pendingNotify publishes one
// Pending event when a row matches.
func doneNotify(name, cte, cond string) string {
	return name + ` AS (
		SELECT pg_notify($1, '` + string(eventDone) + `' || string_agg(d.id::text, ','))
		FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / ` + strconv.Itoa(maxIDsPerEvent) + ` AS chunk
			FROM ` + cte + ` WHERE ` + cond + `) d
		GROUP BY d.chunk)`
}

func pendingNotify(name, cte, cond string) string {
	return name + ` AS (
		SELECT pg_notify($1, '` + string(eventPending) + `')
		FROM (SELECT FROM ` + cte + ` WHERE ` + cond + ` LIMIT 1) p)`
}
