package heapfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"lro.dev/lro/internal/testsignal"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		live, floor uint64
		base, want  int
	}{
		{"a small live heap: the goal's minimum reaches the floor", 1 * mib, 64 * mib, 100, 1600},
		{"no live heap yet", 0, 64 * mib, 100, 1600},
		{"a live heap over the minimum grows to the floor", 16 * mib, 64 * mib, 100, 300},
		{"GOGC reaches the floor on its own", 40 * mib, 64 * mib, 100, 100},
		{"a live heap over the floor", 100 * mib, 64 * mib, 100, 100},
		{"a higher GOGC is kept", 16 * mib, 64 * mib, 500, 500},
		{"a lower GOGC is raised", 16 * mib, 64 * mib, 50, 300},
		{"a floor under Go's minimum", 1 * mib, 2 * mib, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percent(tc.live, tc.floor, tc.base); got != tc.want {
				t.Errorf("percent(%d MiB live, %d MiB floor, GOGC %d) = %d, want %d",
					tc.live/mib, tc.floor/mib, tc.base, got, tc.want)
			}
		})
	}
}

// The floor is set at once, follows the live heap after each collection,
// and stop puts GOGC back.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set, so Start does nothing")
	}
	base := gogc()
	adjusted.Init()
	defer func() { adjusted = testsignal.Signal[adjustment]{} }()
	// next runs a collection and returns the GOGC of the first adjustment
	// that saw it: earlier ones may still come after it.
	next := func() int {
		t.Helper()
		runtime.GC()
		done := readMetric("/gc/cycles/total:gc-cycles")
		timeout := time.After(10 * time.Second)
		for {
			select {
			case a := <-adjusted.C():
				if a.cycles >= done {
					return a.percent
				}
			case <-timeout:
				t.Fatal("no adjustment after a collection")
				return 0
			}
		}
	}

	const floor = 64 << 20
	stop := Start(floor)
	defer stop()
	if got, want := gogc(), percent(readMetric("/gc/heap/live:bytes"), floor, base); got != want || got <= base {
		t.Fatalf("after Start: GOGC %d, want %d (over %d)", got, want, base)
	}
	if p := next(); p != gogc() || readMetric("/gc/heap/goal:bytes") < floor {
		t.Fatalf("after a collection with a small live heap: GOGC %d (adjusted to %d), heap goal %d, want at least the floor %d",
			gogc(), p, readMetric("/gc/heap/goal:bytes"), floor)
	}

	// A live heap that GOGC alone takes past the floor: GOGC as it was.
	big := make([]byte, 48<<20)
	for i := range big {
		big[i] = byte(i)
	}
	if p := next(); p != base || gogc() != base {
		t.Fatalf("with a live heap of 48 MiB: GOGC %d (adjusted to %d), want %d", gogc(), p, base)
	}
	runtime.KeepAlive(big)
	big = nil

	// The live heap small again: the floor again.
	if p := next(); p <= base || gogc() != p {
		t.Fatalf("with the live heap small again: GOGC %d (adjusted to %d), want over %d", gogc(), p, base)
	}

	stop()
	if got := gogc(); got != base {
		t.Fatalf("after stop: GOGC %d, want %d", got, base)
	}
	runtime.GC()
	if got := gogc(); got != base {
		t.Fatalf("after stop and a collection: GOGC %d, want %d", got, base)
	}
}

func TestStartLeavesAChosenGOGC(t *testing.T) {
	t.Setenv("GOGC", "100")
	base := gogc()
	stop := Start(64 << 20)
	defer stop()
	if got := gogc(); got != base {
		t.Fatalf("with GOGC set, Start changed GOGC from %d to %d", base, got)
	}
}

func TestStartWithTheCollectorOff(t *testing.T) {
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	stop := Start(64 << 20)
	defer stop()
	if got := gogc(); got != -1 {
		t.Fatalf("with the collector off, Start set GOGC to %d", got)
	}
}
