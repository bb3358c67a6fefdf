package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every wait for a signal in these tests.
const waitTimeout = 10 * time.Second

// gate is a Func that reports each call's inputs on calls and then blocks
// until the test answers on replies: nil returns each input times ten, an
// error fails the whole call. When the test ends, blocked calls return
// errGateClosed, so that Stop does not hang on a failed test.
type gate struct {
	calls   chan []int
	replies chan error
	closed  chan struct{}
}

var errGateClosed = errors.New("gate closed")

// newGated returns a gate and a Batcher over it, stopped when the test ends.
func newGated(t *testing.T, max int) (*gate, *Batcher[int, int]) {
	g := &gate{calls: make(chan []int), replies: make(chan error), closed: make(chan struct{})}
	b := New(t.Context(), max, g.fn)
	t.Cleanup(b.Stop)
	t.Cleanup(func() { close(g.closed) }) // runs first
	return g, b
}

func (g *gate) fn(ctx context.Context, in []int) ([]int, error) {
	select {
	case g.calls <- append([]int(nil), in...):
	case <-g.closed:
		return nil, errGateClosed
	}
	var err error
	select {
	case err = <-g.replies:
	case <-g.closed:
		return nil, errGateClosed
	}
	if err != nil {
		return nil, err
	}
	out := make([]int, len(in))
	for i, v := range in {
		out[i] = v * 10
	}
	return out, nil
}

// call waits for fn's next call and returns its inputs.
func (g *gate) call(t *testing.T) []int {
	t.Helper()
	select {
	case in := <-g.calls:
		return in
	case <-time.After(waitTimeout):
		t.Fatal("fn was not called")
		return nil
	}
}

// reply lets the blocked call return err (nil: success).
func (g *gate) reply(t *testing.T, err error) {
	t.Helper()
	select {
	case g.replies <- err:
	case <-time.After(waitTimeout):
		t.Fatal("fn is not waiting for a reply")
	}
}

type result struct {
	out int
	err error
}

// do runs b.Do(ctx, in) in a goroutine; its result arrives on the channel.
func do(ctx context.Context, b *Batcher[int, int], in int) <-chan result {
	ch := make(chan result, 1)
	go func() {
		out, err := b.Do(ctx, in)
		ch <- result{out, err}
	}()
	return ch
}

func get(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("Do did not return")
		return result{}
	}
}

// requireQueued waits until n requests are queued. The queue is a channel:
// there is no signal to await, so this polls.
func requireQueued(t *testing.T, b *Batcher[int, int], n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(b.queue) == n }, waitTimeout, time.Millisecond, "want %d queued requests", n)
}

func TestNewPanicsOnBadMax(t *testing.T) {
	fn := func(context.Context, []int) ([]int, error) { return nil, nil }
	require.Panics(t, func() { New(t.Context(), 0, fn) })
	require.Panics(t, func() { New(t.Context(), -1, fn) })
}

func TestConcurrentCallersGetTheirOwnOutputs(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	b := New(t.Context(), 8, func(ctx context.Context, in []string) ([]string, error) {
		mu.Lock()
		sizes = append(sizes, len(in))
		mu.Unlock()
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = "out-" + s
		}
		return out, nil
	})
	defer b.Stop()

	const n = 500
	doConcurrently(t, n, b.Do)
	mu.Lock()
	defer mu.Unlock()
	requireCallSizes(t, sizes, 8, n)
}

// doConcurrently makes n concurrent requests "0" … "n-1" with do, each of
// which must return "out-" and its input.
func doConcurrently(t *testing.T, n int, do func(context.Context, string) (string, error)) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			in := fmt.Sprint(i)
			out, err := do(t.Context(), in)
			switch {
			case err != nil:
				errs <- fmt.Errorf("Do(%s): %w", in, err)
			case out != "out-"+in:
				errs <- fmt.Errorf("Do(%s) = %q, want %q", in, out, "out-"+in)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// requireCallSizes checks that n requests went in calls of 1 to max inputs,
// each request once.
func requireCallSizes(t *testing.T, sizes []int, max, n int) {
	t.Helper()
	total := 0
	for _, s := range sizes {
		require.LessOrEqual(t, s, max)
		require.Positive(t, s)
		total += s
	}
	require.Equal(t, n, total, "every request is carried out once")
	t.Logf("%d requests in %d calls", n, len(sizes))
}

func TestQueuedRequestsShareTheNextCall(t *testing.T) {
	g, b := newGated(t, 100)

	first := do(t.Context(), b, 1)
	require.Equal(t, []int{1}, g.call(t), "one caller alone does not wait for others")

	// While fn runs, requests queue up.
	var rest []<-chan result
	for i := 2; i <= 6; i++ {
		rest = append(rest, do(t.Context(), b, i))
	}
	requireQueued(t, b, 5)
	g.reply(t, nil)
	require.Equal(t, result{out: 10}, get(t, first))

	require.ElementsMatch(t, []int{2, 3, 4, 5, 6}, g.call(t), "the next call takes every queued request")
	g.reply(t, nil)
	for i, ch := range rest {
		require.Equal(t, result{out: (i + 2) * 10}, get(t, ch))
	}
}

func TestMaxIsRespected(t *testing.T) {
	const max = 3
	g, b := newGated(t, max)

	results := map[int]<-chan result{1: do(t.Context(), b, 1)}
	require.Equal(t, []int{1}, g.call(t))
	// Seven more while fn runs: three fill the queue, four wait to enter it.
	for i := 2; i <= 8; i++ {
		results[i] = do(t.Context(), b, i)
	}
	requireQueued(t, b, max)
	var sizes []int
	seen := map[int]bool{1: true}
	g.reply(t, nil)
	for len(seen) < 8 {
		in := g.call(t)
		sizes = append(sizes, len(in))
		for _, v := range in {
			require.False(t, seen[v], "input %d twice", v)
			seen[v] = true
		}
		if len(seen) < 8 {
			// Let the waiting requests fill the queue before the next call.
			requireQueued(t, b, min(max, 8-len(seen)))
		}
		g.reply(t, nil)
	}
	require.Equal(t, []int{3, 3, 1}, sizes)
	for i, ch := range results {
		require.Equal(t, result{out: i * 10}, get(t, ch), "input %d", i)
	}
}

func TestErrorGoesToItsBatchOnly(t *testing.T) {
	g, b := newGated(t, 10)
	requireErrorGoesToItsCallOnly(t, g,
		func(in int) <-chan result { return do(t.Context(), b, in) },
		func(n int) { requireQueued(t, b, n) })
}

// requireErrorGoesToItsCallOnly fails a call and checks that its error
// reaches its requests and no others, on a Batcher or on a Group that runs
// one call at a time: do makes a request, queued waits until n of them
// queue.
func requireErrorGoesToItsCallOnly(t *testing.T, g *gate, do func(in int) <-chan result, queued func(n int)) {
	t.Helper()
	boom := errors.New("boom")

	a := do(1)
	require.Equal(t, []int{1}, g.call(t))
	b2, b3 := do(2), do(3)
	queued(2)
	g.reply(t, nil)
	require.ElementsMatch(t, []int{2, 3}, g.call(t))
	d := do(4)
	queued(1)
	g.reply(t, boom)
	require.Equal(t, []int{4}, g.call(t))
	g.reply(t, nil)

	require.Equal(t, result{out: 10}, get(t, a))
	for _, ch := range []<-chan result{b2, b3} {
		r := get(t, ch)
		require.ErrorIs(t, r.err, boom)
		require.Zero(t, r.out)
	}
	require.Equal(t, result{out: 40}, get(t, d))
}

func TestWrongNumberOfOutputsIsAnError(t *testing.T) {
	b := New(t.Context(), 10, func(ctx context.Context, in []int) ([]int, error) {
		return in[1:], nil
	})
	defer b.Stop()
	_, err := b.Do(t.Context(), 1)
	require.ErrorContains(t, err, "wrong number of outputs")
}

func TestFnGetsTheBatcherContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "batcher")
	b := New(ctx, 10, func(ctx context.Context, in []int) ([]string, error) {
		return []string{fmt.Sprint(ctx.Value(key{}))}, nil
	})
	defer b.Stop()
	callCtx := context.WithValue(t.Context(), key{}, "caller")
	out, err := b.Do(callCtx, 1)
	require.NoError(t, err)
	require.Equal(t, "batcher", out)
}

func TestStopDrainsQueuedRequests(t *testing.T) {
	g, b := newGated(t, 10)

	first := do(t.Context(), b, 1)
	require.Equal(t, []int{1}, g.call(t))
	queued := []<-chan result{do(t.Context(), b, 2), do(t.Context(), b, 3)}
	requireQueued(t, b, 2)

	stopped := make(chan struct{})
	go func() {
		b.Stop()
		close(stopped)
	}()
	// Stop has begun once Do refuses new requests.
	require.Eventually(t, func() bool {
		select {
		case <-b.stop:
			return true
		default:
			return false
		}
	}, waitTimeout, time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("Stop returned while a call was running")
	default:
	}

	g.reply(t, nil)
	require.Equal(t, result{out: 10}, get(t, first))
	// The queued requests are carried out, in one call or several.
	var drained []int
	for len(drained) < 2 {
		drained = append(drained, g.call(t)...)
		g.reply(t, nil)
	}
	require.ElementsMatch(t, []int{2, 3}, drained)
	require.Equal(t, result{out: 20}, get(t, queued[0]))
	require.Equal(t, result{out: 30}, get(t, queued[1]))
	select {
	case <-stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Stop did not return")
	}

	// After Stop: ErrStopped, and fn is not called.
	for range 100 {
		_, err := b.Do(t.Context(), 9)
		require.ErrorIs(t, err, ErrStopped)
	}
	select {
	case in := <-g.calls:
		t.Fatalf("fn called after Stop with %v", in)
	default:
	}
	b.Stop() // again: returns at once
}

func TestStopWithNothingQueued(t *testing.T) {
	b := New(t.Context(), 10, func(ctx context.Context, in []int) ([]int, error) {
		t.Error("fn called")
		return in, nil
	})
	b.Stop()
	_, err := b.Do(t.Context(), 1)
	require.ErrorIs(t, err, ErrStopped)
}

func TestContextCancelsWaitingDo(t *testing.T) {
	g, b := newGated(t, 1)

	first := do(t.Context(), b, 1)
	require.Equal(t, []int{1}, g.call(t))

	// Queued, waiting for its output.
	ctx, cancel := context.WithCancel(t.Context())
	queued := do(ctx, b, 2)
	requireQueued(t, b, 1)
	// Waiting to enter the full queue (max 1).
	ctx2, cancel2 := context.WithCancel(t.Context())
	blocked := do(ctx2, b, 3)

	cancel()
	r := get(t, queued)
	require.ErrorIs(t, r.err, context.Canceled)
	require.Equal(t, ctx.Err(), r.err)
	cancel2()
	r = get(t, blocked)
	require.ErrorIs(t, r.err, context.Canceled)

	// The first call is unaffected; the cancelled request that was queued
	// may still be carried out, as documented; the one that never entered
	// the queue is not.
	g.reply(t, nil)
	require.Equal(t, result{out: 10}, get(t, first))
	require.Equal(t, []int{2}, g.call(t))
	g.reply(t, nil)
	select {
	case in := <-g.calls:
		t.Fatalf("fn called with %v", in)
	default:
	}
}

func TestDoneContext(t *testing.T) {
	b := New(t.Context(), 10, func(ctx context.Context, in []int) ([]int, error) {
		return in, nil
	})
	defer b.Stop()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for i := range 100 {
		// Do returns ctx's error, queued or not; only when the request was
		// queued and carried out before Do looked at ctx again may it
		// return the output instead.
		out, err := b.Do(ctx, i)
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
		} else {
			require.Equal(t, i, out)
		}
	}
}

func TestCooldownGathersRequests(t *testing.T) {
	const cooldown = time.Second
	g := &gate{calls: make(chan []int), replies: make(chan error), closed: make(chan struct{})}
	b := NewCooldown(t.Context(), 100, cooldown, g.fn)
	t.Cleanup(b.Stop)
	t.Cleanup(func() { close(g.closed) })

	began := time.Now()
	first := do(t.Context(), b, 1)
	require.Equal(t, []int{1}, g.call(t), "an idle batcher calls at once")
	require.Less(t, time.Since(began), cooldown)
	g.reply(t, nil)
	require.Equal(t, result{out: 10}, get(t, first))

	// Within the cooldown, requests wait for its end, and go together.
	var rest []<-chan result
	for i := 2; i <= 4; i++ {
		rest = append(rest, do(t.Context(), b, i))
	}
	require.ElementsMatch(t, []int{2, 3, 4}, g.call(t))
	require.GreaterOrEqual(t, time.Since(began), cooldown, "the second call starts a cooldown after the first")
	g.reply(t, nil)
	for i, ch := range rest {
		require.Equal(t, result{out: (i + 2) * 10}, get(t, ch))
	}
}

func TestCooldownEndsEarlyWhenFull(t *testing.T) {
	g := &gate{calls: make(chan []int), replies: make(chan error), closed: make(chan struct{})}
	b := NewCooldown(t.Context(), 3, time.Hour, g.fn)
	t.Cleanup(b.Stop)
	t.Cleanup(func() { close(g.closed) })

	first := do(t.Context(), b, 1)
	require.Equal(t, []int{1}, g.call(t))
	g.reply(t, nil)
	get(t, first)
	var rest []<-chan result
	for i := 2; i <= 4; i++ {
		rest = append(rest, do(t.Context(), b, i))
	}
	require.ElementsMatch(t, []int{2, 3, 4}, g.call(t), "a full batch does not wait for the cooldown's end")
	g.reply(t, nil)
	for _, ch := range rest {
		require.NoError(t, get(t, ch).err)
	}
}

func TestStopEndsTheCooldown(t *testing.T) {
	g := &gate{calls: make(chan []int), replies: make(chan error), closed: make(chan struct{})}
	b := NewCooldown(t.Context(), 100, time.Hour, g.fn)
	t.Cleanup(func() { close(g.closed) })

	first := do(t.Context(), b, 1)
	require.Equal(t, []int{1}, g.call(t))
	second := do(t.Context(), b, 2)
	requireQueued(t, b, 1)
	g.reply(t, nil)
	get(t, first)
	stopped := make(chan struct{})
	go func() { b.Stop(); close(stopped) }()
	require.Equal(t, []int{2}, g.call(t), "Stop does not wait for the cooldown")
	g.reply(t, nil)
	require.Equal(t, result{out: 20}, get(t, second))
	select {
	case <-stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Stop did not return")
	}
}
