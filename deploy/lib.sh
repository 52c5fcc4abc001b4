# shellcheck shell=bash
# Shared helpers for lianqin's deploy/ scripts. Sourced, never executed.
#
# All log output goes to stderr so that scripts may print machine-readable
# results (e.g. DATABASE_URL=...) on stdout.

# Repository root (deploy/..), absolute.
LIANQIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LIANQIN_ROOT

# Prefix used by every log line; scripts may override before sourcing.
: "${LQ_PREFIX:=[lianqin]}"

log() { printf '%s %s\n' "$LQ_PREFIX" "$*" >&2; }
warn() { printf '%s WARNING: %s\n' "$LQ_PREFIX" "$*" >&2; }
die() {
  printf '%s ERROR: %s\n' "$LQ_PREFIX" "$*" >&2
  exit 1
}

# Run a command as root (we assume root; fall back to sudo when available).
# fd 9 (ensure-postgres's flock) is closed so that a server started from here
# (pg_ctlcluster, apt postinst) cannot inherit and hold the lock forever.
as_root() {
  if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
    "$@" 9>&-
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@" 9>&-
  else
    die "need root to run: $* (run as root, or install sudo with passwordless access)"
  fi
}

# Make cargo findable when the rustup shims are not on PATH (non-login shells).
ensure_cargo_on_path() {
  if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 ||
    die "cargo not found. Install the Rust toolchain first (https://rustup.rs), then re-run. See docs/RUNNING.md."
}

# True when every named Debian package is installed.
pkgs_installed() {
  local p status
  for p in "$@"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    [[ $status == installed ]] || return 1
  done
}

# apt-get update at most once per hour across all deploy scripts (and only
# when something actually has to be installed).
LQ_APT_STAMP="${LQ_APT_STAMP:-${TMPDIR:-/tmp}/lianqin-apt-updated.stamp}"
apt_update_once() {
  if [[ -f $LQ_APT_STAMP ]] && [[ -n "$(find "$LQ_APT_STAMP" -mmin -60 2>/dev/null)" ]]; then
    return 0
  fi
  log "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 ||
    die "apt-get update failed"
  touch "$LQ_APT_STAMP" 2>/dev/null || true
}

# apt_install [--no-recommends] PKG... : install the missing ones only.
apt_install() {
  local opts=()
  if [[ ${1:-} == --no-recommends ]]; then
    opts+=(--no-install-recommends)
    shift
  fi
  local p missing=()
  for p in "$@"; do
    pkgs_installed "$p" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "packages missing (${missing[*]}) and apt-get is not available; install them by hand"
  apt_update_once
  log "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
    install -y -q "${opts[@]}" "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
}

# Make sure node and npm exist (Debian packages as a fallback).
ensure_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    warn "node/npm not found; installing Debian's nodejs and npm (an older Node.js; install Node.js >= 20 yourself if the build needs it)"
    apt_install nodejs npm
  fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    die "node and npm are required but could not be found or installed"
  fi
}

# npm_ci_if_needed DIR : `npm ci` in DIR when node_modules is missing or
# older than package.json / package-lock.json.
npm_ci_if_needed() {
  local dir="$1"
  [[ -f $dir/package.json ]] ||
    die "$dir/package.json does not exist (yet). That npm project belongs to another part of the repo; it must be committed before this step can run."
  local marker="$dir/node_modules/.package-lock.json"
  if [[ ! -f $dir/package-lock.json ]]; then
    warn "$dir/package-lock.json is missing; falling back to 'npm install' (commit a lockfile for reproducible installs)"
    (cd "$dir" && npm install --no-audit --no-fund) >&2 || die "npm install failed in $dir"
    return 0
  fi
  if [[ -f $marker && ! $dir/package-lock.json -nt $marker && ! $dir/package.json -nt $marker ]]; then
    log "$dir/node_modules is up to date (skipping npm ci)"
    return 0
  fi
  log "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund) >&2 || die "npm ci failed in $dir"
}

# ---- PostgreSQL URL helpers (URL form: postgres[ql]://[user[:pw]@]host[:port][/db][?params])

# url_db URL -> database name ('' when none)
url_db() {
  local u="${1%%\?*}" rest
  rest="${u#*://}"
  [[ $rest == */* ]] || return 0
  printf '%s' "${rest#*/}"
}

# url_with_db URL DB -> the same URL pointing at database DB
url_with_db() {
  local url="$1" db="$2" base query="" rest scheme authority
  base="${url%%\?*}"
  [[ $url == *\?* ]] && query="?${url#*\?}"
  scheme="${base%%://*}"
  rest="${base#*://}"
  authority="${rest%%/*}"
  printf '%s://%s/%s%s' "$scheme" "$authority" "$db" "$query"
}

# url_authority URL -> user[:pw]@host[:port]
url_authority() {
  local rest="${1%%\?*}"
  rest="${rest#*://}"
  printf '%s' "${rest%%/*}"
}

# psql_q URL SQL... : run SQL quietly, unaligned, tuples only, never prompt.
psql_q() {
  local url="$1"
  shift
  PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}" psql -w -X -q -A -t -v ON_ERROR_STOP=1 -d "$url" "$@"
}

# The five layer files `lianqin import` loads, in dependency order.
# shellcheck disable=SC2034  # used by the scripts that source this file
GEODATA=(
  geodata/boundary.geojson
  geodata/townships.geojson
  geodata/grids.geojson
  geodata/stations.geojson
  geodata/posts.geojson
)

require_geodata() {
  local f
  for f in "${GEODATA[@]}"; do
    [[ -f $f ]] || die "$f is missing (the generated geodata layers must be in the checkout)"
  done
}
