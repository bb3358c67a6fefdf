package lro

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Kind describes a kind of operation: its name, its typed handler, and the
// check its requests must pass to start. Req, Meta and Resp are the
// generated pointer types of proto messages; use *emptypb.Empty for a kind
// that reports no metadata or returns nothing.
type Kind[Req, Meta, Resp proto.Message] struct {
	// Name identifies the kind in starts and in the store, such as
	// "example.v1.resize". It must match [A-Za-z][A-Za-z0-9_.-]{0,127}.
	Name string

	// Run does the work. It reports progress with [Job.SetMetadata], stops
	// when ctx is done (context.Cause tells why: ErrCancelRequested,
	// ErrLeaseLost or ErrShutdown), and returns the response or an error.
	// An error that carries a gRPC status (status.Error, or any error with a
	// GRPCStatus method, also wrapped) keeps its code, message and details;
	// any other error becomes UNKNOWN with its message. A nil response is
	// stored as the empty message of type Resp. A panic fails the operation
	// with INTERNAL.
	//
	// Run may be called again for the same operation: when the worker running
	// it is lost (the process dies, or its lease expires), another worker
	// runs it from the start, up to MaxAttempts times in all.
	//
	// A Kind without Run is one that this client starts and follows but
	// does not run: remote workers run it (see DeclaredKind).
	Run func(ctx context.Context, job *Job[Req, Meta]) (Resp, error)

	// Validate, if set, checks a request when the operation starts. An error
	// rejects the start with INVALID_ARGUMENT and its message; nothing is
	// stored.
	Validate func(req Req) error

	// InitialMetadata, if set, computes an operation's metadata from its
	// request when the operation starts, so that the Operation that
	// StartOperation returns already carries it, as does every read until
	// Run's first SetMetadata: Google's APIs set metadata from the first
	// response (a start time, progress 0), and their clients read it at
	// once. It runs after Validate, before the operation is stored, on the
	// caller's goroutine: it should be quick and do no I/O. A nil Meta
	// means no metadata. Run sees nothing different, and its SetMetadata
	// replaces it as usual. A repeat of a request ID returns the first
	// operation, with the metadata that its start stored. On a remote
	// client (NewRemoteClient), starts go to the server, whose kind's
	// InitialMetadata applies.
	//
	// A failure rejects the start, and nothing is stored. An error that
	// carries a gRPC status (status.Error, an *Error, or any error with a
	// GRPCStatus method) is returned as is, so that a kind may refuse a
	// request here with the code it chooses. Any other error, and a panic,
	// is INTERNAL (reason INITIAL_METADATA_FAILED): the request passed
	// Validate, so the failure is the kind's, not the caller's. Metadata
	// whose encoding is over Config.MetadataBytesMax is INTERNAL too
	// (reason METADATA_TOO_LARGE, wrapping ErrMetadataTooLarge), for the
	// same reason: the server made it. Both are logged.
	InitialMetadata func(req Req) (Meta, error)

	// MaxAttempts is how many times Run is started for one operation, in
	// all: attempts that failed with a retryable error (see Retry) and
	// attempts that lost their worker count alike. Zero means
	// Config.MaxAttempts.
	MaxAttempts int

	// Retry says which errors of Run run the operation again, and when.
	// Nil means the defaults: UNAVAILABLE only, after 1s, 2s, 4s, ... (see
	// RetryPolicy); NoRetry retries nothing.
	Retry *RetryPolicy

	// AttemptTimeout, if set, limits one attempt: Run's ctx ends after it,
	// with cause ErrAttemptTimeout, and the attempt fails with
	// DEADLINE_EXCEEDED, which retries if Retry lists it.
	AttemptTimeout time.Duration

	// Timeout, if set, limits the whole operation from its start, across
	// attempts and the waits between them (a delayed start's wait
	// included): once it passes, the operation ends with DEADLINE_EXCEEDED
	// whatever state it is in, and a running attempt's ctx ends with cause
	// ErrTimeout.
	Timeout time.Duration
}

// DeclaredKind declares a kind of operation that this client starts and
// follows but does not run: workers elsewhere run its operations, through
// the Workers service (see lrogrpc and lrohttp) or a remote client (see
// NewRemoteClient). Its types may be generated or dynamic (dynamicpb), so
// that a server can take kinds from configuration, without Go. Operations
// of a declared kind wait, pending, until a worker claims them.
type DeclaredKind struct {
	// Name identifies the kind, as in Kind.
	Name string

	// Request, Metadata and Response are the kind's message types. Nil
	// means google.protobuf.Struct: the kind takes, reports or returns
	// JSON objects.
	Request, Metadata, Response protoreflect.MessageType

	// Validate, if set, checks a request when the operation starts, as
	// Kind.Validate does.
	Validate func(req proto.Message) error

	// InitialMetadata, if set, computes an operation's metadata from its
	// request when the operation starts, as Kind.InitialMetadata does. It
	// must return a message of the Metadata type (or nil, for none);
	// another type rejects the start with INTERNAL.
	InitialMetadata func(req proto.Message) (proto.Message, error)

	// InputSchema is the JSON Schema that Validate checks requests
	// against, if any: it is only shown to clients (ListKinds).
	InputSchema *structpb.Struct

	// MaxAttempts, Retry, AttemptTimeout and Timeout are as in Kind: a
	// worker's failure retries under Retry, and a worker sees the attempt's
	// deadline with each operation it claims.
	MaxAttempts    int
	Retry          *RetryPolicy
	AttemptTimeout time.Duration
	Timeout        time.Duration

	// LeaseTTL is how long a worker's lease on an operation of this kind
	// lasts without a renewal. Zero means Config.LeaseTTL; it is at least
	// LeaseTTLMin.
	LeaseTTL time.Duration
}

// Job is one attempt at running an operation, handed to Kind.Run.
type Job[Req, Meta proto.Message] struct {
	// Name is the operation's name, such as "operations/0190…".
	Name string
	// Request is the request the operation was started with.
	Request Req
	// Attempt counts the attempts, from 1.
	Attempt int

	j *job
}

// SetMetadata replaces the operation's metadata. It returns at once:
// writes are coalesced and reach the store within Config.MetadataInterval,
// and the last metadata set is written with the operation's result. It
// returns ErrLeaseLost once the worker has lost the operation, and
// ErrMetadataTooLarge, storing nothing, for metadata whose encoding is over
// Config.MetadataBytesMax.
func (j *Job[Req, Meta]) SetMetadata(m Meta) error {
	a, err := anypb.New(m)
	if err != nil {
		return fmt.Errorf("set metadata: %w", err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		return fmt.Errorf("set metadata: %w", err)
	}
	return j.j.setMetadata(b, a.TypeUrl)
}

// kind is a registered Kind with its types erased.
type kind struct {
	name         string
	request      protoreflect.MessageType
	metadata     protoreflect.MessageType
	response     protoreflect.MessageType
	validate     func(proto.Message) error
	initialMeta  func(proto.Message) (proto.Message, error) // nil when the kind has none
	run          func(ctx context.Context, j *job, req proto.Message) (proto.Message, error)
	maxAttempts  int32
	metadataNone bool

	retry          *RetryPolicy  // normalized when registered
	attemptTimeout time.Duration // 0: none
	timeout        time.Duration // of the whole operation; 0: none

	leaseTTL    time.Duration    // of remote workers' claims; 0 until registered: Config.LeaseTTL
	inputSchema *structpb.Struct // shown by ListKinds; nil when none

	metrics *kindMetrics // nil unless Config.Metrics is set; set when registered

	// The names of its spans, made when registered rather than at each
	// start and attempt: "lro.start {kind}" and "lro.attempt {kind}".
	startSpanName, attemptSpanName string
}

// handled reports whether this client runs the kind's operations itself:
// a declared kind (or a Kind without Run) is run only by remote workers.
func (k *kind) handled() bool { return k.run != nil }

// deadline returns the deadline of an operation of the kind that starts
// now: zero when the kind has no Timeout.
func (k *kind) deadline() time.Time {
	if k.timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(k.timeout)
}

var kindName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)

// Register adds a kind of operation to the client. Register kinds before
// Start; every client that runs operations of a kind must register it.
func Register[Req, Meta, Resp proto.Message](c *Client, k Kind[Req, Meta, Resp]) error {
	if !kindName.MatchString(k.Name) {
		return fmt.Errorf("lro: register: kind name %q must match %s", k.Name, kindName)
	}
	if k.MaxAttempts < 0 {
		return fmt.Errorf("lro: register %s: MaxAttempts is negative", k.Name)
	}
	var req Req
	var meta Meta
	var resp Resp
	info := &kind{
		name:        k.Name,
		request:     req.ProtoReflect().Type(),
		metadata:    meta.ProtoReflect().Type(),
		response:    resp.ProtoReflect().Type(),
		maxAttempts: int32(k.MaxAttempts),
		retry:       k.Retry, attemptTimeout: k.AttemptTimeout, timeout: k.Timeout,
	}
	if k.Run != nil {
		info.run = func(ctx context.Context, j *job, r proto.Message) (proto.Message, error) {
			job := &Job[Req, Meta]{Name: j.name, Request: r.(Req), Attempt: int(j.op.Attempt), j: j}
			resp, err := k.Run(ctx, job)
			if err != nil || any(resp) == nil || !resp.ProtoReflect().IsValid() {
				return nil, err // a nil response is stored as an empty one
			}
			return resp, nil
		}
	}
	info.metadataNone = info.metadata.Descriptor().FullName() == (&emptypb.Empty{}).ProtoReflect().Descriptor().FullName()
	if k.Validate != nil {
		info.validate = func(m proto.Message) error { return k.Validate(m.(Req)) }
	}
	if k.InitialMetadata != nil {
		info.initialMeta = func(r proto.Message) (proto.Message, error) {
			m, err := k.InitialMetadata(r.(Req))
			if err != nil || any(m) == nil {
				return nil, err
			}
			return m, nil
		}
	}
	return c.register(info)
}

// Declare adds a kind of operation that remote workers run (see
// DeclaredKind) to the client. Declare kinds before Start.
func Declare(c *Client, k DeclaredKind) error {
	if !kindName.MatchString(k.Name) {
		return fmt.Errorf("lro: declare: kind name %q must match %s", k.Name, kindName)
	}
	if k.MaxAttempts < 0 {
		return fmt.Errorf("lro: declare %s: MaxAttempts is negative", k.Name)
	}
	if k.LeaseTTL != 0 && k.LeaseTTL < LeaseTTLMin {
		return fmt.Errorf("lro: declare %s: LeaseTTL %v is below the minimum %v", k.Name, k.LeaseTTL, LeaseTTLMin)
	}
	orStruct := func(t protoreflect.MessageType) protoreflect.MessageType {
		if t == nil {
			return (&structpb.Struct{}).ProtoReflect().Type()
		}
		return t
	}
	info := &kind{
		name:        k.Name,
		request:     orStruct(k.Request),
		metadata:    orStruct(k.Metadata),
		response:    orStruct(k.Response),
		validate:    k.Validate,
		initialMeta: k.InitialMetadata,
		maxAttempts: int32(k.MaxAttempts),
		leaseTTL:    k.LeaseTTL,
		inputSchema: k.InputSchema,
		retry:       k.Retry, attemptTimeout: k.AttemptTimeout, timeout: k.Timeout,
	}
	info.metadataNone = info.metadata.Descriptor().FullName() == (&emptypb.Empty{}).ProtoReflect().Descriptor().FullName()
	return c.register(info)
}

// MustRegister is Register that panics on error, for use at start-up.
func MustRegister[Req, Meta, Resp proto.Message](c *Client, k Kind[Req, Meta, Resp]) {
	if err := Register(c, k); err != nil {
		panic(err)
	}
}

// KindInfo describes a registered kind.
type KindInfo struct {
	Name         string
	RequestType  protoreflect.FullName
	MetadataType protoreflect.FullName // "" when the kind reports no metadata
	ResponseType protoreflect.FullName
	MaxAttempts  int
	// LeaseTTL is how long a worker's lease on an operation of the kind
	// lasts without a renewal.
	LeaseTTL time.Duration
	// Handled is whether this client runs the kind's operations; when
	// false, only remote workers do.
	Handled bool
	// InputSchema is the JSON Schema of the kind's requests, if declared.
	InputSchema *structpb.Struct
	// Retry is the kind's retry policy, its defaults filled in.
	Retry *RetryPolicy
	// AttemptTimeout and Timeout are the kind's limits; zero when none.
	AttemptTimeout, Timeout time.Duration
}

type kindSet struct {
	mu    sync.RWMutex
	kinds map[string]*kind
}

func (s *kindSet) get(name string) *kind {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.kinds[name]
}

// validationError turns a kind's validation failure into INVALID_ARGUMENT,
// keeping the details of one that already is.
func validationError(kindName string, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
		return err
	}
	var e *Error
	if errors.As(err, &e) && e.Code == codes.InvalidArgument {
		return e
	}
	return invalidArgument("input", "INVALID_INPUT", "invalid input for kind %q: %v", kindName, err)
}
