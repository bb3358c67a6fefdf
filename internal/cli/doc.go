// Package cli implements the lro command: one binary whose subcommands
// start and follow long-running operations on an lro server over gRPC
// (start, get, list, wait, cancel, delete, kinds) and run the server itself
// (serve).
//
// The client commands talk to the lro.v1.Lro service and the standard
// google.longrunning.Operations service at --addr (default $LRO_ADDR, else
// 127.0.0.1:8080) without transport security. They print a human form by
// default and protobuf JSON with -o json.
//
// Main runs the command line and returns the process exit code:
//
//	0  success
//	1  a failed RPC or other runtime error ("lro: CODE_NAME: message" on
//	   stderr), or, for wait, an operation that ended with an error
//	2  a usage error: unknown command or flag, wrong arguments, a bad flag
//	   value such as an --input that is not a JSON object
//	3  wait --timeout passed before the operation was done
package cli
