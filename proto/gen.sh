#!/usr/bin/env bash
# Regenerates the Go code of the project's own protos into lropb/.
# Needs protoc (Debian: apt-get install protobuf-compiler); the Go plugins are
# run at the versions go.mod pins. Google's imported protos come from the Go
# packages through a descriptor set, so nothing of googleapis is copied.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./internal/tools/protodeps "$tmp/deps.pb"
GOBIN="$tmp/bin" go install google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
PATH="$tmp/bin:$PATH" protoc \
  --descriptor_set_in="$tmp/deps.pb" \
  -I proto \
  --go_out=. --go_opt=module=lro.dev/lro \
  --go-grpc_out=. --go-grpc_opt=module=lro.dev/lro \
  $(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
