// Package heapfloor keeps the Go garbage collector from running more often
// than a server with a small heap needs.
//
// The collector runs when the heap has grown by GOGC percent (100 by
// default) over what the last collection left live, and at 4 MiB at least.
// A server that keeps little in memory (lro keeps its operations in the
// store) but allocates for every request therefore collects dozens of times
// a second under load, and each collection's pauses and write barriers
// show in its tail latency.
//
// Start raises GOGC while the live heap is small, so that the heap may grow
// to a floor, say 64 MiB, before the next collection; once the live heap is
// big enough that GOGC would let it grow past the floor anyway, GOGC is back
// at its value. The heap goal is the floor, or what it would have been
// without it, whichever is more: fewer collections lower both the tail
// latency of calls and the server's CPU per call.
//
// It is for a process's main function: GOGC is one setting for the whole
// process. lro serve starts it (its --heap-floor-mib flag), and so does
// lro's benchmark in each case's process, River's as lro's:
//
//	defer heapfloor.Start(64 << 20)()
package heapfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"lro.dev/lro/internal/testsignal"
)

// heapMinimum is the runtime's least heap goal at GOGC=100; it scales with
// GOGC (runtime/mgcpacer.go, defaultHeapMinimum).
const heapMinimum = 4 << 20

// adjustment is what an adjustment after a collection did: the GOGC it
// set, and the count of collections it had seen.
type adjustment struct {
	percent int
	cycles  uint64
}

// adjusted signals each adjustment, to tests.
var adjusted testsignal.Signal[adjustment]

// tuner keeps the heap goal at floor bytes at least.
type tuner struct {
	floor uint64
	base  int // the GOGC found at Start, restored by stop

	mu      sync.Mutex
	percent int // the GOGC last set
	stopped bool
}

// Start keeps the collector's heap goal at floor bytes or more, by raising
// GOGC after each collection that leaves a live heap too small to reach the
// floor at the GOGC the process had. It returns a function that stops it
// and puts that GOGC back.
//
// Call it once per process: two would each set GOGC after every collection.
// It does nothing if floor is 0, if the GOGC environment variable is set
// (the process's owner chose), or if the collector is off. A memory limit
// (GOMEMLIMIT, debug.SetMemoryLimit) still holds: the collector runs when
// the heap reaches it, whatever GOGC says.
func Start(floor uint64) (stop func()) {
	base := gogc()
	if floor == 0 || os.Getenv("GOGC") != "" || base < 0 {
		return func() {}
	}
	t := &tuner{floor: floor, base: base, percent: base}
	t.adjust(readMetric("/gc/heap/live:bytes"))
	t.arm()
	return t.stop
}

// percent is the GOGC that puts the heap goal at floor bytes for a live
// heap of live bytes, or base if base puts it there or higher. The goal at
// GOGC p is the larger of heapMinimum*p/100 and live*(1+p/100) (plus a
// share of stacks and globals, small beside the heap).
func percent(live, floor uint64, base int) int {
	p := floor * 100 / heapMinimum
	if live > 0 {
		if live >= floor {
			return base
		}
		p = min(p, floor*100/live-100)
	}
	return max(base, int(min(p, 1<<30)))
}

// arm has the tuner called after the next collection: a cleanup of an
// object that nothing references runs once a collection has found it
// unreachable.
func (t *tuner) arm() {
	s := &sentinel{}
	runtime.AddCleanup(s, func(t *tuner) { t.collected() }, t)
}

// sentinel is an object of its own (not a tiny allocation that shares a
// block with others, whose cleanup might never run).
type sentinel struct {
	_ *int
	_ [8]byte
}

// collected runs after a collection: it adjusts GOGC to the live heap the
// collection left, and arms for the next one.
func (t *tuner) collected() {
	cycles := readMetric("/gc/cycles/total:gc-cycles")
	if p, ok := t.adjust(readMetric("/gc/heap/live:bytes")); ok {
		adjusted.Signal(adjustment{p, cycles})
		t.arm()
	}
}

// adjust sets GOGC for a live heap of live bytes, unless the tuner was
// stopped. It returns the GOGC in force.
func (t *tuner) adjust(live uint64) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return 0, false
	}
	if p := percent(live, t.floor, t.base); p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return t.percent, true
}

// stop ends the adjustments and puts back the GOGC that Start found; the
// cleanup already armed then runs once more and does nothing.
func (t *tuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		debug.SetGCPercent(t.base)
	}
}

// gogc returns the process's GOGC, -1 if the collector is off.
func gogc() int {
	v := readMetric("/gc/gogc:percent")
	if v > 1<<31 {
		return -1 // GOGC=off reads as -1 made unsigned
	}
	return int(v)
}

// readMetric reads a runtime metric of kind uint64.
func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
