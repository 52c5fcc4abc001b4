#!/usr/bin/env bash
# deploy/bench.sh — reproduce every benchmark in BENCHMARKS.md with one command.
#
# Usage:
#   bash deploy/bench.sh                 # all benches
#   bash deploy/bench.sh jurisdiction    # only the named ones
#
# Needs PostgreSQL + PostGIS (admin URL: $LIANQIN_TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/postgres; deploy/ensure-postgres.sh is
# called if present). Redis (redis://127.0.0.1:6379/, or
# $LIANQIN_BENCH_REDIS_URL) is optional: without it the Redis rows are skipped.
# Each bench creates its own database lianqin_bench_<name>_<pid> and drops it;
# anything left behind by a crashed bench is dropped at the end.
# Knobs: LIANQIN_BENCH_REPS, LIANQIN_BENCH_WS_SECS (default 20),
# LIANQIN_BENCH_WINDOW_MS (default 1500). Results: target/bench/results.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export LIANQIN_TEST_DATABASE_URL="${LIANQIN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
ALL=(jurisdiction ws_latency ingest_throughput ingest_pipeline nearest_post responders_index responders_http heat clusters)
if (($# > 0)); then BENCHES=("$@"); else BENCHES=("${ALL[@]}"); fi

log() { printf '[lianqin][bench] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- database
if [[ -f deploy/ensure-postgres.sh ]]; then
  log "ensuring PostgreSQL + PostGIS"
  if ! DATABASE_URL="$LIANQIN_TEST_DATABASE_URL" bash deploy/ensure-postgres.sh --url >/dev/null; then
    log "deploy/ensure-postgres.sh failed; trying $LIANQIN_TEST_DATABASE_URL anyway"
  fi
fi

# shellcheck disable=SC2317 # invoked by the EXIT trap
drop_leftovers() {
  command -v psql >/dev/null || return 0
  local db pid
  while read -r db; do
    [[ -n $db ]] || continue
    pid="${db##*_}"
    # a bench still running (another invocation) keeps its database
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then continue; fi
    log "dropping leftover database $db"
    psql "$LIANQIN_TEST_DATABASE_URL" -qAtX -c "drop database if exists \"$db\" with (force)" >/dev/null || true
  done < <(psql "$LIANQIN_TEST_DATABASE_URL" -qAtX -c "select datname from pg_database where datname like 'lianqin\_bench\_%'" 2>/dev/null || true)
}
trap drop_leftovers EXIT

# wrk (Debian package) drives the lianqin nearest cells with a C load
# generator; optional: without it those rows are skipped.
if ! command -v wrk >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  log "installing wrk (optional load generator)"
  apt-get install -y -qq wrk >/dev/null 2>&1 || log "wrk not installed; its rows are skipped"
fi

# ---------------------------------------------------------------- build, run
log "building benches (release)"
cargo bench --no-run --quiet "${BENCHES[@]/#/--bench=}" >&2

OUT_DIR="$ROOT/target/bench"
mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/results.md"
{
  echo "# lianqin benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- host: $(uname -srm); nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
  echo
} >"$RESULTS"

status=0
for b in "${BENCHES[@]}"; do
  log "running $b"
  start=$(date +%s)
  if ! timeout 600 cargo bench --quiet --bench "$b" >"$OUT_DIR/$b.md"; then
    log "bench $b FAILED"
    echo "**$b failed; see stderr above.**" >>"$OUT_DIR/$b.md"
    status=1
  fi
  log "$b took $(($(date +%s) - start)) s"
  cat "$OUT_DIR/$b.md" >>"$RESULTS"
done

echo
cat "$RESULTS"
log "results written to $RESULTS"
exit "$status"
