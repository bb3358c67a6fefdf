package lro

import (
	"context"
	"sync/atomic"
	"time"

	"lro.dev/lro/internal/logthrottle"
	"lro.dev/lro/internal/startstop"
	"lro.dev/lro/internal/testsignal"
	"lro.dev/lro/lrostore"
)

// How an operation is claimed: the producer owns this client's worker
// slots. It claims pending operations while slots are free, as many as
// there are free slots in one statement, and hands what it claimed to the
// executor, which gives each slot back as it frees. A start may also take
// slots for the operations it stores (eager starts, see
// Config.DisableEagerStart): then the start's own statement claims them,
// and the producer's claim is not needed.
//
// The slot counts are atomics, so that taking and giving back slots costs
// no lock; the channels wake and freed tell the claim loop that pending
// operations may be there, or that a slot freed.

// executor runs what the producer claims. The producer takes a worker slot
// for each operation before it hands it over, and does not care what runs
// it: the handlerExecutor runs this client's own handlers, and another
// executor may hand the work to workers elsewhere. Either way, the
// executor keeps the operation's lease and writes its result, and gives
// each slot back (see slotFreer) once the slot is free for another
// operation.
type executor interface {
	// execute runs claimed operations, whose leases expire at
	// leaseExpire unless renewed.
	execute(ops []*lrostore.Operation, leaseExpire time.Time)
	// executeEager is execute for operations that a start stored claimed
	// by this client. Once the client stops, the executor releases them
	// instead (they run again at once elsewhere) and gives their slots
	// back.
	executeEager(ops []*lrostore.Operation, leaseExpire time.Time)
}

var _ executor = (*handlerExecutor)(nil)

// producer claims operations for this client's worker slots.
type producer struct {
	startstop.Service

	store  workStore
	config *Config
	logs   *logthrottle.Logger
	exec   executor // runs what is claimed
	kinds  []string // the kinds to claim; set before Start

	// longPoll is set (before Start) when a claim waits for pending
	// operations itself, as a remote client's claims do on the server:
	// then a claim follows the last at once while slots are free, rather
	// than at the next wake-up or PollInterval. Stop cancels the claim
	// that waits.
	longPoll bool

	running atomic.Int64 // worker slots taken: handlers running (also those that lost their lease), and eager starts being stored
	backlog atomic.Bool  // pending operations may wait to be claimed: no eager starts
	eager   atomic.Bool  // eager starts are taken: the client runs, and Stop has not begun

	wake  chan struct{} // pending work may be there to claim
	freed chan struct{} // a worker slot was freed

	// claimed is signalled after each claim, once its outcome (such as
	// whether pending operations remain) is taken into account.
	claimed testsignal.Signal[struct{}]
}

func newProducer(store workStore, config *Config, logs *logthrottle.Logger, exec executor) *producer {
	p := &producer{store: store, config: config, logs: logs, exec: exec,
		wake: make(chan struct{}, 1), freed: make(chan struct{}, 1)}
	p.backlog.Store(true) // until a claim finds fewer pending operations than it could take
	return p
}

// Start starts the claim loop.
func (p *producer) Start(ctx context.Context) error {
	return p.Service.Start(ctx, p.produce)
}

// wakeUp tells the claim loop that pending operations may be there.
func (p *producer) wakeUp() { signal(p.wake) }

// freeSlots gives n worker slots back (see slotFreer).
func (p *producer) freeSlots(n int) {
	if n != 0 {
		p.running.Add(int64(-n))
	}
	signal(p.freed)
}

// produce claims pending operations while worker slots are free. It claims
// as many as there are free slots in one statement, and looks again when
// this client starts an operation, when a slot frees up while more may be
// pending, and every PollInterval; in long-poll mode, at once after each
// claim while slots are free (and after PollInterval when a claim failed).
func (p *producer) produce(ctx context.Context) {
	if len(p.kinds) == 0 {
		return
	}
	poll := time.NewTicker(p.config.PollInterval)
	defer poll.Stop()
	more := true // there may be pending operations to claim
	var (
		last  time.Time // when the last claim started
		short bool      // it found fewer pending operations than it could take
	)
	for {
		if more && short {
			if wait := p.config.ClaimInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		if more {
			free := p.free()
			if free > 0 && free < p.config.Workers && !short {
				// Slots free one by one as handlers return: let more of
				// those that are returning now do so, and claim for them
				// all in one statement.
				free = p.gatherFree(ctx, free)
			}
			if free > 0 {
				n := min(free, p.config.ClaimBatch)
				sent := time.Now()
				last = sent
				ops, err := p.store.OperationClaim(ctx, &lrostore.OperationClaimParams{
					Owner: p.config.ID, Kinds: p.kinds, Max: n, LeaseTTL: p.config.LeaseTTL,
				})
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					warnStore(ctx, p.logs, "claim operations", err)
					more = false // again at the next poll
				} else {
					p.running.Add(int64(len(ops)))
					p.exec.execute(ops, sent.Add(p.config.LeaseTTL))
					more = len(ops) == n
					short = !more
					p.backlog.Store(more)
					p.claimed.Signal(struct{}{})
					if p.longPoll {
						// The claim waited on the server for work to come:
						// claim again at once while slots are free. A claim
						// that found nothing without waiting (a server that
						// is stopping) is tried again at the next poll, not
						// in a busy loop.
						more = len(ops) > 0 || time.Since(sent) >= p.config.PollInterval
						if more && p.free() > 0 {
							continue
						}
					} else if more && free > n {
						continue
					}
				}
			}
		}
		var freed chan struct{}
		if more {
			freed = p.freed
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
			more = true
		case <-poll.C:
			more = true
		case <-freed:
		}
	}
}

// free returns how many worker slots are free.
func (p *producer) free() int {
	return p.config.Workers - int(p.running.Load())
}

// gatherFreeWait is how long a claim that would not fill every worker slot
// waits for more slots to free up.
const gatherFreeWait = time.Millisecond

// gatherFree waits up to gatherFreeWait for every worker slot to be free,
// and returns how many are. Handlers that return together free their slots
// one by one, as each is scheduled: claiming for each as it frees would
// make claims of a few slots each, many more of them.
func (p *producer) gatherFree(ctx context.Context, free int) int {
	timer := time.NewTimer(gatherFreeWait)
	defer timer.Stop()
	for free < p.config.Workers {
		select {
		case <-ctx.Done():
			return free
		case <-timer.C:
			return free
		case <-p.freed:
			free = p.free()
		}
	}
	return free
}

// reserveEager takes worker slots for up to n operations about to be
// started, to store them claimed by this client (see
// Config.DisableEagerStart), and returns how many it took: none while
// pending operations may be waiting, or once Stop has begun.
func (p *producer) reserveEager(n int) int {
	if p.config.DisableEagerStart || p.config.Workers <= 0 || !p.eager.Load() || p.backlog.Load() {
		return 0
	}
	for {
		running := p.running.Load()
		k := max(0, min(n, p.config.Workers-int(running)))
		if k == 0 || p.running.CompareAndSwap(running, running+int64(k)) {
			return k
		}
	}
}

// startEager hands the operations that an insert stored claimed by this
// client to the executor, in the reserved worker slots, and gives back the
// reserved slots they did not take (starts whose request ID was taken, or
// a failed insert).
func (p *producer) startEager(ops []*lrostore.Operation, reserved int, leaseExpire time.Time) {
	if unused := reserved - len(ops); unused > 0 {
		p.running.Add(int64(-unused))
	}
	if len(ops) > 0 {
		p.exec.executeEager(ops, leaseExpire)
	}
	if len(ops) < reserved {
		signal(p.freed)
	}
}

// pendingStored records that a start stored pending operations: the next
// starts do not take slots before they are claimed, and the claim loop
// looks for them.
func (p *producer) pendingStored() {
	p.backlog.Store(true)
	signal(p.wake)
}

// signal sends on a channel of capacity one without blocking: a wake-up
// that is already pending covers this one.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
