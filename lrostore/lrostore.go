// Package lrostore defines the interface between lro and the databases that
// keep its operations, and the row types that cross it. It holds no SQL: the
// SQLite store is in lrostore/lrosqlite, the PostgreSQL store in
// lrostore/lropgx, and every store passes the same conformance suite,
// lrostore/lrostoretest.
//
// # Who implements Store, and who calls it
//
// Store is implemented by the stores of this module, lrostore/lrosqlite and
// lrostore/lropgx. Another implementation may be written, but it must pass
// the conformance suite, lrostore/lrostoretest, unchanged; and as the
// interface follows what lro needs, its methods may change between minor
// versions, which such an implementation must follow. Everything it needs
// crosses the interface as a type of this package: a list's filter comes
// as a [Filter], which compiles itself to SQL ([Filter.SQL]).
//
// Store is called by the lro.Client alone, which holds the rules that
// keep operations consistent (leases, fencing tokens, batching, retries).
// A store is not an API for users: a program reads and changes operations
// through the Client, or through lro's gRPC and HTTP services. What the
// stores themselves share (state values in SQL, row scanning, the rules of
// rescue and cancellation, the migration runner) is in
// lrostore/internal/storekit.
//
// # Leases
//
// A worker runs an operation while it holds the operation's lease. A claim
// moves a pending operation to running and gives it a new lease token, one
// higher than the last, so every claim of an operation has its own token. Every
// write a worker makes (metadata, heartbeat, finish, release) names the
// operation and the token it claimed with, and matches nothing once the lease
// was lost: after it expired and the operation was rescued, or after the
// operation was cancelled, deleted or claimed again. The token is the fencing
// token that rejects late writes from a worker that lost its lease.
package lrostore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors the stores return. Callers compare with errors.Is.
var (
	// ErrNotFound: no operation has the given ID.
	ErrNotFound = errors.New("operation not found")
	// ErrNotDone: the operation cannot be deleted while it is not done.
	ErrNotDone = errors.New("operation is not done")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store is closed")
)

// State is the stage of an operation's life. The values are stored.
type State int16

// The states. An operation goes from pending to running (claimed by a worker)
// and on to one of the done states; a running operation whose lease expires
// goes back to pending. A done operation never changes again.
const (
	StatePending   State = 0
	StateRunning   State = 1
	StateSucceeded State = 2
	StateFailed    State = 3
	StateCancelled State = 4
)

// Done reports whether s is one of the final states.
func (s State) Done() bool { return s >= StateSucceeded }

// String returns the state's name in lower case.
func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateRunning:
		return "running"
	case StateSucceeded:
		return "succeeded"
	case StateFailed:
		return "failed"
	case StateCancelled:
		return "cancelled"
	}
	return "unknown"
}

// Operation is one stored operation. Message fields hold the protobuf wire
// encoding: Input, Metadata and Response of a google.protobuf.Any, Error of a
// google.rpc.Status.
type Operation struct {
	ID     string // a UUID (version 7, so IDs sort by creation time), lower case
	Parent string // "" for the default "operations" collection
	Kind   string
	State  State

	Input        []byte
	Metadata     []byte // nil when none was reported
	MetadataType string // the type URL of Metadata, "" when none
	Response     []byte // set once succeeded
	ResponseType string
	Error        *Failure // set once failed or cancelled

	RequestID   string // "" when the start had none
	RequestHash []byte // identifies the start's parent, kind and input; nil without a request ID

	Attempt     int32 // started attempts that count toward MaxAttempts
	MaxAttempts int32
	// LastError is the failure of the latest attempt that failed and left
	// the operation to run again (a finish in StatePending); nil when none.
	// Error stays nil until the operation is done.
	LastError *Failure
	// Deadline is when the operation ends with DEADLINE_EXCEEDED if it is
	// not done by then (OperationExpire); zero when none.
	Deadline time.Time

	LeaseOwner      string    // the worker holding the lease; "" when none
	LeaseToken      int64     // the token of the latest claim
	LeaseExpireTime time.Time // zero when not running
	CancelRequested bool

	CreateTime time.Time
	UpdateTime time.Time
	EndTime    time.Time // zero until done

	// NotBefore is when a pending operation becomes due (a delayed start,
	// or a retry's next attempt): claims skip it until then. Zero for an
	// operation that runs as soon as a worker is free; a claim clears it.
	NotBefore time.Time

	// TraceParent and TraceState are the W3C trace context (traceparent
	// and tracestate headers) of the span of the start that stored the
	// operation, so that each attempt's span continues its trace on
	// whichever node claims it; "" when the start was not traced. Set at
	// insert only, and read by full reads (claims among them), not by
	// brief ones.
	TraceParent string
	TraceState  string

	// Attempts is the history of the operation's latest attempts, oldest
	// first (at most MaxAttemptRecords): read only when
	// OperationGetParams.Attempts asks for it, nil otherwise.
	Attempts []Attempt
}

// MaxAttemptRecords is how many attempt records an operation keeps: the
// oldest go first.
const MaxAttemptRecords = 100

// MaxAttemptMessageBytes is the longest message an attempt record keeps
// (clipped to valid UTF-8).
const MaxAttemptMessageBytes = 512

// The outcomes of an attempt (Attempt.Outcome).
const (
	OutcomeSucceeded = "succeeded" // the operation succeeded
	OutcomeFailed    = "failed"    // the operation ended with an error
	OutcomeRetry     = "retry"     // the attempt failed and the operation waits to run again
	OutcomeCancelled = "cancelled" // the operation ended cancelled
	OutcomeLost      = "lost"      // the lease expired and a rescue took the operation back
	OutcomeReleased  = "released"  // the worker gave the lease back (OperationReleaseMany)
	OutcomeDeadline  = "deadline"  // the operation's deadline ended it while it ran
)

// Attempt is the record of one claim of an operation. The claim's
// statement stores what it knows, and the statement that ends the attempt
// the rest, so that keeping the history costs no statement of its own; a
// store may read the record of the current claim from the operation (its
// state, end time and error), so that a claim and the finish that ends the
// operation write little. Times are kept to the millisecond.
type Attempt struct {
	Number    int32     // the operation's Attempt after the claim
	Worker    string    // the lease owner
	StartTime time.Time // the claim
	// DueTime is when the operation was due to run: its NotBefore before
	// the claim, or its creation time. StartTime less DueTime is the time
	// it waited in the queue.
	DueTime time.Time
	EndTime time.Time // zero while the attempt runs
	Outcome string    // one of the Outcome constants; "" while the attempt runs
	Code    int32     // the failure's code; 0 when none
	Message string    // the failure's message, at most MaxAttemptMessageBytes
}

// Failure is a google.rpc.Status stored on an operation that failed or was
// cancelled: its code and message, kept apart for filters, and its encoding.
type Failure struct {
	Code int32
	// Message is stored as StorableText makes it (NUL bytes and invalid
	// UTF-8 replaced), and read back so; Status keeps the exact message.
	Message string
	Status  []byte
}

// Lease names an operation and the claim a worker holds it by.
type Lease struct {
	ID    string
	Token int64
}

// OperationInsertParams is one operation to insert.
type OperationInsertParams struct {
	ID           string
	Parent       string
	Kind         string
	Input        []byte
	Metadata     []byte
	MetadataType string
	// MetadataJSON is Metadata in protojson (proto field names), which
	// filters on metadata fields read; nil when Metadata is nil or its type
	// is unknown.
	MetadataJSON []byte
	RequestID    string // "" for none
	RequestHash  []byte
	MaxAttempts  int32
	// NotBefore delays the operation: it stays pending, and claims skip it,
	// until then. Zero means none. A delayed operation is never inserted
	// claimed (LeaseOwner must be "").
	NotBefore time.Time
	// Deadline is when the operation ends with DEADLINE_EXCEEDED if it is
	// not done by then; zero for none.
	Deadline time.Time

	// LeaseOwner, when set, inserts the operation claimed by that worker, as
	// a claim right after the insert would leave it: running, attempt 1,
	// lease token 1, the lease expiring LeaseTTL after Now. A start that
	// finds its request ID taken claims nothing.
	LeaseOwner string
	LeaseTTL   time.Duration

	// TraceParent and TraceState are the start's trace context, as in
	// Operation; "" stores none (NULL).
	TraceParent string
	TraceState  string
}

// Inserted is the operation that an insert of p stores at created: every
// field is p's or a default. Stores return it rather than read the new row
// back.
func (p *OperationInsertParams) Inserted(created time.Time) *Operation {
	op := &Operation{
		ID: p.ID, Parent: p.Parent, Kind: p.Kind, State: StatePending,
		Input: p.Input, Metadata: p.Metadata, MetadataType: p.MetadataType,
		RequestID: p.RequestID, RequestHash: p.RequestHash, MaxAttempts: p.MaxAttempts,
		CreateTime: created, UpdateTime: created,
		TraceParent: p.TraceParent, TraceState: p.TraceState,
	}
	if !p.NotBefore.IsZero() {
		op.NotBefore = time.UnixMicro(p.NotBefore.UnixMicro()).UTC()
	}
	if !p.Deadline.IsZero() {
		op.Deadline = time.UnixMicro(p.Deadline.UnixMicro()).UTC()
	}
	if p.LeaseOwner != "" {
		op.State, op.Attempt, op.LeaseToken, op.LeaseOwner = StateRunning, 1, 1, p.LeaseOwner
		op.LeaseExpireTime = created.Add(p.LeaseTTL.Truncate(time.Microsecond))
	}
	return op
}

// OperationInsertManyParams inserts several operations in one transaction.
type OperationInsertManyParams struct {
	Operations []*OperationInsertParams
	Now        time.Time
}

// OperationInsertResult is the outcome of one insert, in the order given.
type OperationInsertResult struct {
	// Operation is the inserted operation or, when Existing, the operation
	// that an earlier insert with the same parent and request ID made.
	Operation *Operation
	Existing  bool
}

// OperationGetParams names an operation.
type OperationGetParams struct {
	ID string
	// Brief reads only what a google.longrunning.Operation shows: ID,
	// Parent, State, Metadata, Response and Error (its Code and Status),
	// and the LeaseExpireTime that tells operators whether a running
	// operation's worker still renews its lease, or the NotBefore of a
	// pending one. The other fields are left
	// zero. The API's reads use it: fewer columns are
	// cheaper to read and decode.
	Brief bool
	// Live, with Brief, reads also what tells operators where an operation
	// that is not done stands: Attempt, LastError and Deadline.
	Live bool
	// Attempts reads, with a full read (not Brief), the operation's attempt
	// history too (Operation.Attempts). Other reads never do: claims and
	// lists leave it in the database.
	Attempts bool
}

// OperationListParams selects one page of a parent's operations, newest first.
type OperationListParams struct {
	Parent   string
	Filter   *Filter // nil matches all
	BeforeID string  // only IDs lower than this (the last ID of the previous page); "" from the start
	Limit    int

	// Brief reads only what a brief OperationGet reads (see
	// OperationGetParams.Brief), and the ID.
	Brief bool

	// MaxBytes, when positive, bounds what the store reads by size as
	// well as by count: it stops after the operation that brings the Size
	// of the operations read above MaxBytes (it returns that one too, so
	// that the caller can tell that more follow). The rows after it are
	// not read, so a list holds at most MaxBytes and one operation in
	// memory.
	MaxBytes int
}

// Size is what an operation weighs in OperationListParams.MaxBytes: the
// bytes of its ID, parent and message fields (Input, Metadata, Response and
// Error.Status). It is close to the size of its google.longrunning.Operation
// encoding, which holds all of them but the input.
func (op *Operation) Size() int {
	n := len(op.ID) + len(op.Parent) + len(op.Input) + len(op.Metadata) + len(op.Response)
	if op.Error != nil {
		n += len(op.Error.Status)
	}
	return n
}

// OperationClaimParams claims pending operations for a worker.
type OperationClaimParams struct {
	Owner    string
	Kinds    []string // only these kinds
	Max      int
	LeaseTTL time.Duration // the lease expires this long after Now
	Now      time.Time
}

// OperationHeartbeatParams renews leases in one statement.
type OperationHeartbeatParams struct {
	Leases   []Lease
	LeaseTTL time.Duration // the leases expire this long after Now
	Now      time.Time
}

// OperationHeartbeatResult is a lease that is still held.
type OperationHeartbeatResult struct {
	ID              string
	CancelRequested bool
}

// OperationSetMetadataParams is one metadata write.
type OperationSetMetadataParams struct {
	Lease        Lease
	Metadata     []byte
	MetadataType string
	MetadataJSON []byte // as in OperationInsertParams
}

// OperationSetMetadataManyParams writes the metadata of several operations.
type OperationSetMetadataManyParams struct {
	Updates []*OperationSetMetadataParams
	Now     time.Time
}

// OperationFinishParams ends one operation.
type OperationFinishParams struct {
	Lease Lease
	// State is StateSucceeded, StateFailed or StateCancelled; or
	// StatePending for an attempt that failed with Error and runs again:
	// the operation goes back to pending, not to be claimed before
	// NotBefore, with Error kept as its LastError (or it is cancelled, with
	// CancelledError, if that was requested).
	State     State
	NotBefore time.Time // with StatePending
	// Metadata, when not nil, replaces the stored metadata.
	Metadata     []byte
	MetadataType string
	MetadataJSON []byte // as in OperationInsertParams
	Response     []byte // with StateSucceeded
	ResponseType string
	ResponseJSON []byte   // Response in protojson, as MetadataJSON
	Error        *Failure // with StateFailed or StateCancelled
}

// OperationFinishManyParams ends several operations in one transaction.
type OperationFinishManyParams struct {
	Finishes []*OperationFinishParams
	// CancelledError (code CANCELLED) is stored instead of a failure when the
	// operation's cancellation was requested before the worker failed it.
	CancelledError *Failure
	Now            time.Time
	// CreateTimes asks for the creation time of each operation finished
	// in its result (OperationFinishResult.CreateTime), for a caller that
	// does not have it at hand (a server finishing its remote workers'
	// operations). The statements return it at no cost, except SQLite's
	// success, which otherwise reads no row back.
	CreateTimes bool
}

// OperationFinishResult is the outcome of one finish, in the order given.
type OperationFinishResult struct {
	// Finished is false when the lease was no longer held; nothing was written.
	Finished bool
	// State is the state written (a failure may have become a cancellation).
	State State
	// CreateTime is the operation's creation time when Finished and
	// OperationFinishManyParams.CreateTimes asked for it; zero otherwise.
	CreateTime time.Time
}

// OperationReleaseManyParams gives back leases so that the operations run
// again at once, without counting the attempt.
type OperationReleaseManyParams struct {
	Leases []Lease
	Now    time.Time
}

// OperationRescueParams recovers operations whose lease expired.
type OperationRescueParams struct {
	// ExhaustedError is stored on an operation whose attempts are used up.
	ExhaustedError *Failure
	// CancelledError is stored on an operation whose cancellation was
	// requested before its worker was lost.
	CancelledError *Failure
	Max            int
	Now            time.Time
}

// OperationRescueResult lists what a rescue did.
type OperationRescueResult struct {
	Retried []string // back to pending
	Ended   []string // failed with ExhaustedError or cancelled: now done
}

// OperationExpireParams ends the operations whose deadline passed.
type OperationExpireParams struct {
	Error *Failure // code DEADLINE_EXCEEDED
	Max   int
	Now   time.Time
}

// OperationCancelParams requests the cancellation of an operation.
type OperationCancelParams struct {
	ID     string
	Parent string // the operation must have this parent, or it is not found
	// CancelledError (code CANCELLED) is stored on a pending operation,
	// which ends at once.
	CancelledError *Failure
	Now            time.Time
}

// OperationCancelResult is the outcome of a cancellation request.
type OperationCancelResult struct {
	// Operation is the operation after the request.
	Operation *Operation
	// Ended is true when this request ended the operation: it was pending
	// and is now cancelled. It is false for a running operation, which is
	// only marked, and for one that was done already (a second request
	// for the same operation among them), so that whoever counts the ends
	// of operations counts each one once.
	Ended bool
}

// OperationDeleteParams deletes a done operation.
type OperationDeleteParams struct {
	ID     string
	Parent string // the operation must have this parent, or it is not found
}

// OperationDeleteDoneBeforeParams deletes done operations that ended before a
// time.
type OperationDeleteDoneBeforeParams struct {
	Before time.Time
	Max    int
}

// ErrInvalidArgument is wrapped by the errors of calls whose parameters
// are out of their bounds (see KindStatsParams).
var ErrInvalidArgument = errors.New("invalid argument")

// KindStatsParams selects the statistics of one kind over a window of
// time, in buckets of equal length: bucket i is [Since+i*Bucket,
// Since+(i+1)*Bucket).
type KindStatsParams struct {
	Kind         string
	Since, Until time.Time     // Until after Since
	Bucket       time.Duration // positive; at most MaxKindStatsBuckets buckets
	// LeaseExpiringWithin selects the running operations whose lease
	// expires before Until plus this.
	LeaseExpiringWithin time.Duration
	// Limit is the most operations of each list of KindStats (1 to 1000).
	Limit int
}

// MaxKindStatsBuckets is the most buckets KindStats computes.
const MaxKindStatsBuckets = 1440

// KindStats are the statistics of one kind.
type KindStats struct {
	// Counts are the kind's operations in each state, now (of all time);
	// a state with none is absent.
	Counts map[State]int64
	// Buckets are the window's buckets, in order, those with nothing in
	// them included.
	Buckets []KindStatsBucket
	// PastDeadline are operations not done whose deadline is before Until,
	// the earliest deadline first, read as brief reads with Live.
	PastDeadline []*Operation
	// LeaseExpiring are running operations whose lease expires before
	// Until plus LeaseExpiringWithin, the soonest first, read as brief
	// reads with Live, and their LeaseOwner.
	LeaseExpiring []*Operation
}

// KindStatsBucket is one bucket of KindStats.
type KindStatsBucket struct {
	Start time.Time
	// Succeeded, Failed and Cancelled count the operations of the kind
	// that ended in the bucket.
	Succeeded, Failed, Cancelled int64
	// Claims counts the attempt records whose claim is in the bucket;
	// QueueWaitSum and QueueWaitMax are the sum and the largest of their
	// waits (Attempt.StartTime less Attempt.DueTime).
	Claims                     int64
	QueueWaitSum, QueueWaitMax time.Duration
}

// Validate checks the bounds of p, and returns an error that wraps
// ErrInvalidArgument when one is out of them.
func (p *KindStatsParams) Validate() error {
	switch {
	case p.Bucket <= 0:
		return fmt.Errorf("%w: the bucket must be positive", ErrInvalidArgument)
	case !p.Until.After(p.Since):
		return fmt.Errorf("%w: the window must end after it starts", ErrInvalidArgument)
	case p.Until.Sub(p.Since) > time.Duration(MaxKindStatsBuckets)*p.Bucket:
		return fmt.Errorf("%w: more than %d buckets", ErrInvalidArgument, MaxKindStatsBuckets)
	case p.Limit < 1 || p.Limit > 1000:
		return fmt.Errorf("%w: the limit must be 1 to 1000", ErrInvalidArgument)
	}
	return nil
}

// NumBuckets is the number of buckets of p's window (the last may end
// after Until).
func (p *KindStatsParams) NumBuckets() int {
	return int((p.Until.Sub(p.Since) + p.Bucket - 1) / p.Bucket)
}

// WriteCheckKey is the name under which Store.WriteCheck writes the time of
// the last check.
const WriteCheckKey = "write_check"

// KeyGetOrCreateParams reads a named secret, storing New under the name first
// if there is none.
type KeyGetOrCreateParams struct {
	Name string
	New  []byte
}

// Store keeps operations. The lro.Client calls it; the stores of this
// module implement it (see the package documentation). All methods are
// safe for concurrent use. A method
// given a zero Now uses the current time (a store shared by several nodes
// uses its database's clock). A Max or Limit that is not positive selects
// nothing: the call reads or changes no operation. An error that
// repeating the call cannot fix is a PermanentError (see IsPermanent).
type Store interface {
	// OperationInsertMany inserts operations in one transaction. An operation
	// whose parent and request ID match a stored one is not inserted; its
	// result is the stored operation, with Existing set.
	OperationInsertMany(ctx context.Context, params *OperationInsertManyParams) ([]*OperationInsertResult, error)

	// OperationGet returns an operation, or ErrNotFound.
	OperationGet(ctx context.Context, params *OperationGetParams) (*Operation, error)

	// OperationList returns up to Limit operations of a parent that match the
	// filter, in descending ID order (newest first), stopping early after
	// MaxBytes (see OperationListParams).
	OperationList(ctx context.Context, params *OperationListParams) ([]*Operation, error)

	// OperationClaim moves up to Max pending operations of the given kinds,
	// oldest first, to running: it sets the lease owner and expiry, adds one
	// to Attempt and to LeaseToken, and returns them. Operations are claimed
	// by one caller only.
	OperationClaim(ctx context.Context, params *OperationClaimParams) ([]*Operation, error)

	// OperationHeartbeat extends the leases that are still held and returns
	// them, with whether cancellation was requested. A lease missing from the
	// result was lost.
	OperationHeartbeat(ctx context.Context, params *OperationHeartbeatParams) ([]*OperationHeartbeatResult, error)

	// OperationSetMetadataMany writes metadata of running operations whose
	// lease is held, and reports for each update whether it was written.
	OperationSetMetadataMany(ctx context.Context, params *OperationSetMetadataManyParams) ([]bool, error)

	// OperationFinishMany ends running operations whose lease is held. A
	// failure of an operation whose cancellation was requested is stored as
	// a cancellation with CancelledError.
	OperationFinishMany(ctx context.Context, params *OperationFinishManyParams) ([]*OperationFinishResult, error)

	// OperationReleaseMany moves running operations whose lease is held back
	// to pending, takes one from Attempt, and returns the IDs released.
	OperationReleaseMany(ctx context.Context, params *OperationReleaseManyParams) ([]string, error)

	// OperationRescue handles up to Max running operations whose lease
	// expired: cancelled if cancellation was requested, else back to pending
	// while attempts remain, else failed.
	OperationRescue(ctx context.Context, params *OperationRescueParams) (*OperationRescueResult, error)

	// OperationExpire ends up to Max operations that are not done and
	// whose deadline is not after Now, failing them with Error whatever
	// their state (a running one's worker finds its lease gone), and
	// returns their IDs.
	OperationExpire(ctx context.Context, params *OperationExpireParams) ([]string, error)

	// OperationCancel requests cancellation: a pending operation is cancelled
	// at once, a running one is marked for its worker, and a done one is left
	// as it is. It returns the operation after the change, with whether
	// this call ended it, or ErrNotFound.
	OperationCancel(ctx context.Context, params *OperationCancelParams) (*OperationCancelResult, error)

	// OperationDelete deletes a done operation. It returns ErrNotFound, or
	// ErrNotDone for an operation that is pending or running.
	OperationDelete(ctx context.Context, params *OperationDeleteParams) error

	// OperationDeleteDoneBefore deletes up to Max done operations that ended
	// before Before, and returns how many.
	OperationDeleteDoneBefore(ctx context.Context, params *OperationDeleteDoneBeforeParams) (int, error)

	// OperationCountPending counts the pending operations of each kind,
	// delayed starts and retries that wait for their next attempt
	// included; a kind with none is absent. Metrics sample it: it reads
	// only the indexes of pending operations, never the table's other
	// rows.
	OperationCountPending(ctx context.Context) (map[string]int64, error)

	// OperationCountByState counts the operations of each kind in each
	// state; a kind or a state with none is absent. It groups the whole
	// table in one statement, which scans it: it is for dashboards, not
	// for metrics sampled often.
	OperationCountByState(ctx context.Context) (map[string]map[State]int64, error)

	// KindStats returns the statistics of a kind over a window (see
	// KindStatsParams), aggregated by the database. It returns an error
	// wrapping ErrInvalidArgument when the params are out of bounds.
	KindStats(ctx context.Context, params *KindStatsParams) (*KindStats, error)

	// SchemaVersion returns the version of the database's schema (the
	// highest migration applied, 0 when none) and the version this
	// store's code expects (its latest migration), for readiness checks:
	// they differ when the database was restored from an older backup, or
	// migrated by a newer binary.
	SchemaVersion(ctx context.Context) (have, want int, err error)

	// KeyGetOrCreate returns the secret stored under a name, storing New first
	// when there is none, so every node sharing the store gets the same one.
	KeyGetOrCreate(ctx context.Context, params *KeyGetOrCreateParams) ([]byte, error)

	// WriteCheck commits a write that changes no operation and does not
	// grow the database (it rewrites one row of its own, WriteCheckKey of
	// the named values that KeyGetOrCreate keeps), so that a health check
	// sees a store that answers reads but cannot be written: a read-only
	// database or file, a full disk.
	WriteCheck(ctx context.Context) error

	// Close releases the store's resources. Calls after Close return ErrClosed.
	Close() error
}
