package lrogrpc_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"lro.dev/lro/lrogrpc"
)

// frameCounter is a listener whose connections count the HTTP/2 frames the
// server writes, by type: a framer reads a copy of every connection's
// writes. The copy is read before the bytes go out, so every frame the client
// has received is counted; only frames written as the connection closes may
// be cut off.
type frameCounter struct {
	net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	pings  int // PING frames that are not acknowledgements
	errs   []error
	counts map[http2.FrameType]int
}

func (l *frameCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	r, w := io.Pipe()
	l.wg.Go(func() {
		fr := http2.NewFramer(nil, r)
		fr.SetMaxReadFrameSize(1 << 24)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				// ErrUnexpectedEOF: a frame cut off by the close, written
				// after the client's last call returned.
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.ErrClosedPipe) {
					l.mu.Lock()
					l.errs = append(l.errs, err)
					l.mu.Unlock()
				}
				r.Close()
				return
			}
			l.mu.Lock()
			l.counts[f.Header().Type]++
			if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
				l.pings++
			}
			l.mu.Unlock()
		}
	})
	return &teeConn{Conn: c, w: w}, nil
}

// teeConn copies what is written to it into w before it writes it to the
// connection, and closes w when it closes.
type teeConn struct {
	net.Conn
	w    *io.PipeWriter
	once sync.Once
}

func (c *teeConn) Write(b []byte) (int, error) {
	// Into the framer first: a close that races the server's writes can then
	// lose only bytes that the client has not received either.
	c.w.Write(b)
	return c.Conn.Write(b)
}

func (c *teeConn) Close() error {
	c.once.Do(func() { c.w.Close() })
	return c.Conn.Close()
}

// serverPings serves health checks with opts, makes calls one at a time
// over one connection, each with a request of about size bytes, and returns how
// many pings the server sent (its acknowledgements of the client's pings
// apart).
func serverPings(t *testing.T, calls, size int, opts ...grpc.ServerOption) int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	counter := &frameCounter{Listener: lis, counts: map[http2.FrameType]int{}}
	s := grpc.NewServer(opts...)
	service := strings.Repeat("s", size)
	checks := health.NewServer()
	checks.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, checks)
	served := make(chan error, 1)
	go func() { served <- s.Serve(counter) }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	client := healthpb.NewHealthClient(conn)
	req := &healthpb.HealthCheckRequest{Service: service}
	for range calls {
		resp, err := client.Check(t.Context(), req)
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	}
	require.NoError(t, conn.Close())
	s.Stop()
	require.NoError(t, <-served)
	counter.wg.Wait()
	require.Empty(t, counter.errs, "the server's frames")
	require.GreaterOrEqual(t, counter.counts[http2.FrameData], calls, "a DATA frame a call at least")
	return counter.pings
}

func TestServerOptionsSendNoFlowControlPings(t *testing.T) {
	const calls = 50
	t.Run("Default", func(t *testing.T) {
		// What the options avoid: gRPC's dynamic flow control pings for
		// every call (50 of 50 here), as long as no ping is out when its
		// data arrives.
		require.Greater(t, serverPings(t, calls, 10), calls/2)
	})
	t.Run("ServerOptions", func(t *testing.T) {
		require.Zero(t, serverPings(t, calls, 10, lrogrpc.ServerOptions()...))
	})
	t.Run("ServerOptionsLargeMessages", func(t *testing.T) {
		// Messages of 3 MiB, far over gRPC's first window of 64 KiB.
		require.Zero(t, serverPings(t, 5, 3<<20, lrogrpc.ServerOptions()...))
	})
}
