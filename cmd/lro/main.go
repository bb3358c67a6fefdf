// Command lro starts and follows long-running operations on an lro server,
// and runs the server. Run "lro help" for its commands.
package main

import (
	"os"

	"lro.dev/lro/internal/cli"
)

func main() {
	os.Exit(cli.MainProcess(os.Args[1:]))
}
