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
	go func() {
		// The first signal starts a graceful shutdown; a second one kills
		// the process at once, as it would without the handler.
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
