//go:build tools

// Package tools pins the versions of the code generators that proto/gen.sh runs.
package tools

import (
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
