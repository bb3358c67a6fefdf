package gopool

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// hooked returns a pool whose goroutines report, on the returned channels,
// that they wait and that they exit, and which counts the goroutines Go
// starts.
func hooked(max int, stop <-chan struct{}) (p *Pool, spawned *atomic.Int32, waiting, exited chan struct{}) {
	p = New(max, stop)
	spawned = new(atomic.Int32)
	waiting, exited = make(chan struct{}, 10), make(chan struct{}, 10)
	p.spawned = func() { spawned.Add(1) }
	p.waiting = func() { waiting <- struct{}{} }
	p.exited = func() { exited <- struct{}{} }
	return p, spawned, waiting, exited
}

func TestPoolRunsOnAKeptGoroutine(t *testing.T) {
	p, spawned, waiting, _ := hooked(2, t.Context().Done())
	ran := make(chan int, 3)
	for i := range 3 {
		p.Go(func() { ran <- i })
		require.Equal(t, i, <-ran)
		<-waiting // its goroutine waits for the next
	}
	require.Equal(t, int32(1), spawned.Load(), "one goroutine ran all three")
}

func TestPoolStartsAGoroutineWhenNoneIsIdle(t *testing.T) {
	p, spawned, waiting, exited := hooked(1, t.Context().Done())
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	for range 2 {
		p.Go(func() {
			started <- struct{}{}
			<-release
		})
	}
	<-started
	<-started // both run at once
	require.Equal(t, int32(2), spawned.Load())
	close(release)
	// One of them waits for more work, the other exits: max is 1.
	<-waiting
	<-exited
	require.Empty(t, waiting)
	require.Empty(t, exited)
}

func TestPoolGoroutinesExitWhenStopped(t *testing.T) {
	stop := make(chan struct{})
	p, spawned, waiting, exited := hooked(4, stop)
	for range 3 {
		p.Go(func() {})
		<-waiting
	}
	close(stop)
	<-exited
	require.Empty(t, exited, "one goroutine ran all three, and it has exited")
	require.Equal(t, int32(1), spawned.Load())

	ran := make(chan struct{})
	p.Go(func() { close(ran) }) // after stop, a function still runs, on a goroutine that then exits
	<-ran
	<-exited
	require.Equal(t, int32(2), spawned.Load())
}

// A function given to an idle goroutine as it sees stop closed runs on
// it, and then the goroutine exits.
func TestPoolRunsWhatGoGaveAsItStopped(t *testing.T) {
	stop := make(chan struct{})
	p, spawned, waiting, exited := hooked(1, stop)
	p.Go(func() {})
	<-waiting
	stopping, proceed := make(chan struct{}), make(chan struct{})
	p.stopping = func() {
		close(stopping)
		<-proceed
	}
	close(stop)
	<-stopping // the goroutine sees stop, but has not left the idle ones yet
	ran := make(chan struct{})
	p.Go(func() { close(ran) }) // takes it from the idle ones
	close(proceed)
	<-ran
	<-exited
	require.Equal(t, int32(1), spawned.Load(), "the idle goroutine ran it")
}
