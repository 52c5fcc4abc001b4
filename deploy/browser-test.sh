#!/usr/bin/env bash
# deploy/browser-test.sh — the end-to-end browser test, run by deploy/test.sh
# (and runnable alone after it): a fresh database lianqin_test_browser_<pid>,
# lianqin migrate + import of the five geodata layers, `lianqin serve` on a
# free port (no --demo), wait for GET /healthz == 200, then
#   LIANQIN_URL=http://127.0.0.1:<port> node --test tests/browser/
# The server is always stopped and the database always dropped.
# Env: LIANQIN_TEST_DATABASE_URL (admin URL, default
# postgres://postgres@127.0.0.1:5432/postgres), LIANQIN_HEALTH_TIMEOUT (60).
# Expects web/dist built and tests/browser/node_modules installed (test.sh
# does both via ensure-web.sh / ensure-browser.sh).
set -euo pipefail
LQ_PREFIX="[lianqin][browser-test]"
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$LIANQIN_ROOT"

ADMIN_URL="${LIANQIN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
HEALTH_TIMEOUT="${LIANQIN_HEALTH_TIMEOUT:-60}"

ensure_cargo_on_path
command -v node >/dev/null 2>&1 || die "node not found (run deploy/ensure-browser.sh first)"
command -v psql >/dev/null 2>&1 || die "psql not found (run deploy/ensure-postgres.sh first)"
[[ -d tests/browser ]] || die "tests/browser/ does not exist in this checkout"
[[ -f web/dist/index.html ]] || die "web/dist/index.html missing (run deploy/ensure-web.sh first)"
require_geodata

log "building target/debug/lianqin"
[[ -d .sqlx ]] && export SQLX_OFFLINE=true
env -u DATABASE_URL cargo build --bin lianqin
BIN="${CARGO_TARGET_DIR:-target}/debug/lianqin"
[[ -x $BIN ]] || die "$BIN was not produced by cargo build"

DB="lianqin_test_browser_$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lianqin-browser.XXXXXX")"
SERVER_LOG="$WORK/server.log"
SERVER_PID=""
DB_CREATED=0

cleanup() {
  local rc=$?
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping server (pid $SERVER_PID)"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $DB_CREATED == 1 ]]; then
    log "dropping database $DB"
    psql_q "$ADMIN_URL" -c "drop database if exists \"$DB\" with (force)" ||
      warn "could not drop database $DB"
  fi
  if [[ $rc -ne 0 && -s $SERVER_LOG ]]; then
    log "---- server log (last 200 lines) ----"
    tail -n 80 "$SERVER_LOG" >&2 || true
    log "---- end of server log ----"
  fi
  # the failing tests last, so a truncated CI log still shows them
  if [[ $rc -ne 0 && -s $WORK/tap.txt ]]; then
    log "---- failed browser tests ----"
    awk '/^not ok /{p=1; n=0} p{print; n++} p && (/^  \.\.\.$/ || n>80){p=0}' "$WORK/tap.txt" >&2 || true
    log "---- end of failed browser tests ----"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "creating database $DB"
psql_q "$ADMIN_URL" -c "create database \"$DB\""
DB_CREATED=1
DATABASE_URL="$(url_with_db "$ADMIN_URL" "$DB")"
export DATABASE_URL
export RUST_LOG="${RUST_LOG:-info}"

log "lianqin migrate"
"$BIN" migrate
log "lianqin import ${GEODATA[*]}"
"$BIN" import "${GEODATA[@]}"

PORT="$(node -e '
  const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });
')"
URL="http://127.0.0.1:$PORT"
log "starting lianqin serve --listen 127.0.0.1:$PORT (log: $SERVER_LOG)"
"$BIN" serve --listen "127.0.0.1:$PORT" >"$SERVER_LOG" 2>&1 </dev/null &
SERVER_PID=$!

http_status() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true
  else
    node -e '
      const ac = new AbortController(); setTimeout(() => ac.abort(), 2000);
      fetch(process.argv[1], { signal: ac.signal })
        .then(r => console.log(r.status), () => console.log("000"));
    ' "$1"
  fi
}

log "waiting for GET $URL/healthz == 200 (timeout ${HEALTH_TIMEOUT}s)"
deadline=$((SECONDS + HEALTH_TIMEOUT))
status=000
while :; do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited before becoming healthy"
  status="$(http_status "$URL/healthz")"
  [[ $status == 200 ]] && break
  ((SECONDS < deadline)) || die "GET /healthz did not return 200 within ${HEALTH_TIMEOUT}s (last status: $status)"
  sleep 0.5
done
log "server is healthy"

log "LIANQIN_URL=$URL node --test tests/browser/"
LIANQIN_URL="$URL" node --test --test-reporter=tap tests/browser/ 2>&1 | tee "$WORK/tap.txt"
log "browser tests passed"
