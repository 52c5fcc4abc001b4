#!/usr/bin/env bash
# deploy/test.sh — THE test command (CI runs it through .ci/run):
#   setup:  ensure PostgreSQL+PostGIS, drop leftover lianqin_test_% databases,
#           build web/dist, install Chromium + tests/browser deps
#   checks: cargo fmt --check, cargo clippy -D warnings, cargo test,
#           browser test (deploy/browser-test.sh)
# A failing setup step stops the run; every check runs even if an earlier one
# failed. Exits non-zero if anything failed; the last line summarises.
# Env: LIANQIN_TEST_DATABASE_URL (admin URL the tests create their databases
# with; default: the ensured server's postgres database, i.e.
# postgres://postgres@127.0.0.1:5432/postgres), DATABASE_URL / PGHOST / PGPORT
# (which server to ensure), RUST_LOG. Assumes root and an installed cargo.
set -euo pipefail
LQ_PREFIX="[lianqin][test]"
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$LIANQIN_ROOT"

PASSED=()
FAILED=()
CURRENT=""
START=$SECONDS

summary() {
  local rc=$?
  [[ -n $CURRENT ]] && FAILED+=("$CURRENT")
  local total=$((SECONDS - START))
  echo >&2
  # The summary goes to stdout so that it is the last line of a CI log.
  if [[ ${#FAILED[@]} -eq 0 && $rc -eq 0 ]]; then
    printf '%s ALL STEPS PASSED in %ss: %s\n' "$LQ_PREFIX" "$total" "${PASSED[*]}"
  else
    [[ $rc -eq 0 ]] && rc=1
    printf '%s FAILED in %ss. passed: %s; failed: %s\n' "$LQ_PREFIX" "$total" "${PASSED[*]:-none}" "${FAILED[*]}"
  fi
  exit "$rc"
}
trap summary EXIT

# setup step: abort the run on failure
setup() {
  CURRENT="$1"
  local t0=$SECONDS
  log "==== $1"
  shift
  "$@"
  PASSED+=("$CURRENT")
  log "==== $CURRENT ok ($((SECONDS - t0))s)"
  CURRENT=""
}

# check step: record the result and carry on
check() {
  local name="$1" t0=$SECONDS rc=0
  shift
  log "==== $name: $*"
  "$@" || rc=$?
  if [[ $rc -eq 0 ]]; then
    PASSED+=("$name")
    log "==== $name ok ($((SECONDS - t0))s)"
  else
    FAILED+=("$name")
    log "==== $name FAILED (exit $rc, $((SECONDS - t0))s)"
  fi
}

ensure_cargo_on_path
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
[[ -d .sqlx ]] && export SQLX_OFFLINE=true

# --- setup -------------------------------------------------------------------
pg_step() {
  # Target the test server when only LIANQIN_TEST_DATABASE_URL is given.
  if [[ -z ${DATABASE_URL:-} && -n ${LIANQIN_TEST_DATABASE_URL:-} ]]; then
    DATABASE_URL="$LIANQIN_TEST_DATABASE_URL"
  fi
  DATABASE_URL="$(bash deploy/ensure-postgres.sh --url)"
  export DATABASE_URL
  : "${LIANQIN_TEST_DATABASE_URL:=$(url_with_db "$DATABASE_URL" postgres)}"
  export LIANQIN_TEST_DATABASE_URL
  log "LIANQIN_TEST_DATABASE_URL=$LIANQIN_TEST_DATABASE_URL"
}

# Leftovers of earlier (crashed) runs. A database that someone is connected to,
# or that changed in the last LIANQIN_TEST_DB_MIN_AGE minutes (default 10), may
# belong to a test run in progress on this machine and is kept.
drop_leftovers() {
  local dbs db age="${LIANQIN_TEST_DB_MIN_AGE:-10}"
  local q="select d.datname from pg_database d
    where d.datname like 'lianqin\_test\_%'
      and not exists (select 1 from pg_stat_activity a where a.datname = d.datname)"
  if ! dbs="$(psql_q "$LIANQIN_TEST_DATABASE_URL" -c "$q
      and (pg_stat_file('base/' || d.oid)).modification < now() - interval '$age minutes'" 2>/dev/null)"; then
    dbs="$(psql_q "$LIANQIN_TEST_DATABASE_URL" -c "$q")" # pg_stat_file needs superuser
  fi
  if [[ -z $dbs ]]; then
    log "no leftover test databases"
    return 0
  fi
  while IFS= read -r db; do
    [[ -n $db ]] || continue
    log "dropping leftover database $db"
    psql_q "$LIANQIN_TEST_DATABASE_URL" -v db="$db" <<<'drop database if exists :"db";' ||
      warn "could not drop $db (in use?); leaving it"
  done <<<"$dbs"
}

setup ensure-postgres pg_step
setup drop-test-dbs drop_leftovers
setup ensure-web bash deploy/ensure-web.sh
setup ensure-browser bash deploy/ensure-browser.sh

# --- checks ------------------------------------------------------------------
# The Rust tests take their admin URL from LIANQIN_TEST_DATABASE_URL; cargo
# itself gets no DATABASE_URL (sqlx macros would query an unmigrated database).
check fmt cargo fmt --all --check
check clippy env -u DATABASE_URL cargo clippy --workspace --all-targets -- -D warnings
check cargo-test env -u DATABASE_URL cargo test --workspace
check browser bash deploy/browser-test.sh
