#!/bin/sh
# A worker for `lro work example.checksum -- examples/shell/checksum.sh`
# (see examples/kinds.yaml). lro work runs it once per operation:
#   standard input   the request, as JSON
#   $LRO_OPERATION   the operation's name; $LRO_KIND, $LRO_ATTEMPT
#   file descriptor 3  each JSON line written there becomes the metadata
#   exit 0           success: standard output, as JSON, is the response
#   exit non-zero    failure: standard output may be a google.rpc.Status
set -eu
input=$(cat)
printf '{"stage": "hashing", "bytes": %d}\n' "${#input}" >&3
case $input in
*'"fail"'*)
	# 9 is FAILED_PRECONDITION.
	printf '{"code": 9, "message": "asked to fail"}\n'
	exit 1
	;;
esac
sleep "${CHECKSUM_DELAY:-0}"
sum=$(printf '%s' "$input" | sha256sum | cut -d' ' -f1)
printf '{"sha256": "%s", "attempt": %s}\n' "$sum" "$LRO_ATTEMPT"
