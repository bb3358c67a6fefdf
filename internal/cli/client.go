package cli

import (
	"fmt"
	"os"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"lro.dev/lro/lropb"
)

const (
	// addrEnv names the environment variable with the default --addr.
	addrEnv = "LRO_ADDR"
	// defaultAddr is the --addr when neither the flag nor $LRO_ADDR is set.
	defaultAddr = "127.0.0.1:8080"
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
}

func (o *clientOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.addr, "addr", "",
		"the server to call, `HOST:PORT` (default $"+addrEnv+", else "+defaultAddr+")")
	fs.StringVarP(&o.output, "output", "o", outputText, "the `FORMAT` of the output: text or json")
}

// complete fills in the defaults that depend on the environment.
func (o *clientOptions) complete() {
	if o.addr == "" {
		o.addr = os.Getenv(addrEnv)
	}
	if o.addr == "" {
		o.addr = defaultAddr
	}
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
	return nil
}

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
	conn, err := grpc.NewClient(o.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
