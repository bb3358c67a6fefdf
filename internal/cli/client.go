package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"lro.dev/lro/lropb"
)

const (
	// addrEnv names the environment variable with the default --addr.
	addrEnv = "LRO_ADDR"
	// defaultAddr is the --addr when neither the flag nor $LRO_ADDR is set.
	defaultAddr = "127.0.0.1:8080"
	// tokenEnv, tlsCAEnv, tlsCertEnv and tlsKeyEnv name the environment
	// variables with the defaults of --token, --tls-ca, --tls-cert and
	// --tls-key.
	tokenEnv   = "LRO_TOKEN"
	tlsCAEnv   = "LRO_TLS_CA"
	tlsCertEnv = "LRO_TLS_CERT"
	tlsKeyEnv  = "LRO_TLS_KEY"
	// rpcTimeout is the deadline of each RPC but those of wait.
	rpcTimeout = 30 * time.Second
)

// Output formats of -o.
const (
	outputText = "text"
	outputJSON = "json"
)

// clientOptions are the flags that every client command takes.
type clientOptions struct {
	addr   string // --addr; empty means $LRO_ADDR, else defaultAddr
	output string // -o: outputText or outputJSON

	tls           bool   // --tls: TLS with the system's roots (implied by the tls* files)
	tlsCA         string // --tls-ca: the CAs to trust instead of the system's
	tlsCert       string // --tls-cert and --tls-key: a client certificate
	tlsKey        string
	tlsServerName string // --tls-server-name: the name to verify instead of addr's host
	token         string // --token: a bearer token sent with every call
}

func (o *clientOptions) addFlags(fs *pflag.FlagSet) {
	o.addConnFlags(fs)
	fs.StringVarP(&o.output, "output", "o", outputText, "the `FORMAT` of the output: text or json")
}

// addConnFlags adds the flags of the connection: the address, TLS and the
// token.
func (o *clientOptions) addConnFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.addr, "addr", "",
		"the server to call, `HOST:PORT` (default $"+addrEnv+", else "+defaultAddr+")")
	fs.BoolVar(&o.tls, "tls", false, "connect with TLS, trusting the system's CAs (implied by --tls-ca, --tls-cert)")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "connect with TLS, trusting the CAs in `FILE` (PEM) (default $"+tlsCAEnv+")")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "connect with TLS, with the client certificate in `FILE` (PEM), for mTLS; needs --tls-key (default $"+tlsCertEnv+")")
	fs.StringVar(&o.tlsKey, "tls-key", "", "the private key `FILE` (PEM) of --tls-cert (default $"+tlsKeyEnv+")")
	fs.StringVar(&o.tlsServerName, "tls-server-name", "", "the `NAME` that the server's certificate must have (default the --addr host)")
	fs.StringVar(&o.token, "token", "", "send `TOKEN` as a bearer token with every call (default $"+tokenEnv+"); needs TLS unless --addr is loopback")
}

// complete fills in the defaults that depend on the environment.
func (o *clientOptions) complete() {
	if o.addr == "" {
		o.addr = os.Getenv(addrEnv)
	}
	if o.addr == "" {
		o.addr = defaultAddr
	}
	for _, v := range []struct {
		value *string
		env   string
	}{{&o.token, tokenEnv}, {&o.tlsCA, tlsCAEnv}, {&o.tlsCert, tlsCertEnv}, {&o.tlsKey, tlsKeyEnv}} {
		if *v.value == "" {
			*v.value = os.Getenv(v.env)
		}
	}
	o.token = strings.TrimSpace(o.token) // a file's trailing newline is not the token's
}

// Validate checks the flags.
func (o *clientOptions) Validate() error {
	switch o.output {
	case outputText, outputJSON:
	default:
		return usageErrorf("invalid -o/--output %q: want text or json", o.output)
	}
	if o.addr == "" {
		return usageErrorf("empty --addr")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageErrorf("--tls-cert and --tls-key go together: the client certificate and its key")
	}
	if o.tlsServerName != "" && !o.useTLS() {
		return usageErrorf("--tls-server-name needs TLS: give --tls or --tls-ca")
	}
	if strings.ContainsAny(o.token, " \t\r\n") {
		// Not echoed: it is a secret.
		return usageErrorf("invalid --token: a bearer token has no spaces or line breaks")
	}
	if o.token != "" && !o.useTLS() && !loopbackAddr(o.addr) {
		return usageErrorf("refusing to send --token in the clear to %s, which is not a loopback address: give --tls, or --tls-ca FILE", o.addr)
	}
	return nil
}

// useTLS reports whether the flags ask for TLS.
func (o *clientOptions) useTLS() bool {
	return o.tls || o.tlsCA != "" || o.tlsCert != ""
}

// loopbackAddr reports whether addr, HOST:PORT (or a gRPC target
// dns:///HOST:PORT), is on this machine: localhost or a loopback IP.
func loopbackAddr(addr string) bool {
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "dns:"), "///")
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// transportCredentials returns the credentials of the flags: TLS with
// their files, or none.
func (o *clientOptions) transportCredentials() (credentials.TransportCredentials, error) {
	if !o.useTLS() {
		return insecure.NewCredentials(), nil
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.tlsServerName}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in the file", o.tlsCA)
		}
	}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		config.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(config), nil
}

// bearerToken sends a token in the authorization header of every call;
// with secure set, grpc-go refuses to send it on a connection without
// transport security.
type bearerToken struct {
	token  string
	secure bool
}

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearerToken) RequireTransportSecurity() bool { return b.secure }

func (o *clientOptions) json() bool { return o.output == outputJSON }

// clients are the connection to the server and its services.
type clients struct {
	conn *grpc.ClientConn
	ops  longrunningpb.OperationsClient
	lro  lropb.LroClient
}

// dial connects to the server lazily: a server that cannot be reached makes
// the first RPC fail with UNAVAILABLE.
func (o *clientOptions) dial() (*clients, error) {
	creds, err := o.transportCredentials()
	if err != nil {
		return nil, err
	}
	options := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if o.token != "" {
		// Validate has refused a token in the clear beyond loopback; this
		// makes sure of it.
		options = append(options, grpc.WithPerRPCCredentials(bearerToken{token: o.token, secure: !loopbackAddr(o.addr)}))
	}
	conn, err := grpc.NewClient(o.addr, options...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", o.addr, err)
	}
	return &clients{
		conn: conn,
		ops:  longrunningpb.NewOperationsClient(conn),
		lro:  lropb.NewLroClient(conn),
	}, nil
}

func (c *clients) Close() error { return c.conn.Close() }
