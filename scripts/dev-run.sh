#!/usr/bin/env bash
# `make run`: the whole service on this machine in one command.
#
# With DATABASE_URL unset it runs under scripts/with-db.sh, which starts the
# throwaway PostgreSQL of scripts/pg.sh (.dev/pg) and stops it at the end if
# it started it. Then it builds the commands into .dev/bin, starts the mock
# provider (with its consent page), applies the schema, imports two demo
# connections with short lifetimes, so refreshes show in the log within a
# minute, and a third whose refresh token the mock refuses, so it needs
# re-authorization, and runs the worker with the token API and the console
# on TOKENS_HTTP_ADDR (default 127.0.0.1:8080). It prints the console's URL
# and an admin key, created on the first run and kept in .dev/admin-key.
# docs/console.md walks from there to reconnecting the third connection.
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
# The token API and the console; TOKENS_PUBLIC_URL is where a browser finds
# them, and the provider sends it back to (its /oauth/callback).
export TOKENS_HTTP_ADDR="${TOKENS_HTTP_ADDR:-127.0.0.1:8080}"
# An address on every interface (":8080", "0.0.0.0:8080") is reached here
# through loopback.
http_local="$TOKENS_HTTP_ADDR"
case "${http_local%:*}" in '' | 0.0.0.0 | '[::]') http_local="127.0.0.1:${http_local##*:}" ;; esac
export TOKENS_PUBLIC_URL="${TOKENS_PUBLIC_URL:-http://$http_local}"
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

# listening HOST:PORT: whether something accepts connections there.
listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
if listening "$http_local"; then
  echo "$TOKENS_HTTP_ADDR is in use; set TOKENS_HTTP_ADDR to a free address (e.g. TOKENS_HTTP_ADDR=127.0.0.1:8081 make run)" >&2
  exit 1
fi

echo "==> building into .dev/bin" >&2
mkdir -p "$bin"
go build -o "$bin/" ./cmd/worker ./cmd/consumer ./cmd/mockprovider

# Fresh random refresh tokens each run: the mock provider starts empty and
# accepts any refresh token it has not seen used, except the ones it is told
# are revoked (demo-slack's, so that it needs re-authorization).
rt() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
revoked="rt-revoked-$(rt)"

echo "==> mock provider on http://$mock_addr (tokens live 2m, refresh tokens rotate, /authorize asks for consent)" >&2
"$bin/mockprovider" --addr "$mock_addr" --lifetime 2m --rotate --consent --revoked "$revoked" &
mock_pid=$!
for _ in $(seq 50); do
  if listening "$mock_addr"; then break; fi
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

# The console needs an admin key. The one kept in .dev/admin-key is reused
# while this database holds it unrevoked (its id is the key's second part);
# otherwise a new one replaces it.
adminfile="$root/.dev/admin-key"
admin_key=""
if [[ -s "$adminfile" ]]; then
  admin_key="$(cat "$adminfile")"
  admin_id="${admin_key#tw_}"
  admin_id="${admin_id%%_*}"
  # `apikey list`: ID, LABEL (make-run: one word), KIND, ..., REVOKED ("-"
  # if not) last.
  if ! "$bin/worker" apikey list | awk -v id="$admin_id" '$1 == id && $3 == "admin" && $NF == "-" { ok = 1 } END { exit !ok }'; then
    admin_key=""
  fi
fi
if [[ -z "$admin_key" ]]; then
  echo "==> creating an admin key for the console (kept in .dev/admin-key)" >&2
  admin_key="$("$bin/worker" apikey create --admin --label make-run)"
  (umask 077; printf '%s\n' "$admin_key" > "$adminfile")
fi

echo "==> importing demo connections demo-xero, demo-hubspot and demo-slack (needs re-authorization)" >&2
# Each names the mock's authorization endpoint and a client (the mock
# checks neither id nor secret), so the console can reconnect it;
# demo-slack's refresh token is one the mock refuses, so its first refresh
# marks it needs_reauth.
demo() {
  printf '{"name": "%s", "provider": "oauth2", "authorize_url": "http://%s/authorize", "token_url": "http://%s/token", "client_id": "tokenwarden-demo", "client_secret": "demo-secret", "scopes": "%s", "access_token": "demo", "refresh_token": "%s", "expires_in": %s}\n' \
    "$1" "$mock_addr" "$mock_addr" "$2" "$3" "$4"
}
{
  demo demo-xero "accounting.transactions offline_access" "rt-$(rt)" 40
  demo demo-hubspot "crm.objects.contacts.read" "rt-$(rt)" 70
  demo demo-slack "channels:read chat:write" "$revoked" 5
} | "$bin/worker" import - >&2

echo "==> running the worker, the token API and the console on $TOKENS_HTTP_ADDR (Ctrl-C, SIGINT or SIGTERM stops everything)" >&2
export TOKENS_REFRESH_BEFORE="${TOKENS_REFRESH_BEFORE:-30s}"
export TOKENS_POLL_INTERVAL="${TOKENS_POLL_INTERVAL:-10s}"
export TOKENS_SPOOL_DIR="${TOKENS_SPOOL_DIR:-$root/.dev/spool}"
"$bin/worker" run &
worker_pid=$!
# The banner once the console answers, so that its URL works when shown.
for _ in $(seq 100); do
  if listening "$http_local" || ! kill -0 "$worker_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if kill -0 "$worker_pid" 2>/dev/null; then
  cat >&2 <<EOF2

    console: ${TOKENS_PUBLIC_URL%/}/console/  admin key: $admin_key
    (demo-slack needs re-authorization: open it in the console and press Reconnect; docs/console.md)

    in another terminal:
      DATABASE_URL='$DATABASE_URL' $bin/worker list
      DATABASE_URL='$DATABASE_URL' TOKENS_ENCRYPTION_KEYS="\$(cat $keyfile)" $bin/consumer get demo-xero --json

EOF2
fi
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
