#!/usr/bin/env bash
# Throwaway local PostgreSQL cluster for development and tests.
#
#   scripts/pg.sh start    start (or reuse) the cluster; prints DATABASE_URL on stdout
#   scripts/pg.sh stop     stop the cluster if running (fast mode)
#   scripts/pg.sh url      print DATABASE_URL
#   scripts/pg.sh status   report whether the cluster is running (exit 0 if so, 3 if not)
#
# Data lives in .dev/pg/ at the repository root. The server listens on
# 127.0.0.1:${TOKENWARDEN_PG_PORT:-55432} only, uses trust auth (loopback, dev
# only) and is tuned for speed (fsync=off etc.), never for durability.
# When run as root, the server runs as an unprivileged system user
# (${TOKENWARDEN_PG_OSUSER:-tokenwarden-pg}) because initdb/postgres refuse root.
# Only stdout output is the URL; everything else goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PGROOT="$ROOT/.dev/pg"
DATADIR="$PGROOT/data"
LOGFILE="$PGROOT/postgres.log"
SOCKDIR="$PGROOT"
PORT="${TOKENWARDEN_PG_PORT:-55432}"
DBUSER="tokenwarden"
DBNAME="tokenwarden"
OSUSER_DEFAULT="${TOKENWARDEN_PG_OSUSER:-tokenwarden-pg}"

log() { echo "pg.sh: $*" >&2; }
die() { echo "pg.sh: $*" >&2; exit 1; }

case "$PORT" in
	'' | *[!0-9]*) die "TOKENWARDEN_PG_PORT must be a number, got '$PORT'" ;;
esac

# Unix socket paths are limited to ~107 bytes; fall back to a short dir in /tmp.
if [ $((${#SOCKDIR} + 20)) -gt 100 ]; then
	SOCKDIR="/tmp/tokenwarden-pg-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
fi

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- binaries

PGBIN=""
find_pgbin() {
	local p d best=""
	if p="$(command -v pg_ctl 2>/dev/null)" && command -v initdb >/dev/null 2>&1 &&
		command -v postgres >/dev/null 2>&1; then
		# Resolve symlinks (e.g. /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl)
		# so that the sibling tools (psql, pg_isready) of the same version are found.
		p="$(readlink -f "$p" 2>/dev/null || echo "$p")"
		d="$(dirname "$p")"
		if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
			PGBIN="$d"
		else
			PGBIN="$(dirname "$(command -v pg_ctl)")"
		fi
		return 0
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -V); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
			best="$d"
		fi
	done
	if [ -n "$best" ]; then
		PGBIN="$best"
		return 0
	fi
	return 1
}

ensure_pgbin() {
	find_pgbin && return 0
	if is_root && command -v apt-get >/dev/null 2>&1; then
		log "PostgreSQL binaries not found; installing the 'postgresql' package with apt-get"
		{
			DEBIAN_FRONTEND=noninteractive apt-get update -q &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
		} >&2 || die "apt-get install postgresql failed; install PostgreSQL or set DATABASE_URL"
		find_pgbin && return 0
	fi
	die "PostgreSQL binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; install PostgreSQL (e.g. 'apt-get install postgresql') or set DATABASE_URL"
}

# Client tool: same dir as the server binaries, else PATH. Empty if missing.
client_tool() {
	if [ -x "$PGBIN/$1" ]; then
		echo "$PGBIN/$1"
	else
		command -v "$1" 2>/dev/null || true
	fi
}

# ---------------------------------------------------------------- OS user

OSUSER=""  # user that owns and runs the cluster; empty = current user

# as_pg CMD...: run CMD as the cluster's OS user, from inside $PGROOT.
# fd 9 (the lock, see take_lock) is closed so the postmaster does not inherit it.
as_pg() {
	if [ -n "$OSUSER" ]; then
		(cd "$PGROOT" && runuser -u "$OSUSER" -- "$@" 9>&-)
	else
		(cd "$PGROOT" && "$@" 9>&-)
	fi
}

# ensure_osuser [create]: pick the OS user; create it only when asked.
ensure_osuser() {
	is_root || return 0
	# Reuse whoever already owns an existing non-root data dir.
	if [ -d "$DATADIR" ]; then
		local owner
		owner="$(stat -c %U "$DATADIR")"
		if [ "$owner" != "root" ] && [ "$owner" != "UNKNOWN" ]; then
			OSUSER="$owner"
		fi
	fi
	[ -n "$OSUSER" ] || OSUSER="$OSUSER_DEFAULT"
	command -v runuser >/dev/null 2>&1 || die "running as root requires 'runuser' (util-linux)"
	if ! id -u "$OSUSER" >/dev/null 2>&1; then
		[ "${1:-}" = create ] || return 0
		log "creating system user $OSUSER to run PostgreSQL (it refuses to run as root)"
		if command -v useradd >/dev/null 2>&1; then
			useradd --system --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin --user-group "$OSUSER" >&2 ||
				id -u "$OSUSER" >/dev/null 2>&1 || die "useradd $OSUSER failed"
		elif command -v adduser >/dev/null 2>&1; then
			# busybox/alpine style
			adduser -S -D -H "$OSUSER" >&2 ||
				id -u "$OSUSER" >/dev/null 2>&1 || die "adduser $OSUSER failed"
		else
			die "running as root but neither useradd nor adduser is available to create $OSUSER"
		fi
	fi
}

# Make every ancestor of $1 traversable by $OSUSER (adds o+x where needed).
ensure_traversable() {
	local d="" part
	local IFS=/
	# Top-down, so a blocked ancestor does not make its children look blocked.
	for part in $(dirname "$1"); do
		[ -n "$part" ] || continue
		d="$d/$part"
		if ! runuser -u "$OSUSER" -- test -x "$d" 2>/dev/null; then
			log "chmod o+x $d (so $OSUSER can reach $1)"
			chmod o+x "$d"
		fi
	done
}

prepare_dirs() {
	mkdir -p "$PGROOT"
	[ "$SOCKDIR" = "$PGROOT" ] || mkdir -p "$SOCKDIR"
	if [ -n "$OSUSER" ]; then
		ensure_traversable "$PGROOT"
		[ "$SOCKDIR" = "$PGROOT" ] || ensure_traversable "$SOCKDIR"
		local dir
		for dir in "$PGROOT" "$SOCKDIR"; do
			if [ "$(stat -c %U "$dir")" != "$OSUSER" ]; then
				chown -R "$OSUSER:" "$dir"
			fi
		done
		if [ -e "$LOGFILE" ] && [ "$(stat -c %U "$LOGFILE")" != "$OSUSER" ]; then
			chown "$OSUSER:" "$LOGFILE"
		fi
		chmod 0755 "$PGROOT"
	elif [ -d "$DATADIR" ] && [ ! -O "$DATADIR" ]; then
		die "$DATADIR is owned by $(stat -c %U "$DATADIR"), not $(id -un); run as that user or root, or remove .dev/pg"
	fi
}

# ---------------------------------------------------------------- helpers

url() { echo "postgres://${DBUSER}@127.0.0.1:$1/${DBNAME}?sslmode=disable"; }

# Port of the running postmaster (line 4 of postmaster.pid), else $PORT.
running_port() {
	local p=""
	if [ -r "$DATADIR/postmaster.pid" ]; then
		p="$(sed -n 4p "$DATADIR/postmaster.pid" 2>/dev/null || true)"
	fi
	case "$p" in '' | *[!0-9]*) p="$PORT" ;; esac
	echo "$p"
}

is_running() {
	[ -f "$DATADIR/PG_VERSION" ] || return 1
	as_pg "$PGBIN/pg_ctl" status -D "$DATADIR" >/dev/null 2>&1
}

write_config() {
	# Rewritten on every start so setting changes (e.g. the port) take effect.
	as_pg tee "$DATADIR/tokenwarden.conf" >/dev/null <<EOF
# Managed by scripts/pg.sh; rewritten on every start. Throwaway dev cluster.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKDIR'
max_connections = 400
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	as_pg tee "$DATADIR/pg_hba.conf" >/dev/null <<'EOF'
# Managed by scripts/pg.sh. Loopback-only throwaway dev cluster: trust.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
host    all       all   ::1/128       trust
EOF
	if ! grep -q "^include_if_exists = 'tokenwarden.conf'" "$DATADIR/postgresql.conf"; then
		printf "\ninclude_if_exists = 'tokenwarden.conf'\n" | as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null
	fi
}

init_cluster() {
	log "initializing cluster in $DATADIR ($("$PGBIN/postgres" --version))"
	if ! as_pg "$PGBIN/initdb" -D "$DATADIR" -U "$DBUSER" --auth=trust \
		--encoding=UTF8 --locale=C --no-sync >"$PGROOT/initdb.log" 2>&1; then
		cat "$PGROOT/initdb.log" >&2
		die "initdb failed"
	fi
}

wait_ready() {
	local isready i
	isready="$(client_tool pg_isready)"
	[ -n "$isready" ] || return 0
	for i in $(seq 1 60); do
		if "$isready" -q -h 127.0.0.1 -p "$1" -U "$DBUSER" -d postgres; then
			return 0
		fi
		sleep 0.5
	done
	die "server on 127.0.0.1:$1 did not accept connections; see $LOGFILE"
}

ensure_database() {
	local psql port="$1"
	psql="$(client_tool psql)"
	[ -n "$psql" ] || die "psql not found; cannot create database $DBNAME"
	if [ "$("$psql" -X -q -h 127.0.0.1 -p "$port" -U "$DBUSER" -d postgres -tA \
		-c "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'")" != "1" ]; then
		log "creating database $DBNAME"
		"$psql" -X -q -h 127.0.0.1 -p "$port" -U "$DBUSER" -d postgres -v ON_ERROR_STOP=1 \
			-c "CREATE DATABASE \"$DBNAME\"" >&2
	fi
}

# Serialize concurrent start/stop (e.g. parallel `make test` runs).
take_lock() {
	command -v flock >/dev/null 2>&1 || return 0
	mkdir -p "$ROOT/.dev"
	exec 9>>"$ROOT/.dev/pg.lock"
	flock -w 120 9 || die "timed out waiting for $ROOT/.dev/pg.lock"
}

# ---------------------------------------------------------------- commands

cmd_start() {
	ensure_pgbin
	take_lock
	ensure_osuser create
	prepare_dirs
	if is_running; then
		log "reusing running cluster in $DATADIR"
	else
		[ -f "$DATADIR/PG_VERSION" ] || init_cluster
		write_config
		log "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOGFILE)"
		if ! as_pg "$PGBIN/pg_ctl" start -w -t 60 -D "$DATADIR" -l "$LOGFILE" >&2; then
			log "failed to start; last lines of $LOGFILE:"
			tail -n 20 "$LOGFILE" >&2 || true
			die "could not start PostgreSQL (port $PORT busy? set TOKENWARDEN_PG_PORT)"
		fi
	fi
	local port
	port="$(running_port)"
	wait_ready "$port"
	ensure_database "$port"
	url "$port"
}

cmd_stop() {
	if ! find_pgbin; then
		log "PostgreSQL binaries not found; nothing to stop"
		return 0
	fi
	take_lock
	ensure_osuser
	if is_running; then
		as_pg "$PGBIN/pg_ctl" stop -m fast -w -D "$DATADIR" >&2
	else
		log "not running"
	fi
}

cmd_status() {
	find_pgbin || die "PostgreSQL binaries not found"
	ensure_osuser
	if is_running; then
		log "running: $(url "$(running_port)") (data: $DATADIR)"
		return 0
	fi
	log "not running (data: $DATADIR)"
	return 3
}

case "${1:-}" in
	start) cmd_start ;;
	stop) cmd_stop ;;
	url) url "$(running_port)" ;;
	status) cmd_status ;;
	*)
		echo "usage: $0 {start|stop|url|status}" >&2
		exit 2
		;;
esac
