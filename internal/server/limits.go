package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"lro.dev/lro"
	"lro.dev/lro/lrogrpc"
	"lro.dev/lro/lropb"
)

// Defaults of the limits in Config.
const (
	// MaxConnectionsDefault is the default Config.MaxConnections.
	MaxConnectionsDefault = 10000
	// MaxWaitsDefault is the default Config.MaxWaits.
	MaxWaitsDefault = 2500
	// fileReserve is how many of the process's files are kept for other
	// uses than connections: the store's, the log's, the listener.
	fileReserve = 128
)

// HTTPTimeouts bound what an HTTP connection may hold; zero fields take the
// defaults.
type HTTPTimeouts struct {
	// ReadHeader bounds the reading of a request's headers, and of the
	// first bytes of any connection (which tell gRPC from HTTP). Default
	// 10s.
	ReadHeader time.Duration
	// Read bounds the reading of a whole request, its body included.
	// Default 30s.
	Read time.Duration
	// Write bounds the time from the end of a request's headers to the
	// end of its response; a wait (POST …:wait) gets the client's WaitMax
	// more. Default 1m.
	Write time.Duration
	// Idle bounds how long a kept-alive connection waits for its next
	// request. Default 1m.
	Idle time.Duration
}

func (t HTTPTimeouts) withDefaults() HTTPTimeouts {
	return HTTPTimeouts{
		ReadHeader: cmp.Or(t.ReadHeader, 10*time.Second),
		Read:       cmp.Or(t.Read, 30*time.Second),
		Write:      cmp.Or(t.Write, time.Minute),
		Idle:       cmp.Or(t.Idle, time.Minute),
	}
}

// limits works out the caps of connections and waits: the configured
// ones, lowered so that connections leave the process files for its store
// (fileLimit is the process's limit of open files, 0 if unknown), and
// waits leave a quarter of the connections to other calls (each HTTP wait
// holds a connection; a Get or a health check must still find one).
func limits(logger *slog.Logger, maxConns, maxWaits int, fileLimit uint64) (int, int) {
	if maxConns <= 0 {
		maxConns = MaxConnectionsDefault
	}
	if maxWaits <= 0 {
		maxWaits = MaxWaitsDefault
	}
	if fileLimit > 0 {
		room := max(int(min(fileLimit, 1<<30))-fileReserve, 8)
		if maxConns > room {
			logger.Warn("fewer connections than configured: the process may open only so many files (raise ulimit -n)",
				slog.Int("max_connections", room), slog.Int("configured", maxConns), slog.Uint64("file_limit", fileLimit))
			maxConns = room
		}
	}
	if room := max(maxConns*3/4, 1); maxWaits > room {
		logger.Warn("fewer waits than configured: waits may take at most three quarters of the connections",
			slog.Int("max_waits", room), slog.Int("configured", maxWaits), slog.Int("max_connections", maxConns))
		maxWaits = room
	}
	return maxConns, maxWaits
}

// limitListener caps the connections open at once. A connection beyond
// the cap is closed as soon as it is accepted, rather than left to wait in
// the kernel's queue for ever; the log says so at most every 10 seconds.
type limitListener struct {
	net.Listener
	logger  *slog.Logger
	max     int64
	open    atomic.Int64
	refused atomic.Int64
	logged  atomic.Int64 // when a refusal was last logged, in Unix nanoseconds
}

func newLimitListener(l net.Listener, maxConns int, logger *slog.Logger) *limitListener {
	return &limitListener{Listener: l, logger: logger, max: int64(maxConns)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			// Out of files for now: wait as net/http does, rather than
			// spin (cmux tries again at once).
			if backoff == 0 {
				l.logger.Warn("no file for a new connection: the process has as many open as it may", slog.Any("error", err))
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		if err != nil {
			return nil, err
		}
		backoff = 0
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		c.Close()
		l.refused.Add(1)
		now := time.Now().UnixNano()
		if last := l.logged.Load(); now-last >= int64(10*time.Second) && l.logged.CompareAndSwap(last, now) {
			l.logger.Warn("connections refused: the server holds as many as it may (--max-connections)",
				slog.Int64("refused", l.refused.Swap(0)), slog.Int64("max_connections", l.max))
		}
	}
}

// limitedConn gives its place back when closed.
type limitedConn struct {
	net.Conn
	l      *limitListener
	closed sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() { c.l.open.Add(-1) })
	return err
}

// limitedOperations is lrogrpc's Operations and Workers services with a
// cap on the long polls under way at once (WaitOperation and
// ClaimOperations calls together), gRPC and HTTP alike (HTTP calls reach
// the gRPC server in-process). Its other methods are lrogrpc's own, at no
// cost (an interceptor would cost every call).
type limitedOperations struct {
	*lrogrpc.Server
	maxWaits int64
	waits    atomic.Int64
}

// WaitOperation refuses a call beyond the cap with RESOURCE_EXHAUSTED
// (HTTP 429), reason TOO_MANY_WAITS.
func (o *limitedOperations) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	defer o.waits.Add(-1)
	if o.waits.Add(1) > o.maxWaits {
		st, _ := status.New(codes.ResourceExhausted,
			fmt.Sprintf("too many WaitOperation calls at once (at most %d): retry later, or poll with GetOperation", o.maxWaits)).
			WithDetails(&errdetails.ErrorInfo{Reason: "TOO_MANY_WAITS", Domain: lro.ErrorDomain})
		return nil, st.Err()
	}
	return o.Server.WaitOperation(ctx, req)
}

// ClaimOperations refuses a call beyond the cap of long polls as
// WaitOperation does, unless it does not wait.
func (o *limitedOperations) ClaimOperations(ctx context.Context, req *lropb.ClaimOperationsRequest) (*lropb.ClaimOperationsResponse, error) {
	if w := req.GetWait(); w != nil && w.AsDuration() <= 0 {
		return o.Server.ClaimOperations(ctx, req)
	}
	defer o.waits.Add(-1)
	if o.waits.Add(1) > o.maxWaits {
		st, _ := status.New(codes.ResourceExhausted,
			fmt.Sprintf("too many long polls at once (at most %d WaitOperation and ClaimOperations calls): retry later, or claim with wait 0s", o.maxWaits)).
			WithDetails(&errdetails.ErrorInfo{Reason: "TOO_MANY_WAITS", Domain: lro.ErrorDomain})
		return nil, st.Err()
	}
	return o.Server.ClaimOperations(ctx, req)
}

// extendWaits lets the response of an HTTP wait or claim (a long poll) be
// written for the longest wait plus the write timeout, so that the write
// timeout does not cut it; and closes the connection of a long poll
// refused for the cap, so that a client refused does not keep a
// connection that others need.
func extendWaits(next http.Handler, waitMax, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, ":wait") && r.URL.Path != "/v1/workers:claim" {
			next.ServeHTTP(w, r)
			return
		}
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(waitMax + write))
		next.ServeHTTP(&waitResponse{ResponseWriter: w}, r)
	})
}

// waitResponse asks to close the connection after a 429.
type waitResponse struct {
	http.ResponseWriter
}

func (w *waitResponse) WriteHeader(status int) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Connection", "close")
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *waitResponse) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *waitResponse) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }
