#!/usr/bin/env bash
# Run golangci-lint at the version this repository pins, installing it into
# .dev/tools on first use (built from source through the Go module proxy, so
# no download site is needed; about two minutes on two cores, once).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=v2.15.0
bin=.dev/tools/golangci-lint
if ! [ -x "$bin" ] || ! "$bin" version 2>/dev/null | grep -q "${version#v}"; then
	echo "lint.sh: installing golangci-lint $version into .dev/tools" >&2
	GOBIN="$PWD/.dev/tools" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi
exec "$bin" run "$@" ./...
