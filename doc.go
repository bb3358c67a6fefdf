/*
Package lro runs Google-style long-running operations durably: an API server
starts an operation from any RPC and returns a google.longrunning.Operation at
once; workers run it to the end, holding a lease kept alive by heartbeats;
clients follow it with the standard Operations service (see package lrogrpc)
or through this package.

# Kinds and handlers

A kind of operation is a typed handler: its request, metadata and response
are proto messages.

	lro.MustRegister(client, lro.Kind[*pb.ResizeRequest, *pb.ResizeMetadata, *pb.ResizeResponse]{
		Name: "images.resize",
		Validate: func(req *pb.ResizeRequest) error { ... },   // at start: INVALID_ARGUMENT
		InitialMetadata: func(req *pb.ResizeRequest) (*pb.ResizeMetadata, error) { ... }, // in the start's answer
		Run: func(ctx context.Context, job *lro.Job[*pb.ResizeRequest, *pb.ResizeMetadata]) (*pb.ResizeResponse, error) {
			job.SetMetadata(&pb.ResizeMetadata{ProgressPercent: 50})  // visible to GetOperation
			...
			return &pb.ResizeResponse{...}, nil                       // or a status error
		},
	})

The handler's context ends when the operation is cancelled
(context.Cause(ctx) is ErrCancelRequested), when the worker lost its lease
(ErrLeaseLost: another worker may run it now, and what this one writes is
rejected) or on shutdown after the grace period (ErrShutdown: the operation is
released and runs again at once on the next client).

InitialMetadata, if set, gives an operation its metadata when it starts, so
that the Operation that StartOperation returns carries it, as Google's
clients expect; the handler's SetMetadata replaces it.

An error that carries a gRPC status keeps its code, message and details in
Operation.error; any other error becomes UNKNOWN. A success always sets
Operation.response (google.protobuf.Empty for a nil response).

What a handler gives is capped (Config.MetadataBytesMax, ResponseBytesMax,
ErrorBytesMax): a response or error over its limit fails the operation with
RESOURCE_EXHAUSTED, and SetMetadata refuses metadata over its limit with
ErrMetadataTooLarge. A result that the store refuses for good ends the
operation with INTERNAL rather than being retried for ever.

# Life of an operation

	StartOperation ─▶ pending ─claim─▶ running ─▶ succeeded | failed | cancelled
	                     ▲                │
	                     └─ lease expired ┘   (up to MaxAttempts, then failed: ABORTED)

A done operation never changes again. CancelOperation ends a pending
operation at once and cancels a running handler's context; DeleteOperation
removes a done operation (FAILED_PRECONDITION before then); WaitOperation
returns as soon as the operation ends.

# Workers in other deployments

A client made with NewRemoteClient has no store: it runs its kinds'
handlers for an lro server it reaches over gRPC (the server's Workers
service), with the same Job, so a Go team can deploy its workers apart
from the server. The server declares the kinds (DeclaredKind, or a Kind
without Run); the remote client registers them with Run, checked at Start
against the server's types.

	conn, _ := grpc.NewClient("lro.internal:8080", ...)
	worker, _ := lro.NewRemoteClient(conn, &lro.Config{Workers: 50})
	lro.MustRegister(worker, resizeKind)       // the same Kind, with Run
	worker.Start(ctx)                          // checks the kinds with the server
	defer worker.Stop(ctx)                     // releases unfinished operations

# Throughput

Writes are grouped: concurrent starts share a transaction, a claim takes as
many operations as there are free workers, results are written in batches,
one heartbeat statement renews all of a client's leases, and metadata writes
are coalesced (Config.MetadataInterval).

# The shape of the API, and who implements what

A Client's methods take what names their target as arguments (a kind, a
request, an operation's name) and what is optional as an options struct
that may be nil (StartOptions, ListOptions); they return the standard
google.longrunning types, and errors of type *Error. The application
declares kinds (Kind, with Register) and implements nothing else: Client is
concrete, created by NewClient, one per process and store. The store
(lrostore.Store) is implemented by this module's stores, lrosqlite and
lropgx; another must pass the conformance suite in lrostore/lrostoretest,
and only a Client calls a store. Package lrogrpc serves a Client as
google.longrunning.Operations over gRPC, and lrohttp as HTTP/JSON.
*/
package lro
