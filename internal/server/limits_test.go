package server

import (
	"log/slog"
	"testing"
)

func TestLimits(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		name                 string
		conns, waits         int
		fileLimit            uint64
		wantConns, wantWaits int
	}{
		{"defaults", 0, 0, 0, MaxConnectionsDefault, MaxWaitsDefault},
		{"defaults, many files", 0, 0, 1 << 20, MaxConnectionsDefault, MaxWaitsDefault},
		{"files for the store", 0, 0, 1024, 1024 - fileReserve, (1024 - fileReserve) * 3 / 4},
		{"waits leave room", 100, 100, 0, 100, 75},
		{"as configured", 100, 10, 1 << 20, 100, 10},
		{"tiny file limit", 0, 0, 16, 8, 6},
		{"one connection", 1, 1, 0, 1, 1},
	} {
		conns, waits := limits(logger, c.conns, c.waits, c.fileLimit)
		if conns != c.wantConns || waits != c.wantWaits {
			t.Errorf("%s: limits(%d, %d, files %d) = %d, %d; want %d, %d",
				c.name, c.conns, c.waits, c.fileLimit, conns, waits, c.wantConns, c.wantWaits)
		}
	}
}
