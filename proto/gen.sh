#!/usr/bin/env bash
# Regenerates the Go code of the project's own protos into lropb/.
# Needs protoc (Debian: apt-get install protobuf-compiler); the Go plugins are
# run with `go tool` at the versions go.mod's tool directive pins. Google's
# imported protos come from the Go packages through a descriptor set, so
# nothing of googleapis is copied.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./internal/tools/protodeps "$tmp/deps.pb"
# protoc runs a plugin as one executable; each of these runs the pinned tool.
mkdir "$tmp/bin"
for plugin in protoc-gen-go protoc-gen-go-grpc; do
  printf '#!/bin/sh\nexec go tool %s "$@"\n' "$plugin" >"$tmp/bin/$plugin"
  chmod +x "$tmp/bin/$plugin"
done
protoc \
  --plugin=protoc-gen-go="$tmp/bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$tmp/bin/protoc-gen-go-grpc" \
  --descriptor_set_in="$tmp/deps.pb" \
  -I proto \
  --go_out=. --go_opt=module=lro.dev/lro \
  --go-grpc_out=. --go-grpc_opt=module=lro.dev/lro \
  $(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
