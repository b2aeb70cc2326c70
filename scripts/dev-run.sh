#!/usr/bin/env bash
# `make run`: the whole service on this machine in one command.
#
# With DATABASE_URL unset it runs under scripts/with-db.sh, which starts the
# throwaway PostgreSQL of scripts/pg.sh (.dev/pg) and stops it at the end if
# it started it. Then it builds the commands into .dev/bin, starts the mock
# provider, applies the schema, imports two demo connections with short
# lifetimes and runs the worker, so refreshes show in the log within a minute.
#
# Ctrl-C, or SIGINT or SIGTERM sent to this script's process, stops it: the
# worker and the mock provider get SIGTERM, the script waits for both, and
# exits with the worker's status (0 when it stopped cleanly).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -z "${DATABASE_URL:-}" ]]; then
  exec bash scripts/with-db.sh bash "$root/scripts/dev-run.sh" "$@"
fi

mock_addr="${TOKENWARDEN_MOCK_ADDR:-127.0.0.1:8089}"
bin="$root/.dev/bin"
mock_pid=""
worker_pid=""

# stop PID: SIGTERM, then wait until it has exited.
stop() {
  if [[ -n "$1" ]]; then kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  trap - INT TERM EXIT
  stop "$worker_pid"
  stop "$mock_pid"
}
trap cleanup EXIT
# A signal before the worker runs ends the script (the EXIT trap stops the
# mock provider); once it runs, the worker is asked to stop and the script
# goes on waiting for it below. Background jobs of a script ignore SIGINT,
# and a signal sent only to this process would not reach them: both get
# SIGTERM from here.
on_signal() {
  if [[ -z "$worker_pid" ]]; then exit $((128 + $1)); fi
  kill -TERM "$worker_pid" 2>/dev/null || true
}
trap 'on_signal 2' INT
trap 'on_signal 15' TERM

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
==> running the worker (Ctrl-C, SIGINT or SIGTERM stops everything)
    in another terminal:
      DATABASE_URL='$DATABASE_URL' $bin/worker list
      DATABASE_URL='$DATABASE_URL' TOKENS_ENCRYPTION_KEYS="\$(cat $keyfile)" $bin/consumer get demo-xero --json
EOF2
export TOKENS_REFRESH_BEFORE="${TOKENS_REFRESH_BEFORE:-30s}"
export TOKENS_POLL_INTERVAL="${TOKENS_POLL_INTERVAL:-10s}"
export TOKENS_SPOOL_DIR="${TOKENS_SPOOL_DIR:-$root/.dev/spool}"
"$bin/worker" run &
worker_pid=$!
# A trapped signal interrupts wait; keep waiting until the worker has ended.
set +e
while :; do
  wait "$worker_pid"
  kill -0 "$worker_pid" 2>/dev/null || break
done
wait "$worker_pid"
status=$?
set -e
exit "$status"
