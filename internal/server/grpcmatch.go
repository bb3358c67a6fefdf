package server

import (
	"io"
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
// a request.
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
	done := false
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
			if !f.IsAck() {
				if err := framer.WriteSettings(); err != nil {
					return "", false
				}
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
