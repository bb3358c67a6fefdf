// Command lro starts and follows long-running operations on an lro server,
// and runs the server. Run "lro help" for its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"lro.dev/lro/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
