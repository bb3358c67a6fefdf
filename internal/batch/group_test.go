package batch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatedGroup is a Group over a gate, whose calls also report their
// contexts, in the order of the gate's calls.
type gatedGroup struct {
	*gate
	group *Group[int, int]
	ctxs  chan context.Context
}

type groupKey struct{}

// newGatedGroup returns a Group over a gate whose queued calls run under a
// context holding the value "group".
func newGatedGroup(t *testing.T, max, calls int) *gatedGroup {
	g := &gatedGroup{
		gate: &gate{calls: make(chan []int), replies: make(chan error), closed: make(chan struct{})},
		ctxs: make(chan context.Context, 100),
	}
	t.Cleanup(func() { close(g.closed) })
	ctx := context.WithValue(t.Context(), groupKey{}, "group")
	g.group = NewGroup(ctx, max, calls, func(ctx context.Context, in []int) ([]int, error) {
		g.ctxs <- ctx
		return g.fn(ctx, in)
	})
	return g
}

// do runs Do(ctx, in) in a goroutine; its result arrives on the channel.
func (g *gatedGroup) do(ctx context.Context, in int) <-chan result {
	ch := make(chan result, 1)
	go func() {
		out, err := g.group.Do(ctx, in)
		ch <- result{out, err}
	}()
	return ch
}

// callCtx returns the context of the call the gate reported last.
func (g *gatedGroup) callCtx(t *testing.T) context.Context {
	t.Helper()
	select {
	case ctx := <-g.ctxs:
		return ctx
	default:
		t.Fatal("no call's context")
		return nil
	}
}

// requireQueued waits until n requests are queued. Nothing signals a queued
// request, so this polls.
func (g *gatedGroup) requireQueued(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		g.group.mu.Lock()
		defer g.group.mu.Unlock()
		return len(g.group.queue) == n
	}, waitTimeout, time.Millisecond, "want %d queued requests", n)
}

func TestNewGroupPanicsOnBadLimits(t *testing.T) {
	fn := func(context.Context, []int) ([]int, error) { return nil, nil }
	require.Panics(t, func() { NewGroup(t.Context(), 0, 1, fn) })
	require.Panics(t, func() { NewGroup(t.Context(), 1, 0, fn) })
}

func TestGroupConcurrentCallersGetTheirOwnOutputs(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	running, most := 0, 0
	g := NewGroup(t.Context(), 8, 2, func(ctx context.Context, in []string) ([]string, error) {
		mu.Lock()
		sizes = append(sizes, len(in))
		running++
		most = max(most, running)
		mu.Unlock()
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = "out-" + s
		}
		mu.Lock()
		running--
		mu.Unlock()
		return out, nil
	})

	const n = 2000
	doConcurrently(t, n, g.Do)
	mu.Lock()
	defer mu.Unlock()
	requireCallSizes(t, sizes, 8, n)
	require.LessOrEqual(t, most, 2, "at most two calls at once")
	g.mu.Lock()
	defer g.mu.Unlock()
	require.Zero(t, g.running, "every call gave its slot back")
	require.Empty(t, g.queue)
}

func TestGroupLoneCallerRunsItsOwnCall(t *testing.T) {
	g := newGatedGroup(t, 10, 2)
	type callerKey struct{}
	ctx := context.WithValue(t.Context(), callerKey{}, "caller")

	// Two calls may run at once: two callers alone wait for no one.
	a := g.do(ctx, 1)
	require.Equal(t, []int{1}, g.call(t))
	require.Equal(t, "caller", g.callCtx(t).Value(callerKey{}), "a caller's own call runs under its context")
	b := g.do(ctx, 2)
	require.Equal(t, []int{2}, g.call(t))
	g.callCtx(t)
	g.reply(t, nil)
	g.reply(t, nil)
	require.Equal(t, result{out: 10}, get(t, a))
	require.Equal(t, result{out: 20}, get(t, b))
}

func TestGroupQueuedRequestsShareTheNextCall(t *testing.T) {
	g := newGatedGroup(t, 100, 1)

	first := g.do(t.Context(), 1)
	require.Equal(t, []int{1}, g.call(t))
	g.callCtx(t)
	var rest []<-chan result
	for i := 2; i <= 6; i++ {
		rest = append(rest, g.do(t.Context(), i))
	}
	g.requireQueued(t, 5)
	g.reply(t, nil)
	require.Equal(t, result{out: 10}, get(t, first), "the first caller returns without running the next call")

	require.ElementsMatch(t, []int{2, 3, 4, 5, 6}, g.call(t), "the next call takes every queued request")
	ctx := g.callCtx(t)
	require.Equal(t, "group", ctx.Value(groupKey{}), "a queued call runs under the group's context")
	g.reply(t, nil)
	for i, ch := range rest {
		require.Equal(t, result{out: (i + 2) * 10}, get(t, ch))
	}
	g.group.mu.Lock()
	defer g.group.mu.Unlock()
	require.Zero(t, g.group.running)
}

// yieldGate makes the Group's yield wait for the test: yielded reports a
// caller's yield, and the caller goes on once release is closed.
func (g *gatedGroup) yieldGate() (yielded chan struct{}, release chan struct{}) {
	yielded, release = make(chan struct{}, 10), make(chan struct{})
	g.group.yield = func() {
		yielded <- struct{}{}
		<-release
	}
	return yielded, release
}

func TestGroupRequestsQueuedWhileACallerYieldsJoinItsCall(t *testing.T) {
	g := newGatedGroup(t, 3, 1)
	yielded, release := g.yieldGate()
	type callerKey struct{}
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), callerKey{}, "caller"))

	first := g.do(ctx, 1)
	<-yielded // the caller holds the only slot, and yields
	var rest []<-chan result
	for i := 2; i <= 4; i++ {
		rest = append(rest, g.do(t.Context(), i))
		g.requireQueued(t, i-1) // one at a time, so that the queue's order is known
	}
	close(release)

	require.Equal(t, []int{1, 2, 3}, g.call(t), "the requests queued meanwhile join the call, up to max")
	callCtx := g.callCtx(t)
	require.Equal(t, "group", callCtx.Value(groupKey{}), "a shared call runs under the group's context")
	require.Nil(t, callCtx.Value(callerKey{}), "not under the context of the caller that made it")
	cancel()
	require.NoError(t, callCtx.Err(), "a shared call outlives the context of the caller that made it")
	g.reply(t, nil)
	require.Equal(t, result{out: 10}, get(t, first))
	require.Equal(t, result{out: 20}, get(t, rest[0]))
	require.Equal(t, result{out: 30}, get(t, rest[1]))

	require.Equal(t, []int{4}, g.call(t), "the request beyond max is the next call")
	g.reply(t, nil)
	require.Equal(t, result{out: 40}, get(t, rest[2]))
	g.group.mu.Lock()
	defer g.group.mu.Unlock()
	require.Zero(t, g.group.running)
}

func TestGroupCallerAloneAfterItsYieldRunsUnderItsContext(t *testing.T) {
	g := newGatedGroup(t, 10, 1)
	yielded, release := g.yieldGate()
	type callerKey struct{}
	ctx := context.WithValue(t.Context(), callerKey{}, "caller")

	a := g.do(ctx, 1)
	<-yielded
	close(release)
	require.Equal(t, []int{1}, g.call(t))
	require.Equal(t, "caller", g.callCtx(t).Value(callerKey{}), "a call of its own runs under its caller's context")
	g.reply(t, nil)
	require.Equal(t, result{out: 10}, get(t, a))
}

func TestGroupMaxIsRespected(t *testing.T) {
	g := newGatedGroup(t, 2, 1)

	results := map[int]<-chan result{1: g.do(t.Context(), 1)}
	require.Equal(t, []int{1}, g.call(t))
	for i := 2; i <= 6; i++ {
		results[i] = g.do(t.Context(), i)
	}
	g.requireQueued(t, 5)
	g.reply(t, nil)
	var sizes []int
	seen := map[int]bool{1: true}
	for len(seen) < 6 {
		in := g.call(t)
		sizes = append(sizes, len(in))
		for _, v := range in {
			require.False(t, seen[v], "input %d twice", v)
			seen[v] = true
		}
		g.reply(t, nil)
	}
	require.Equal(t, []int{2, 2, 1}, sizes)
	for i, ch := range results {
		require.Equal(t, result{out: i * 10}, get(t, ch), "input %d", i)
	}
}

func TestGroupQueuedCallEndsWhenAllItsCallersHaveLeft(t *testing.T) {
	called, release, ended := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	group := NewGroup(t.Context(), 10, 1, func(ctx context.Context, in []int) ([]int, error) {
		if in[0] == 1 {
			close(called)
			<-release // the first call, alone
			return in, nil
		}
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	})
	first := make(chan result, 1)
	go func() {
		out, err := group.Do(t.Context(), 1)
		first <- result{out, err}
	}()
	<-called

	ctxA, cancelA := context.WithCancel(t.Context())
	ctxB, cancelB := context.WithCancel(t.Context())
	a, b := make(chan result, 1), make(chan result, 1)
	for _, c := range []struct {
		ctx context.Context
		ch  chan result
		in  int
	}{{ctxA, a, 2}, {ctxB, b, 3}} {
		go func() {
			out, err := group.Do(c.ctx, c.in)
			c.ch <- result{out, err}
		}()
	}
	require.Eventually(t, func() bool {
		group.mu.Lock()
		defer group.mu.Unlock()
		return len(group.queue) == 2
	}, waitTimeout, time.Millisecond)
	close(release)
	require.Equal(t, result{out: 1}, get(t, first))
	// The queued call [2 3] now runs until its context ends.
	cancelA()
	select {
	case <-ended:
		t.Fatal("the call ended while one of its callers still waited")
	case r := <-a:
		t.Fatalf("a caller in a running call returned before it: %+v", r)
	default:
	}
	cancelB()
	select {
	case err := <-ended:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(waitTimeout):
		t.Fatal("the call did not end when all its callers had left")
	}
	require.ErrorIs(t, get(t, a).err, context.Canceled)
	require.ErrorIs(t, get(t, b).err, context.Canceled)
}

func TestGroupQueuedCallerLeavesWhenItsContextEnds(t *testing.T) {
	g := newGatedGroup(t, 10, 1)
	first := g.do(t.Context(), 1)
	g.call(t)

	ctx, cancel := context.WithCancel(t.Context())
	leaving := g.do(ctx, 2)
	staying := g.do(t.Context(), 3)
	g.requireQueued(t, 2)
	cancel()
	require.Equal(t, result{err: context.Canceled}, get(t, leaving), "a queued caller leaves while fn still runs")
	g.requireQueued(t, 1)

	g.reply(t, nil)
	get(t, first)
	require.Equal(t, []int{3}, g.call(t), "the request that left is not carried out")
	g.reply(t, nil)
	require.Equal(t, result{out: 30}, get(t, staying))
}

func TestGroupCallerInARunningCallWaitsForIt(t *testing.T) {
	g := newGatedGroup(t, 10, 1)
	first := g.do(t.Context(), 1)
	g.call(t)

	ctx, cancel := context.WithCancel(t.Context())
	a, b := g.do(t.Context(), 2), g.do(ctx, 3)
	g.requireQueued(t, 2)
	g.reply(t, nil)
	get(t, first)
	require.ElementsMatch(t, []int{2, 3}, g.call(t))
	cancel()
	g.reply(t, nil)
	require.Equal(t, result{out: 20}, get(t, a))
	require.Equal(t, result{out: 30}, get(t, b), "a request in a call gets the call's output")
}

func TestGroupErrorGoesToItsCallOnly(t *testing.T) {
	g := newGatedGroup(t, 10, 1)
	requireErrorGoesToItsCallOnly(t, g.gate,
		func(in int) <-chan result { return g.do(t.Context(), in) },
		func(n int) { g.requireQueued(t, n) })
}

func TestGroupWrongNumberOfOutputsIsAnError(t *testing.T) {
	g := NewGroup(t.Context(), 10, 1, func(ctx context.Context, in []int) ([]int, error) {
		return in[1:], nil
	})
	_, err := g.Do(t.Context(), 1)
	require.ErrorContains(t, err, "wrong number of outputs")
}

func TestGroupDoneContext(t *testing.T) {
	g := NewGroup(t.Context(), 10, 1, func(ctx context.Context, in []int) ([]int, error) {
		t.Error("fn called for a request whose context had ended")
		return in, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := g.Do(ctx, 1)
	require.ErrorIs(t, err, context.Canceled)
}
