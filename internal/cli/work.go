package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/code"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
	"lro.dev/lro/lropb"
)

// Limits of lro work.
const (
	// workStdoutMax is how much of a command's standard output is kept:
	// the server's default limit of a response. More fails the operation
	// with RESOURCE_EXHAUSTED (the rest is read and dropped, so that the
	// command is not blocked on a full pipe).
	workStdoutMax = lro.ResponseBytesMaxDefault
	// workStderrTail is how much of the end of a command's standard error
	// is kept, for the message of a failure.
	workStderrTail = 4 << 10
	// workMetadataLineMax bounds a line written to file descriptor 3: the
	// server's default limit of metadata. A longer line is dropped.
	workMetadataLineMax = lro.MetadataBytesMaxDefault
	// workClaimWait is how long a claim waits for work on the server.
	workClaimWait = 30 * time.Second
	// workHeartbeatDefault is the heartbeat of a claim that gives none.
	workHeartbeatDefault = 10 * time.Second
	// workDrain is how long the standard streams of a command that exited
	// are still read: processes outside its process group may hold them.
	workDrain = time.Second
	// workMetadataInterval is how soon after the last renewal new
	// metadata is sent, ahead of the next heartbeat: progress shows within
	// about a second, at the cost of at most one call a second.
	workMetadataInterval = time.Second
	// workBatchMax is the most items the Workers service takes in a call.
	workBatchMax = 1000
	// workRetryMax bounds the pause between retries of a failed call.
	workRetryMax = 30 * time.Second
	// workGraceDefault is the default of --grace.
	workGraceDefault = 10 * time.Second
)

// workEnviron is the environment that a command inherits from lro work:
// all of it but TRACEPARENT and TRACESTATE, which are the operation's own
// (or unset when its start was not traced), never lro work's.
func workEnviron() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool {
		return strings.HasPrefix(kv, "TRACEPARENT=") || strings.HasPrefix(kv, "TRACESTATE=")
	})
}

// workOptions are the arguments and flags of lro work.
type workOptions struct {
	clientOptions
	kinds       []string
	command     []string
	path        string // command[0] found on PATH
	concurrency int
	grace       time.Duration
	worker      string
	stderr      io.Writer
}

func newWorkCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &workOptions{stderr: stderr}
	cmd := &cobra.Command{
		Use:   "work KIND... [flags] -- COMMAND [ARGS...]",
		Short: "Run a command for each operation of the kinds",
		Long: `Claim operations of the kinds KIND... from the server's Workers service and
run COMMAND once for each, up to --concurrency at a time:

  - its standard input is the operation's request as JSON (the protobuf
    JSON mapping of the kind's request);
  - its environment is lro work's, plus LRO_OPERATION (the operation's
    name), LRO_KIND, LRO_ATTEMPT (from 1) and, when the attempt has a
    time limit (the kind's attempt_timeout or timeout), LRO_DEADLINE
    (RFC 3339): at that time the command is stopped as a cancelled one
    is, and the attempt fails with DEADLINE_EXCEEDED (which the kind's
    retry policy may retry); when the operation's start was traced,
    TRACEPARENT (and TRACESTATE) give its W3C trace context, which a
    command that traces continues;
  - each line it writes to file descriptor 3 is a JSON object that becomes
    the operation's metadata, replacing the last, sent within about a
    second with a lease renewal, and again with the result (a line that is
    not a JSON object, or longer than 256 KiB, is logged and ignored);
  - exit status 0 is success: its standard output, parsed as JSON, is the
    response (empty output: an empty response; output that is not JSON
    fails the operation with INTERNAL);
  - any other exit status is failure: if its standard output is a
    google.rpc.Status in JSON, such as {"code": 9, "message": "boom"}, that
    is the error; else UNKNOWN, with the exit status and the end of its
    standard error (4 KiB at most) as the message. The kind's retry policy
    decides whether the operation runs again: by default only UNAVAILABLE
    (14) does, and a google.rpc.RetryInfo detail sets the delay;
  - standard output beyond 1 MiB fails the operation with
    RESOURCE_EXHAUSTED;
  - a cancelled operation's command gets SIGTERM (its whole process
    group), SIGKILL after --grace, and the operation ends CANCELLED; a
    command whose lease is lost is stopped the same way, and its result is
    not written;
  - when the command exits, whatever it left in its process group is
    killed.

On SIGTERM or SIGINT, lro work stops claiming, gives the operations it runs
back to the server at once (they run again elsewhere, the attempt not
counted), stops the commands as above, and exits 0. Killed with SIGKILL, it
leaves its leases to expire: the operations run again after their lease
TTL. On Linux a command is killed when lro work dies; what it started in
turn is not, unless it sees to it.

A COMMAND that is not found is a usage error (exit code 2); a kind that the
server does not know ends lro work with exit code 1, before it runs
anything.`,
		DisableFlagsInUseLine: true,
		Example: `  # fd 3 takes progress; stdout is the response.
  lro work example.report -- sh -c '
    echo "{\"step\": \"reading\"}" >&3
    jq "{lines: (.files | length)}"'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 {
				return usageErrorf("missing -- COMMAND: lro work KIND... -- COMMAND [ARGS...]")
			}
			o.kinds, o.command = args[:dash], args[dash:]
			o.complete()
			if err := o.Validate(); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	o.addConnFlags(fs)
	fs.IntVar(&o.concurrency, "concurrency", 1, "how many commands to run at once, `N` from 1 to 1000")
	fs.DurationVar(&o.grace, "grace", workGraceDefault, "how long, `D`, a command has between SIGTERM and SIGKILL")
	fs.StringVar(&o.worker, "worker", "", "the worker's `NAME`, the owner of its leases (default the host name and process ID)")
	o.output = outputText
	return cmd
}

// Validate checks the arguments and flags, and finds COMMAND.
func (o *workOptions) Validate() error {
	if err := o.clientOptions.Validate(); err != nil {
		return err
	}
	if len(o.kinds) == 0 {
		return usageErrorf("missing KIND: lro work KIND... -- COMMAND [ARGS...]")
	}
	for _, k := range o.kinds {
		if k == "" || !utf8.ValidString(k) {
			return usageErrorf("invalid KIND %q", k)
		}
	}
	if len(o.command) == 0 || o.command[0] == "" {
		return usageErrorf("missing COMMAND after --")
	}
	if o.concurrency < 1 || o.concurrency > workBatchMax {
		return usageErrorf("invalid --concurrency %d: want 1 to %d", o.concurrency, workBatchMax)
	}
	if o.grace < 0 {
		return usageErrorf("invalid --grace %v: must not be negative", o.grace)
	}
	if len(o.worker) > 256 {
		return usageErrorf("invalid --worker: longer than 256 bytes")
	}
	path, err := exec.LookPath(o.command[0])
	if err != nil {
		return usageErrorf("command %q: %v", o.command[0], lookPathReason(err))
	}
	o.path = path
	if o.worker == "" {
		host, _ := os.Hostname()
		o.worker = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	return nil
}

// lookPathReason is why exec.LookPath failed, without the path again.
func lookPathReason(err error) string {
	var perr *os.PathError
	if errors.As(err, &perr) {
		return perr.Err.Error()
	}
	if errors.Is(err, exec.ErrNotFound) {
		return "not found on PATH"
	}
	var eerr *exec.Error
	if errors.As(err, &eerr) {
		return eerr.Err.Error()
	}
	return err.Error()
}

func (o *workOptions) run(ctx context.Context) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	w := newWorker(o, lropb.NewWorkersClient(c.conn),
		slog.New(slog.NewTextHandler(o.stderr, nil)))
	return w.run(ctx)
}

// A worker claims operations and runs a command for each.
type worker struct {
	o      *workOptions
	client lropb.WorkersClient
	log    *slog.Logger

	mu      sync.Mutex
	jobs    map[string]*job // claimed and neither finished, released nor lost
	busy    int             // commands running
	pending []*job          // ended, to be finished
	closing bool            // no more jobs: the finisher ends when pending is empty
	metaDue bool            // a job has metadata to send

	freed     chan struct{} // a slot was freed (buffered 1)
	renewKick chan struct{} // the renewal schedule may have changed (buffered 1)
	finKick   chan struct{} // pending has jobs, or closing is set (buffered 1)
	jobsDone  sync.WaitGroup
}

// jobState is where a job stands.
type jobState int

const (
	jobRunning    jobState = iota // the command runs
	jobCancelling                 // cancellation was requested: the command is being stopped
	jobLost                       // the lease is lost: stop the command, write nothing
	jobReleased                   // given back to the server: stop the command, write nothing
	jobEnded                      // the command ended; its result waits to be sent
)

// A job is one claimed operation.
type job struct {
	op       *lropb.ClaimedOperation
	ttl      time.Duration
	interval time.Duration

	// Guarded by worker.mu.
	state   jobState
	expires time.Time       // when the lease expires, as last renewed
	meta    *structpb.Value // metadata not sent yet
	last    *structpb.Value // the last metadata, sent again with the result
	result  *lropb.OperationResult
	retried bool          // the result was refused once and replaced by an error
	stop    chan struct{} // closed when the command must stop
}

func newWorker(o *workOptions, client lropb.WorkersClient, log *slog.Logger) *worker {
	return &worker{
		o:         o,
		client:    client,
		log:       log,
		jobs:      map[string]*job{},
		freed:     make(chan struct{}, 1),
		renewKick: make(chan struct{}, 1),
		finKick:   make(chan struct{}, 1),
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run claims and runs operations until ctx is cancelled (lro work's
// SIGTERM), then releases the running ones, stops their commands and
// returns nil; or until a claim fails for good, which it returns after the
// same shutdown.
func (w *worker) run(ctx context.Context) error {
	bg := context.WithoutCancel(ctx)
	renewDone := make(chan struct{})
	stopRenew := make(chan struct{})
	go func() {
		defer close(renewDone)
		w.renewLoop(bg, stopRenew)
	}()
	finDone := make(chan struct{})
	go func() {
		defer close(finDone)
		w.finishLoop(bg)
	}()

	err := w.claimLoop(ctx)

	w.releaseAll(bg)
	w.jobsDone.Wait()
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	kick(w.finKick)
	<-finDone
	close(stopRenew)
	<-renewDone
	return err
}

// claimLoop claims operations for the free slots until ctx is done or a
// claim fails for good.
func (w *worker) claimLoop(ctx context.Context) error {
	retry := time.Duration(0)
	for {
		w.mu.Lock()
		free := w.o.concurrency - w.busy
		w.mu.Unlock()
		if free <= 0 {
			select {
			case <-w.freed:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		cctx, cancel := context.WithTimeout(ctx, workClaimWait+rpcTimeout)
		resp, err := w.client.ClaimOperations(cctx, &lropb.ClaimOperationsRequest{
			Worker: w.o.worker,
			Kinds:  w.o.kinds,
			Max:    int32(free),
			Wait:   durationpb.New(workClaimWait),
			Json:   true,
		})
		cancel()
		if ctx.Err() != nil {
			// Operations claimed as the call was cancelled are run and
			// released at once, rather than left to expire.
			for _, op := range resp.GetOperations() {
				w.start(op)
			}
			return nil
		}
		if err != nil {
			if !retryable(err) {
				return err // printed as "lro: CODE_NAME: message"
			}
			retry = min(max(2*retry, time.Second), workRetryMax)
			w.log.Warn("claiming operations failed; retrying", "error", errorText(err), "in", retry)
			t := time.NewTimer(retry)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		retry = 0
		for _, op := range resp.GetOperations() {
			w.start(op)
		}
	}
}

// retryable tells whether a failed call may succeed if made again.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Aborted, codes.Internal, codes.Unknown, codes.Canceled:
		return true
	}
	return false
}

// start runs the command for op.
func (w *worker) start(op *lropb.ClaimedOperation) {
	j := &job{
		op:       op,
		ttl:      op.GetLeaseTtl().AsDuration(),
		interval: op.GetHeartbeatInterval().AsDuration(),
		stop:     make(chan struct{}),
	}
	if j.interval <= 0 {
		j.interval = workHeartbeatDefault
	}
	if j.ttl <= 0 {
		j.ttl = 3 * j.interval
	}
	j.expires = time.Now().Add(j.ttl)
	w.mu.Lock()
	w.jobs[op.GetName()] = j
	w.busy++
	if op.GetCancelRequested() {
		j.state = jobCancelling
		close(j.stop)
	}
	w.mu.Unlock()
	kick(w.renewKick)
	w.jobsDone.Add(1)
	go w.runJob(j)
}

// runJob runs j's command and queues its result.
func (w *worker) runJob(j *job) {
	defer w.jobsDone.Done()
	var res *lropb.OperationResult
	select {
	case <-j.stop: // cancelled before it started
	default:
		res = w.execute(j)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.busy--
	kick(w.freed)
	name := j.op.GetName()
	switch j.state {
	case jobLost, jobReleased:
		delete(w.jobs, name)
		return
	case jobCancelling:
		res = &lropb.OperationResult{Result: &lropb.OperationResult_Error{Error: &spb.Status{
			Code: int32(code.Code_CANCELLED), Message: "the operation was cancelled",
		}}}
	}
	res.Name = name
	res.LeaseToken = j.op.GetLeaseToken()
	// The last metadata goes with the result even if a renewal took it:
	// that renewal may reach the server after the result, too late.
	if j.last != nil {
		res.MetadataValue = &lropb.OperationResult_Metadata{Metadata: j.last}
		j.meta = nil
	}
	j.state = jobEnded
	j.result = res
	w.pending = append(w.pending, j)
	kick(w.finKick)
}

// execute runs the command for j and returns its outcome (without name and
// lease token).
func (w *worker) execute(j *job) *lropb.OperationResult {
	op := j.op
	log := w.log.With("operation", op.GetName())
	var input []byte
	if in := op.GetInput(); in != nil {
		var err error
		if input, err = protojson.Marshal(in); err != nil {
			return errorResult(code.Code_INVALID_ARGUMENT, "the request cannot be written as JSON: "+err.Error())
		}
		// One line, ended: a shell's read then succeeds.
		input = append(input, '\n')
	}

	env := append(workEnviron(),
		"LRO_OPERATION="+op.GetName(),
		"LRO_KIND="+op.GetKind(),
		"LRO_ATTEMPT="+strconv.Itoa(int(op.GetAttempt())),
	)
	if tp := op.GetTraceparent(); tp != "" {
		// The start's trace context: a command that traces continues the
		// operation's trace.
		env = append(env, "TRACEPARENT="+tp)
		if ts := op.GetTracestate(); ts != "" {
			env = append(env, "TRACESTATE="+ts)
		}
	}
	var overdue <-chan time.Time // fires at the attempt's deadline, if it has one
	if d := op.GetDeadline(); d != nil {
		env = append(env, "LRO_DEADLINE="+d.AsTime().UTC().Format(time.RFC3339Nano))
		t := time.NewTimer(time.Until(d.AsTime()))
		defer t.Stop()
		overdue = t.C
	}
	p, err := startCommand(w.o.path, w.o.command, env)
	if err != nil {
		// The command cannot run on this worker (it was removed, or is
		// not executable, or the worker is out of processes or files):
		// the operation cannot succeed here. FAILED_PRECONDITION says
		// that the system is not in a state to run it; the message holds
		// no path of the worker's.
		log.Error("cannot start the command", "error", err)
		return errorResult(code.Code_FAILED_PRECONDITION, "the worker cannot start its command: "+errnoText(err))
	}
	log.Info("running", "kind", op.GetKind(), "attempt", op.GetAttempt())

	var streams sync.WaitGroup
	stdout := &headBuffer{max: workStdoutMax}
	stderr := &tailBuffer{max: workStderrTail}
	streams.Add(4)
	go func() {
		defer streams.Done()
		_, _ = p.stdin.Write(input) // an error means the command did not read it all
		p.stdin.Close()
	}()
	go func() {
		defer streams.Done()
		_, _ = io.Copy(stdout, p.stdout) // ends when the command closes it, or when its pipes are closed after it exits
	}()
	go func() {
		defer streams.Done()
		_, _ = io.Copy(stderr, p.stderr) // as stdout
	}()
	go func() {
		defer streams.Done()
		w.readMetadata(j, p.meta, log)
	}()

	exited := make(chan struct{})
	var timedOut atomic.Bool
	go func() {
		select {
		case <-exited:
			return
		case <-j.stop:
		case <-overdue:
			timedOut.Store(true)
			log.Warn("the command ran past its attempt's deadline; stopping it")
		}
		p.signal(syscall.SIGTERM)
		t := time.NewTimer(w.o.grace)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			p.signal(syscall.SIGKILL)
		}
	}()
	state, werr := p.wait()
	close(exited)
	// Whatever the command left in its group goes with it, so that the
	// pipes close; processes that left the group may hold them still.
	p.signal(syscall.SIGKILL)
	drained := make(chan struct{})
	go func() {
		streams.Wait()
		close(drained)
	}()
	t := time.NewTimer(workDrain)
	select {
	case <-drained:
		t.Stop()
	case <-t.C:
		p.closeStreams()
		<-drained
	}
	p.closeStreams()

	if werr != nil {
		log.Error("waiting for the command", "error", werr)
		return errorResult(code.Code_UNKNOWN, "the worker lost track of its command")
	}
	if timedOut.Load() {
		return errorResult(code.Code_DEADLINE_EXCEEDED, "the command ran past its attempt's deadline and was stopped")
	}
	if stdout.total > int64(stdout.max) {
		return errorResult(code.Code_RESOURCE_EXHAUSTED, fmt.Sprintf(
			"the command's standard output (%d bytes) exceeds the limit of %d bytes", stdout.total, stdout.max))
	}
	out := bytes.TrimSpace(stdout.buf)
	if state.Success() {
		if len(out) == 0 {
			return &lropb.OperationResult{}
		}
		v := &structpb.Value{}
		if err := protojson.Unmarshal(out, v); err != nil {
			return errorResult(code.Code_INTERNAL, "the command exited 0 but its standard output is not JSON: "+
				strings.TrimPrefix(err.Error(), "proto: "))
		}
		return &lropb.OperationResult{Result: &lropb.OperationResult_Response{Response: v}}
	}
	if len(out) > 0 && out[0] == '{' {
		st := &spb.Status{}
		if err := protojson.Unmarshal(out, st); err == nil && st.GetCode() != 0 {
			return &lropb.OperationResult{Result: &lropb.OperationResult_Error{Error: st}}
		}
	}
	msg := state.String()
	if tail := stderr.text(); tail != "" {
		msg += ": " + tail
	}
	return errorResult(code.Code_UNKNOWN, msg)
}

func errorResult(c code.Code, msg string) *lropb.OperationResult {
	return &lropb.OperationResult{Result: &lropb.OperationResult_Error{Error: &spb.Status{
		Code: int32(c), Message: msg,
	}}}
}

// errnoText is the system's reason in err, such as "permission denied".
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return "unknown error"
}

// readMetadata reads j's file descriptor 3: each line a JSON object that
// replaces the metadata to send.
func (w *worker) readMetadata(j *job, r io.Reader, log *slog.Logger) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	tooLong := false
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > workMetadataLineMax+1 {
				tooLong, line = true, line[:0]
			} else {
				line = append(line, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			log.Warn("ignored a metadata line longer than the limit", "limit", workMetadataLineMax)
		} else if l := bytes.TrimSpace(line); len(l) > 0 {
			v := &structpb.Value{}
			if perr := protojson.Unmarshal(l, v); perr != nil || v.GetStructValue() == nil {
				log.Warn("ignored a metadata line that is not a JSON object", "line", truncate(l, 80))
			} else {
				w.mu.Lock()
				j.meta, j.last = v, v
				w.metaDue = true
				w.mu.Unlock()
				kick(w.renewKick)
			}
		}
		line, tooLong = line[:0], false
		if err != nil {
			return
		}
	}
}

// truncate returns b as a string of at most n bytes and valid UTF-8.
func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// renewLoop renews the leases of all jobs in one call at the shortest
// heartbeat interval among them, or workMetadataInterval after the last
// renewal when there is metadata to send, until stop is closed.
func (w *worker) renewLoop(ctx context.Context, stop <-chan struct{}) {
	last := time.Now()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		w.mu.Lock()
		interval := time.Duration(0)
		for _, j := range w.jobs {
			if interval == 0 || j.interval < interval {
				interval = j.interval
			}
		}
		if w.metaDue && interval > workMetadataInterval {
			interval = workMetadataInterval
		}
		w.mu.Unlock()
		if interval == 0 {
			select {
			case <-w.renewKick:
				last = time.Now()
				continue
			case <-stop:
				return
			}
		}
		t.Reset(time.Until(last.Add(interval)))
		select {
		case <-t.C:
			last = time.Now()
			w.renew(ctx)
		case <-w.renewKick:
			t.Stop()
		case <-stop:
			t.Stop()
			return
		}
	}
}

// renew renews every held lease, with the metadata not sent yet.
func (w *worker) renew(ctx context.Context) {
	now := time.Now()
	w.mu.Lock()
	w.metaDue = false
	var batch []*job
	var req []*lropb.LeaseRenewal
	for _, j := range w.jobs {
		if j.state == jobLost || j.state == jobReleased {
			continue
		}
		if now.After(j.expires) {
			// No renewal came through for a whole TTL: the lease is lost.
			w.loseLocked(j, "the lease expired: the server could not be reached")
			continue
		}
		r := &lropb.LeaseRenewal{Name: j.op.GetName(), LeaseToken: j.op.GetLeaseToken()}
		if j.meta != nil && j.state != jobEnded {
			r.MetadataValue = &lropb.LeaseRenewal_Metadata{Metadata: j.meta}
			j.meta = nil
		}
		batch = append(batch, j)
		req = append(req, r)
	}
	w.mu.Unlock()
	for len(req) > 0 {
		n := min(len(req), workBatchMax)
		w.renewBatch(ctx, now, batch[:n], req[:n])
		batch, req = batch[n:], req[n:]
	}
}

func (w *worker) renewBatch(ctx context.Context, sent time.Time, batch []*job, req []*lropb.LeaseRenewal) {
	cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	resp, err := w.client.RenewLeases(cctx, &lropb.RenewLeasesRequest{Worker: w.o.worker, Leases: req})
	cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && len(resp.GetLeases()) != len(req) {
		err = fmt.Errorf("the server answered %d leases for %d", len(resp.GetLeases()), len(req))
	}
	if err != nil {
		w.log.Warn("renewing leases failed", "error", errorText(err))
		for i, j := range batch { // send the metadata next time
			if md := req[i].GetMetadata(); md != nil && j.meta == nil {
				j.meta = md
			}
		}
		return
	}
	for i, st := range resp.GetLeases() {
		j := batch[i]
		switch st.GetState() {
		case lropb.LeaseState_HELD, lropb.LeaseState_CANCEL_REQUESTED:
			j.expires = sent.Add(j.ttl)
			if e := st.GetError(); e != nil {
				w.log.Warn("metadata refused", "operation", j.op.GetName(),
					"error", codeName(e.GetCode())+": "+e.GetMessage())
			}
			if st.GetState() == lropb.LeaseState_CANCEL_REQUESTED && j.state == jobRunning {
				w.log.Info("cancelling", "operation", j.op.GetName())
				j.state = jobCancelling
				close(j.stop)
			}
		case lropb.LeaseState_LOST:
			w.loseLocked(j, codeName(st.GetError().GetCode())+": "+st.GetError().GetMessage())
		}
	}
}

// loseLocked gives up j, whose lease is lost; w.mu is held.
func (w *worker) loseLocked(j *job, why string) {
	w.log.Warn("lease lost", "operation", j.op.GetName(), "reason", why)
	switch j.state {
	case jobRunning:
		close(j.stop)
	case jobEnded:
		delete(w.jobs, j.op.GetName())
	case jobLost, jobReleased, jobCancelling:
	}
	j.state = jobLost
}

// finishLoop sends the results of ended jobs, those that ended together in
// one call, until closing is set and none is left.
func (w *worker) finishLoop(ctx context.Context) {
	retry := time.Duration(0)
	for {
		w.mu.Lock()
		var batch []*job
		var results []*lropb.OperationResult
		rest := w.pending[:0]
		for _, j := range w.pending {
			switch {
			case j.state != jobEnded: // lost meanwhile
			case len(batch) < workBatchMax:
				batch = append(batch, j)
				results = append(results, j.result)
			default:
				rest = append(rest, j)
			}
		}
		clear(w.pending[len(rest):])
		w.pending = rest
		closing := w.closing
		w.mu.Unlock()
		if len(batch) == 0 {
			if closing {
				return
			}
			<-w.finKick
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		resp, err := w.client.FinishOperations(cctx, &lropb.FinishOperationsRequest{Worker: w.o.worker, Results: results})
		cancel()
		if err == nil && len(resp.GetResults()) != len(results) {
			err = fmt.Errorf("the server answered %d results for %d", len(resp.GetResults()), len(results))
		}
		w.mu.Lock()
		if err != nil {
			// Try again while the leases hold; the renewals keep them.
			w.pending = append(w.pending, batch...)
			w.mu.Unlock()
			retry = min(max(2*retry, 100*time.Millisecond), workRetryMax)
			w.log.Warn("finishing operations failed; retrying", "error", errorText(err), "in", retry)
			t := time.NewTimer(retry)
			<-t.C
			continue
		}
		retry = 0
		for i, st := range resp.GetResults() {
			j := batch[i]
			name := j.op.GetName()
			c := code.Code(st.GetCode())
			if c == code.Code_INVALID_ARGUMENT && !j.retried {
				// The server refused the result (a response that is not the
				// kind's, too big): the operation fails with why.
				w.log.Warn("result refused", "operation", name, "error", st.GetMessage())
				j.retried = true
				res := errorResult(code.Code_INTERNAL, "the server refused the worker's result: "+st.GetMessage())
				res.Name, res.LeaseToken = name, j.op.GetLeaseToken()
				j.result = res
				w.pending = append(w.pending, j)
				continue
			}
			if c == code.Code_OK {
				if e := j.result.GetError(); e != nil {
					w.log.Info("failed", "operation", name, "error", codeName(e.GetCode())+": "+e.GetMessage())
				} else {
					w.log.Info("succeeded", "operation", name)
				}
			} else {
				w.log.Warn("the result was not written", "operation", name, "error", codeName(int32(c))+": "+st.GetMessage())
			}
			delete(w.jobs, name)
		}
		w.mu.Unlock()
	}
}

// releaseAll gives back the leases of the commands still running, at once,
// and stops the commands.
func (w *worker) releaseAll(ctx context.Context) {
	w.mu.Lock()
	var leases []*lropb.Lease
	for name, j := range w.jobs {
		switch j.state {
		case jobRunning, jobCancelling:
			if j.state == jobRunning {
				close(j.stop)
			}
			j.state = jobReleased
			leases = append(leases, &lropb.Lease{Name: name, LeaseToken: j.op.GetLeaseToken()})
		}
	}
	w.mu.Unlock()
	for len(leases) > 0 {
		n := min(len(leases), workBatchMax)
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		resp, err := w.client.ReleaseOperations(cctx, &lropb.ReleaseOperationsRequest{Worker: w.o.worker, Leases: leases[:n]})
		cancel()
		if err != nil {
			w.log.Warn("releasing operations failed: they run again when their leases expire", "error", errorText(err))
		} else {
			for i, st := range resp.GetResults() {
				if st.GetCode() != 0 && i < n {
					w.log.Warn("not released", "operation", leases[i].GetName(),
						"error", codeName(st.GetCode())+": "+st.GetMessage())
				}
			}
			w.log.Info("released", "operations", n)
		}
		leases = leases[n:]
	}
}

// headBuffer keeps the first max bytes written to it and counts the rest.
type headBuffer struct {
	buf   []byte
	max   int
	total int64
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.total += int64(len(p))
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
	cut bool // bytes were dropped from the front
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		b.cut = true
		return len(p), nil
	}
	if drop := len(b.buf) + len(p) - b.max; drop > 0 {
		b.buf = b.buf[:copy(b.buf, b.buf[drop:])]
		b.cut = true
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// text is the tail as trimmed, valid UTF-8, starting with "…" when cut.
func (b *tailBuffer) text() string {
	s := b.buf
	if b.cut {
		// Start at a rune boundary.
		for len(s) > 0 && !utf8.RuneStart(s[0]) {
			s = s[1:]
		}
	}
	t := strings.TrimSpace(strings.ToValidUTF8(string(s), "\uFFFD"))
	if b.cut && t != "" {
		t = "…" + t
	}
	return t
}
