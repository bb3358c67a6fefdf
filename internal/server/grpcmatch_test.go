package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"lro.dev/lro"
)

func TestIsGRPCContentType(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]bool{
		"application/grpc":               true,
		"application/grpc+proto":         true,
		"application/grpc+json":          true,
		"application/grpc;charset=utf-8": true,
		"Application/GRPC+proto":         true,
		"application/grpc-web":           false,
		"application/grpc-web+proto":     false,
		"application/grpcx":              false,
		"application/json":               false,
		"application/grp":                false,
		"":                               false,
	} {
		if got := isGRPCContentType(ct); got != want {
			t.Errorf("isGRPCContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}

// TestAckDropConn: the first SETTINGS acknowledgement after HTTP/2's
// preface is removed, whatever the reads' sizes; HTTP/1 passes unchanged.
func TestAckDropConn(t *testing.T) {
	t.Parallel()
	frame := func(typ http2.FrameType, flags http2.Flags, payload string) string {
		n := len(payload)
		return string([]byte{byte(n >> 16), byte(n >> 8), byte(n), byte(typ), byte(flags), 0, 0, 0, 1}) + payload
	}
	settings := frame(http2.FrameSettings, 0, "\x00\x03\x00\x00\x00\x64")
	ack := frame(http2.FrameSettings, http2.FlagSettingsAck, "")
	headers := frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, "hpack")
	data := frame(http2.FrameData, 0, ack) // a payload that looks like an ACK
	for _, c := range []struct{ name, in, want string }{
		{"h2", http2.ClientPreface + settings + headers + data + ack + ack + headers, http2.ClientPreface + settings + headers + data + ack + headers},
		{"h2 ack first", http2.ClientPreface + ack + settings, http2.ClientPreface + settings},
		{"http1", "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + ack, "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + ack},
		{"PRI but not h2", "PRI * HTTP/1.1\r\n" + ack, "PRI * HTTP/1.1\r\n" + ack},
	} {
		for _, chunk := range []int{1, 2, 5, 9, 10, 1 << 20} {
			client, server := net.Pipe()
			go func() {
				defer client.Close()
				for in := c.in; in != ""; {
					n := min(chunk, len(in))
					if _, err := client.Write([]byte(in[:n])); err != nil {
						return
					}
					in = in[n:]
				}
			}()
			got, err := io.ReadAll(&ackDropConn{Conn: server})
			require.NoError(t, err)
			require.Equal(t, c.want, string(got), "%s in chunks of %d", c.name, chunk)
			server.Close()
		}
	}
}

// TestH2CWithoutTLS: HTTP/2 with prior knowledge, without TLS and without
// gRPC, reaches net/http (as curl --http2-prior-knowledge speaks it).
func TestH2CWithoutTLS(t *testing.T) {
	t.Parallel()
	srv, err := New(t.Context(), Config{Addr: "127.0.0.1:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "lro.db"),
		Client: lro.Config{Workers: -1, ShutdownGrace: 100 * time.Millisecond}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
	}()
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	defer tr.CloseIdleConnections()
	for range 10 { // on one connection, which a stray acknowledgement would end
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+srv.Addr().String()+"/healthz", nil)
		require.NoError(t, err)
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		require.Equal(t, 2, resp.ProtoMajor)
		require.Contains(t, string(body), "SERVING")
	}
}

// TestAckDropConnTimeout: a read that times out does not end the conn, as
// net/http expects when it aborts a background read with a deadline.
func TestAckDropConnTimeout(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	c := &ackDropConn{Conn: server}
	require.NoError(t, server.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err := c.Read(make([]byte, 10))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.NoError(t, server.SetReadDeadline(time.Time{}))
	go client.Write([]byte("GET / HTTP/1.1\r\n"))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "GET / HTTP/1.1\r\n", string(buf[:n]))
}
