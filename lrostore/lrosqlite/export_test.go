package lrosqlite

import "context"

// ReaderPragma reads a pragma's value on one of the store's reader
// connections.
func (s *Store) ReaderPragma(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.read.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}
