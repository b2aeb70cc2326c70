#!/usr/bin/env bash
# Chromium for the console's browser tests, which drive it headless through
# chromedp (internal/browsertest). `make test` and `make screenshots` run
# `install` first, so a fresh machine gets it before the tests need it, and
# a test run never finds it missing.
#
#   scripts/chromium.sh install   make sure a working Chromium is there: $CHROME_PATH,
#                                 else /usr/bin/chromium; else, as root, install the
#                                 Debian package `chromium` with apt-get
#   scripts/chromium.sh path      print the binary (exit 1 if none works)
#
# Only `path` writes to stdout; everything else goes to stderr.
set -euo pipefail

default=/usr/bin/chromium

log() { echo "chromium.sh: $*" >&2; }

# works BIN: BIN exists and runs. --version starts the real binary, so a
# package with missing libraries fails here rather than in a test.
works() { [[ -n "$1" && -x "$1" ]] && "$1" --version >/dev/null 2>&1; }

# find: the first working binary, $CHROME_PATH before the Debian package's.
find_bin() {
	local b
	for b in "${CHROME_PATH:-}" "$default"; do
		if works "$b"; then
			echo "$b"
			return 0
		fi
	done
	return 1
}

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2
}

cmd_install() {
	find_bin >/dev/null && return 0
	if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		log "Chromium not found (CHROME_PATH or $default); the browser tests need it: run 'apt-get install chromium' as root, or set CHROME_PATH to a Chromium or Chrome binary"
		exit 1
	fi
	log "installing the Debian package chromium with apt-get (the browser tests need it)"
	# The package lists of a fresh image may be missing or stale: update
	# them only when the install fails, so a machine with good lists pays
	# for no download of them.
	if ! apt_install; then
		log "apt-get install failed; running apt-get update and trying again"
		DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
		apt_install || { log "apt-get install chromium failed"; exit 1; }
	fi
	find_bin >/dev/null || { log "chromium installed, but $default does not run"; exit 1; }
	log "installed: $("$default" --version 2>/dev/null)"
}

cmd_path() {
	find_bin || { log "no working Chromium (CHROME_PATH or $default); run scripts/chromium.sh install"; exit 1; }
}

case "${1:-}" in
	install) cmd_install ;;
	path) cmd_path ;;
	*)
		echo "usage: $0 {install|path}" >&2
		exit 2
		;;
esac
