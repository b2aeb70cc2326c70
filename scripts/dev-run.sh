#!/usr/bin/env bash
# `make run`: the whole service on this machine in one command.
#
# With DATABASE_URL unset it starts the throwaway PostgreSQL of scripts/pg.sh
# (.dev/pg), then builds the commands, starts the mock provider, applies the
# schema, imports two demo connections with short lifetimes and runs the
# worker in the foreground, so refreshes show in the log within a minute.
# Ctrl-C stops everything this script started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mock_addr="${TOKENWARDEN_MOCK_ADDR:-127.0.0.1:8089}"
bin="$root/.dev/bin"
started_pg=0
mock_pid=""

cleanup() {
  trap - INT TERM EXIT
  if [[ -n "$mock_pid" ]]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  if [[ "$started_pg" == 1 ]]; then bash scripts/pg.sh stop >&2 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z "${DATABASE_URL:-}" ]]; then
  if ! bash scripts/pg.sh status >/dev/null 2>&1; then started_pg=1; fi
  DATABASE_URL="$(bash scripts/pg.sh start)"
  export DATABASE_URL
fi

echo "==> building into .dev/bin" >&2
mkdir -p "$bin"
go build -o "$bin/" ./cmd/worker ./cmd/consumer ./cmd/mockprovider

echo "==> mock provider on http://$mock_addr/token (tokens live 2m, refresh tokens rotate)" >&2
"$bin/mockprovider" --addr "$mock_addr" --lifetime 2m --rotate &
mock_pid=$!
for _ in $(seq 50); do
  if (exec 3<>"/dev/tcp/${mock_addr%:*}/${mock_addr##*:}") 2>/dev/null; then break; fi
  if ! kill -0 "$mock_pid" 2>/dev/null; then echo "mock provider failed to start (is $mock_addr in use? set TOKENWARDEN_MOCK_ADDR)" >&2; exit 1; fi
  sleep 0.1
done

# A local encryption key, so the demo stores tokens sealed as production
# should; kept under .dev/ so later runs can read what earlier ones wrote.
keyfile="$root/.dev/encryption-key"
if [[ ! -s "$keyfile" ]]; then
  (umask 077; printf 'dev:%s\n' "$(head -c 32 /dev/urandom | base64)" > "$keyfile")
fi
export TOKENS_ENCRYPTION_KEYS="${TOKENS_ENCRYPTION_KEYS:-$(cat "$keyfile")}"

echo "==> applying the schema" >&2
"$bin/worker" migrate >&2

echo "==> importing demo connections demo-xero and demo-hubspot" >&2
# Fresh random refresh tokens each run: the mock provider starts empty and
# accepts any refresh token it has not seen used.
rt() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
"$bin/worker" import - >&2 <<JSON
{"name": "demo-xero", "provider": "oauth2", "token_url": "http://$mock_addr/token", "access_token": "demo", "refresh_token": "rt-$(rt)", "expires_in": 40}
{"name": "demo-hubspot", "provider": "oauth2", "token_url": "http://$mock_addr/token", "access_token": "demo", "refresh_token": "rt-$(rt)", "expires_in": 70}
JSON

cat >&2 <<EOF2
==> running the worker (Ctrl-C stops everything)
    in another terminal:
      DATABASE_URL='$DATABASE_URL' $bin/worker list
      DATABASE_URL='$DATABASE_URL' TOKENS_ENCRYPTION_KEYS="\$(cat $keyfile)" $bin/consumer get demo-xero --json
EOF2
export TOKENS_REFRESH_BEFORE="${TOKENS_REFRESH_BEFORE:-30s}"
export TOKENS_POLL_INTERVAL="${TOKENS_POLL_INTERVAL:-10s}"
export TOKENS_SPOOL_DIR="${TOKENS_SPOOL_DIR:-$root/.dev/spool}"
"$bin/worker" run
