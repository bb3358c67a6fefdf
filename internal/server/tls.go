package server

// TLS on the one port: the listener does the handshake (ALPN h2 or
// http/1.1) before cmux reads the first bytes, so that gRPC and HTTPS share
// the port as gRPC and HTTP do without TLS. grpc-go keeps its own transport
// (its speed): its transport credentials take the conn whose handshake is
// done and report the TLS state as the peer's AuthInfo. net/http gets conns
// that are not *tls.Conn, so it serves HTTP/2 on them as unencrypted HTTP/2
// and learns their TLS state from package tlsconn.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"

	"lro.dev/lro/internal/tlsconn"
)

const (
	// tlsCheckInterval is how often, at most, the TLS files are checked
	// for changes: by the handshakes, not by a goroutine of their own.
	tlsCheckInterval = time.Second
	// handshakeTimeout bounds a TLS handshake that gRPC's transport
	// credentials finish (cmux has almost always finished it already).
	handshakeTimeout = 10 * time.Second
)

// Names of the flags of lro serve, for the messages of New, which the
// operator reads.
const (
	flagsCert      = "--tls-cert/--tls-key"
	flagClientCA   = "--tls-client-ca"
	flagsAuth      = "--auth-tokens, --auth-jwks or --tls-client-ca"
	flagInsecure   = "--insecure"
	flagsTLSNeeded = "--tls-cert and --tls-key"
)

// fileStamp tells whether a file changed: its modification time and size.
type fileStamp struct {
	modTime time.Time
	size    int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// tlsFiles is the server's TLS, read from the files of a TLSConfig and read
// again when they change: GetConfigForClient checks their stamps at most
// every tlsCheckInterval. A change that does not load is logged and the
// last good files keep serving.
type tlsFiles struct {
	files  TLSConfig
	logger *slog.Logger

	mu      sync.Mutex
	checked time.Time    // when the stamps were last checked
	stamps  [3]fileStamp // of CertFile, KeyFile, ClientCAFile at the last load attempt
	config  *tls.Config  // of the last good files
}

// newTLSFiles loads the files of c; an error names the flag of the file
// that does not load.
func newTLSFiles(c TLSConfig, logger *slog.Logger) (*tlsFiles, error) {
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, fmt.Errorf("TLS needs a certificate and its key: give both %s", flagsTLSNeeded)
	}
	f := &tlsFiles{files: c, logger: logger}
	stamps, config, err := f.load()
	if err != nil {
		return nil, err
	}
	f.stamps, f.config, f.checked = stamps, config, time.Now()
	return f, nil
}

// load reads the files. The stamps are taken before the files are read, so
// that a change while they are read is seen at the next check.
func (f *tlsFiles) load() ([3]fileStamp, *tls.Config, error) {
	var stamps [3]fileStamp
	for i, path := range []string{f.files.CertFile, f.files.KeyFile, f.files.ClientCAFile} {
		if path == "" {
			continue
		}
		stamp, err := stampOf(path)
		if err != nil {
			flag := flagsCert
			if i == 2 {
				flag = flagClientCA
			}
			return stamps, nil, fmt.Errorf("%s: %w", flag, err)
		}
		stamps[i] = stamp
	}
	cert, err := tls.LoadX509KeyPair(f.files.CertFile, f.files.KeyFile)
	if err != nil {
		return stamps, nil, fmt.Errorf("%s: load the certificate and its key: %w", flagsCert, err)
	}
	config := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if f.files.ClientCAFile != "" {
		pem, err := os.ReadFile(f.files.ClientCAFile)
		if err != nil {
			return stamps, nil, fmt.Errorf("%s: %w", flagClientCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return stamps, nil, fmt.Errorf("%s: no PEM certificate in the file", flagClientCA)
		}
		config.ClientCAs = pool
		config.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return stamps, config, nil
}

// current returns the config of the last good files, having loaded them
// again if they changed since the last check, at most every
// tlsCheckInterval.
func (f *tlsFiles) current() *tls.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if now.Sub(f.checked) < tlsCheckInterval {
		return f.config
	}
	f.checked = now
	changed := false
	for i, path := range []string{f.files.CertFile, f.files.KeyFile, f.files.ClientCAFile} {
		if path == "" {
			continue
		}
		// A file that cannot be read now counts as changed: the load
		// below reports it (once, as its stamp is kept).
		stamp, err := stampOf(path)
		if err != nil || stamp != f.stamps[i] {
			changed = true
		}
	}
	if !changed {
		return f.config
	}
	stamps, config, err := f.load()
	if stamps == f.stamps {
		return f.config // unreadable as before: reported already
	}
	f.stamps = stamps
	if err != nil {
		f.logger.Error("the changed TLS files do not load; serving with the previous ones", slog.Any("error", err))
		return f.config
	}
	f.config = config
	f.logger.Info("loaded the changed TLS files")
	return f.config
}

// serverConfig is the listener's tls.Config: each handshake gets the
// config of the current files.
func (f *tlsFiles) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return f.current(), nil
		},
	}
}

// handshakenCredentials are grpc-go's transport credentials for conns on
// which the listener does TLS: ServerHandshake finishes the handshake if
// cmux has not (it has, having read the first request through it), and
// reports its state, so that peer.FromContext(ctx).AuthInfo is a
// credentials.TLSInfo with the client's certificates.
type handshakenCredentials struct{}

func (handshakenCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc := tlsconn.Unwrap(conn)
	if tc == nil {
		return nil, nil, errors.New("tls: the connection is not a TLS connection")
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, err
	}
	// conn, not tc: cmux's conn replays the bytes it read to match.
	return conn, credentials.TLSInfo{
		State:          tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}, nil
}

func (handshakenCredentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("tls: server-side credentials")
}

func (handshakenCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c handshakenCredentials) Clone() credentials.TransportCredentials { return c }

func (handshakenCredentials) OverrideServerName(string) error { return nil }

// isLoopback reports whether host, from an address HOST:PORT, is only
// reachable from this machine: localhost or a loopback IP. An empty host,
// 0.0.0.0 and :: listen on every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExposure refuses to listen beyond loopback without TLS and
// authentication, unless config.Insecure: anyone who reached the server
// could start, cancel and delete operations, and claim work.
func checkExposure(config Config, logger *slog.Logger) error {
	host, _, err := net.SplitHostPort(config.Addr)
	if err != nil {
		return fmt.Errorf("addr %q: want HOST:PORT: %w", config.Addr, err)
	}
	if isLoopback(host) {
		return nil
	}
	var missing []string
	if config.TLS == nil {
		missing = append(missing, "TLS ("+flagsTLSNeeded+")")
	}
	if config.Authenticator == nil && (config.TLS == nil || config.TLS.ClientCAFile == "") {
		missing = append(missing, "authentication ("+flagsAuth+")")
	}
	if len(missing) == 0 {
		return nil
	}
	where := host
	if where == "" {
		where = "every interface"
	}
	if config.Insecure {
		// Said at every start, so that an insecure server is never
		// mistaken for a secure one.
		logger.Warn("serving beyond loopback without "+strings.Join(missing, " and ")+", as "+flagInsecure+" allows: anyone who reaches it may run, cancel and delete operations",
			slog.String("addr", where))
		return nil
	}
	return fmt.Errorf("refusing to serve on %s, beyond loopback, without %s: anyone who reaches it could run, cancel and delete operations; "+
		"give them, or %s if the network is trusted", where, strings.Join(missing, " and "), flagInsecure)
}
