package lropgx

import "github.com/jackc/pgx/v5/pgxpool"

// SetOnListen makes s call f with the backend PID of its listening
// connection each time that connection runs LISTEN.
func SetOnListen(s *Store, f func(pid uint32)) { s.onListen = f }

// Pool returns the store's pool.
func Pool(s *Store) *pgxpool.Pool { return s.pool }

// ClaimQuery is the statement OperationClaim runs.
const ClaimQuery = claimQuery
