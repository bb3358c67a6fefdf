package server

import (
	"io"
	"net"
	"strings"

	"github.com/soheilhy/cmux"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// matchGRPC matches an HTTP/2 connection whose first request is gRPC: its
// content-type is application/grpc, alone or with a subtype or parameters
// (application/grpc+proto, application/grpc+json, application/grpc;…), as
// the gRPC spec allows and grpc-go's server accepts; grpc-go's clients send
// a subtype with grpc.CallContentSubtype or grpc.ForceCodec. gRPC-Web
// (application/grpc-web) is not gRPC and goes to HTTP.
//
// Like cmux.HTTP2MatchHeaderFieldSendSettings, it answers the client's
// SETTINGS, since grpc-go's clients wait for the server's before they send
// a request. It answers once: the HTTP/2 connections it does not match reach
// net/http through dropMatcherAck, which hides the client's acknowledgement
// of that SETTINGS.
func matchGRPC() cmux.MatchWriter {
	return func(w io.Writer, r io.Reader) bool {
		ct, ok := firstHeader(w, r, "content-type")
		return ok && isGRPCContentType(ct)
	}
}

// isGRPCContentType reports whether ct is application/grpc with an optional
// "+subtype" or ";parameters", case-insensitively.
func isGRPCContentType(ct string) bool {
	const base = "application/grpc"
	if len(ct) < len(base) || !strings.EqualFold(ct[:len(base)], base) {
		return false
	}
	return len(ct) == len(base) || ct[len(base)] == '+' || ct[len(base)] == ';'
}

// firstHeader reads the HTTP/2 client preface and frames up to the end of
// the first header block, and returns the value of the header name in it.
func firstHeader(w io.Writer, r io.Reader, name string) (value string, found bool) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(r, preface); err != nil || string(preface) != http2.ClientPreface {
		return "", false
	}
	done, answered := false, false
	framer := http2.NewFramer(w, r)
	decoder := hpack.NewDecoder(4<<10, func(f hpack.HeaderField) {
		if f.Name == name && !found {
			value, found = f.Value, true
		}
	})
	for !done {
		f, err := framer.ReadFrame()
		if err != nil {
			return "", false
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && !answered {
				if err := framer.WriteSettings(); err != nil {
					return "", false
				}
				answered = true
			}
		case *http2.HeadersFrame:
			if _, err := decoder.Write(f.HeaderBlockFragment()); err != nil {
				return "", false
			}
			done = f.HeadersEnded()
		case *http2.ContinuationFrame:
			if _, err := decoder.Write(f.HeaderBlockFragment()); err != nil {
				return "", false
			}
			done = f.HeadersEnded()
		}
	}
	return value, found
}

// dropMatcherAck wraps the listener of the connections that matchGRPC did
// not match. On an HTTP/2 connection, matchGRPC has sent a SETTINGS frame
// of its own, which the client acknowledges besides the SETTINGS of
// net/http's HTTP/2 server; that server counts the acknowledgements it
// gets, and closes the connection (PROTOCOL_ERROR) on one it did not ask
// for. So the client's first SETTINGS acknowledgement, which answers
// matchGRPC's, is removed from what net/http reads. Connections that do not
// begin with HTTP/2's preface (HTTP/1) are read unchanged.
func dropMatcherAck(l net.Listener) net.Listener { return ackDropListener{l} }

type ackDropListener struct{ net.Listener }

func (l ackDropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &ackDropConn{Conn: c}, nil
}

// ackDropConn reads the frames of an HTTP/2 connection up to the first
// SETTINGS acknowledgement, which it drops; then it reads straight from
// Conn.
type ackDropConn struct {
	net.Conn
	done     bool    // the acknowledgement is dropped, or this is not HTTP/2
	preface  int     // bytes of the client preface seen
	header   [9]byte // the frame header being read
	headerN  int
	payload  int    // bytes of the current frame's payload still to pass
	in, out  []byte // read from Conn; processed, not yet returned
	deferred error  // Conn's error, returned (once) when out is empty
}

// NetConn returns the connection under c, for tlsconn.Unwrap.
func (c *ackDropConn) NetConn() net.Conn { return c.Conn }

func (c *ackDropConn) Read(p []byte) (int, error) {
	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if err := c.deferred; err != nil {
			c.deferred = nil // once: a timeout is not the end of the conn
			return 0, err
		}
		if c.done {
			return c.Conn.Read(p)
		}
		if c.in == nil {
			c.in = make([]byte, 16<<10)
		}
		n, err := c.Conn.Read(c.in)
		c.out = c.feed(c.in[:n], c.out[:0])
		c.deferred = err
	}
}

// feed appends to out the bytes of in that pass, and returns it. A frame
// header is held back until it is whole.
func (c *ackDropConn) feed(in, out []byte) []byte {
	for len(in) > 0 {
		switch {
		case c.done:
			return append(out, in...)
		case c.preface < len(http2.ClientPreface):
			if in[0] != http2.ClientPreface[c.preface] {
				c.done = true // not HTTP/2: nothing to drop
				continue
			}
			out = append(out, in[0])
			c.preface++
			in = in[1:]
		case c.payload > 0:
			n := min(c.payload, len(in))
			out = append(out, in[:n]...)
			c.payload -= n
			in = in[n:]
		default:
			n := copy(c.header[c.headerN:], in)
			c.headerN += n
			in = in[n:]
			if c.headerN < len(c.header) {
				continue
			}
			c.headerN = 0
			length := int(c.header[0])<<16 | int(c.header[1])<<8 | int(c.header[2])
			if http2.FrameType(c.header[3]) == http2.FrameSettings && http2.Flags(c.header[4]).Has(http2.FlagSettingsAck) && length == 0 {
				c.done = true
				continue
			}
			out = append(out, c.header[:]...)
			c.payload = length
		}
	}
	return out
}
