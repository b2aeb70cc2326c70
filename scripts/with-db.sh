#!/usr/bin/env bash
# with-db.sh CMD [ARGS...]: run CMD with a database, and leave the machine as
# it was found. `make test`, `make bench` and `make run` go through it.
#
# With DATABASE_URL set, CMD runs against that database and nothing else is
# started. Unset, the throwaway local cluster of scripts/pg.sh is started (or
# reused) and DATABASE_URL points at it; a cluster this script started is
# stopped again when CMD ends, whether CMD passed, failed or was interrupted.
# A cluster that was already running is left running.
#
# CMD runs in a process group of its own. SIGINT and SIGTERM sent to this
# script (a terminal's Ctrl-C reaches it through make) are passed on to that
# whole group, so test binaries and servers CMD started get them too; then
# the script waits for CMD, stops the cluster it started and exits with
# CMD's status.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pg="$root/scripts/pg.sh"

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

started_pg=0
child=""

stop_pg() {
	if [[ "$started_pg" == 1 ]]; then bash "$pg" stop || true; fi
}
trap stop_pg EXIT

# forward SIG NUM: pass the signal to CMD's group, or, before CMD runs, stop
# here (the EXIT trap stops a cluster started meanwhile).
forward() {
	if [[ -z "$child" ]]; then exit $((128 + $2)); fi
	kill -s "$1" -- "-$child" 2>/dev/null || true
}
trap 'forward INT 2' INT
trap 'forward TERM 15' TERM

if [[ -z "${DATABASE_URL:-}" ]]; then
	# Decided before starting: only a cluster that was down is ours to stop.
	if ! bash "$pg" status >/dev/null 2>&1; then started_pg=1; fi
	DATABASE_URL="$(bash "$pg" start)"
	export DATABASE_URL
fi

# Job control gives the background job its own process group (and, unlike a
# plain background job, leaves SIGINT to its processes).
set -m
"$@" &
child=$!
set +m

# A trapped signal interrupts wait; keep waiting until CMD has really ended.
set +e
while :; do
	wait "$child"
	kill -0 "$child" 2>/dev/null || break
done
wait "$child"
status=$?
set -e
exit "$status"
