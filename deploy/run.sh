#!/usr/bin/env bash
# deploy/run.sh — one command from a fresh clone to a running lianqin:
#   ensure PostgreSQL+PostGIS (and the app database) -> build web/dist ->
#   cargo build --release -> lianqin migrate -> lianqin import (geodata) ->
#   exec lianqin serve --demo.
# Env: DATABASE_URL, LIANQIN_DB, LIANQIN_LISTEN (default 127.0.0.1:8080), RUST_LOG.
# Assumes root (apt-get installs) and an installed Rust toolchain (cargo).
set -euo pipefail
LQ_PREFIX="[lianqin][run]"
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$LIANQIN_ROOT"

LISTEN="${LIANQIN_LISTEN:-127.0.0.1:8080}"

ensure_cargo_on_path
require_geodata

log "step 1/6: PostgreSQL + PostGIS"
DATABASE_URL="$(bash deploy/ensure-postgres.sh --url)"
export DATABASE_URL
log "DATABASE_URL=$DATABASE_URL"

log "step 2/6: web front end"
bash deploy/ensure-web.sh

log "step 3/6: cargo build --release"
# DATABASE_URL is not handed to cargo: sqlx macros would otherwise try to
# check queries against a not-yet-migrated database. Committed offline data
# (.sqlx/) is used when present.
[[ -d .sqlx ]] && export SQLX_OFFLINE=true
env -u DATABASE_URL cargo build --release --bin lianqin
BIN="${CARGO_TARGET_DIR:-target}/release/lianqin"
[[ -x $BIN ]] || die "$BIN was not produced by cargo build"

export RUST_LOG="${RUST_LOG:-info}"

log "step 4/6: lianqin migrate"
"$BIN" migrate

log "step 5/6: lianqin import ${GEODATA[*]}"
"$BIN" import "${GEODATA[@]}"

host="${LISTEN%:*}"
port="${LISTEN##*:}"
case "$host" in
  0.0.0.0 | "" | "[::]" | "::") host=127.0.0.1 ;;
esac
log "step 6/6: lianqin serve --demo --listen $LISTEN"
log "open http://$host:$port/ in a browser (Ctrl-C stops the server)"
exec "$BIN" serve --demo --listen "$LISTEN"
