#!/usr/bin/env bash
# deploy/ensure-postgres.sh — make sure a PostgreSQL server with the PostGIS
# extension available is reachable, create the application database if it is
# missing, and hand back a DATABASE_URL.
#
# Usage:
#   bash deploy/ensure-postgres.sh              # prints  DATABASE_URL=postgres://...
#   bash deploy/ensure-postgres.sh --url        # prints  postgres://...
#   bash deploy/ensure-postgres.sh --export     # prints  export DATABASE_URL=...   (for eval)
#   bash deploy/ensure-postgres.sh --admin-url  # prints  the same server's maintenance-db URL
#   source deploy/ensure-postgres.sh            # exports DATABASE_URL into the current shell
# Only the result goes to stdout; all logging goes to stderr.
#
# Target: $DATABASE_URL if set; else $PGHOST/$PGPORT/$PGUSER (defaults
# 127.0.0.1, 5432, postgres). Database name: the one in $DATABASE_URL, else
# $LIANQIN_DB (default "lianqin"). Passwords are never printed: use
# $PGPASSWORD (read by both psql and sqlx) or put one in $DATABASE_URL.
#
# For a local target (127.0.0.1/localhost/::1/unix socket) it will, as needed:
# start an existing Debian cluster (pg_ctlcluster), install PostgreSQL and
# PostGIS from apt (apt-get update at most once), create the cluster, and let
# local TCP connections in with 'trust' when password auth would reject a
# password-less URL (dev/CI convenience; set LIANQIN_PG_FIX_AUTH=0 to forbid).
# Assumes it runs as root (or that passwordless sudo exists). Idempotent; safe
# to run twice or concurrently (serialised with flock).

# ---------------------------------------------------------------- sourced mode
if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  lianqin_ensure_postgres() {
    local _lq_url
    _lq_url="$(bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ensure-postgres.sh" --url)" || return 1
    export DATABASE_URL="$_lq_url"
    printf '[lianqin] exported DATABASE_URL=%s\n' "$DATABASE_URL" >&2
  }
  lianqin_ensure_postgres
  return $?
fi

# ---------------------------------------------------------------- run mode
set -euo pipefail
LQ_PREFIX="[lianqin][postgres]"
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

MODE="env"
case "${1:-}" in
  "") ;;
  --url) MODE="url" ;;
  --export) MODE="export" ;;
  --admin-url) MODE="admin" ;;
  -h | --help)
    sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument: $1 (try --help)" ;;
esac

export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}"
WAIT_SECS="${LIANQIN_PG_WAIT:-60}"

urlencode() {
  local LC_ALL=C s="$1" out="" c hex i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9.~_-]) out+="$c" ;;
      *)
        printf -v hex '%%%02X' "'$c"
        out+="$hex"
        ;;
    esac
  done
  printf '%s' "$out"
}

# ---------------------------------------------------------------- resolve target
PORT_EXPLICIT=0
URL_HAS_PASSWORD=0
if [[ -n ${DATABASE_URL:-} ]]; then
  [[ $DATABASE_URL == postgres://* || $DATABASE_URL == postgresql://* ]] ||
    die "DATABASE_URL must be a postgres:// URL (got something else)"
  DB_NAME="$(url_db "$DATABASE_URL")"
  if [[ -z $DB_NAME ]]; then
    DB_NAME="${LIANQIN_DB:-lianqin}"
    APP_URL="$(url_with_db "$DATABASE_URL" "$(urlencode "$DB_NAME")")"
  else
    APP_URL="$DATABASE_URL"
    printf -v DB_NAME '%b' "${DB_NAME//%/\\x}" # percent-decode for SQL
  fi
  authority="$(url_authority "$DATABASE_URL")"
  userinfo=""
  [[ $authority == *@* ]] && userinfo="${authority%@*}"
  [[ $userinfo == *:* ]] && URL_HAS_PASSWORD=1
  hostport="${authority##*@}"
  if [[ $hostport == \[* ]]; then # [v6]:port
    PG_HOST="${hostport%%]*}"
    PG_HOST="${PG_HOST#[}"
    PG_PORT=""
    [[ $hostport == *]:* ]] && PG_PORT="${hostport##*]:}"
  else
    PG_HOST="${hostport%%:*}"
    PG_PORT=""
    [[ $hostport == *:* ]] && PG_PORT="${hostport#*:}"
  fi
  if [[ $DATABASE_URL =~ [?\&]host=([^\&]*) ]]; then PG_HOST="${BASH_REMATCH[1]}"; fi
  if [[ $DATABASE_URL =~ [?\&]port=([^\&]*) ]]; then PG_PORT="${BASH_REMATCH[1]}"; fi
  PORT_EXPLICIT=1 # never re-point an explicit DATABASE_URL
  PG_PORT="${PG_PORT:-5432}"
else
  DB_NAME="${LIANQIN_DB:-lianqin}"
  PG_HOST="${PGHOST:-127.0.0.1}"
  [[ -n ${PGPORT:-} ]] && PORT_EXPLICIT=1
  PG_PORT="${PGPORT:-5432}"
  PG_USER="${PGUSER:-postgres}"
  [[ -n ${PGPASSWORD:-} ]] && URL_HAS_PASSWORD=1
fi

build_urls() {
  if [[ -z ${DATABASE_URL:-} ]]; then
    if [[ $PG_HOST == /* ]]; then
      APP_URL="postgres://$(urlencode "$PG_USER")@localhost:${PG_PORT}/$(urlencode "$DB_NAME")?host=$(urlencode "$PG_HOST")"
    elif [[ $PG_HOST == *:* ]]; then
      APP_URL="postgres://$(urlencode "$PG_USER")@[${PG_HOST}]:${PG_PORT}/$(urlencode "$DB_NAME")"
    else
      APP_URL="postgres://$(urlencode "$PG_USER")@${PG_HOST}:${PG_PORT}/$(urlencode "$DB_NAME")"
    fi
  fi
  ADMIN_URL="$(url_with_db "$APP_URL" "${LIANQIN_PG_ADMIN_DB:-postgres}")"
}
build_urls

IS_LOCAL=0
case "$PG_HOST" in
  "" | 127.0.0.1 | localhost | ::1 | /*) IS_LOCAL=1 ;;
esac

log "target: host=${PG_HOST:-<socket>} port=$PG_PORT db=$DB_NAME ($([[ $IS_LOCAL == 1 ]] && echo local || echo remote))"

# ---------------------------------------------------------------- serialise
LOCK_FILE="/tmp/lianqin-ensure-postgres.lock"
exec 9>>"$LOCK_FILE"
if command -v flock >/dev/null 2>&1; then
  flock -w 900 9 || die "timed out waiting for another ensure-postgres run (lock $LOCK_FILE)"
fi

# ---------------------------------------------------------------- helpers
server_ready() {
  command -v pg_isready >/dev/null 2>&1 || return 1
  pg_isready -q -t 3 -d "$ADMIN_URL" >/dev/null 2>&1
}

port_open() {
  local h="$PG_HOST"
  [[ -z $h || $h == /* || $h == localhost ]] && h=127.0.0.1
  (exec 3<>"/dev/tcp/$h/$PG_PORT") 2>/dev/null
}

wait_ready() {
  local i
  for ((i = 0; i < WAIT_SECS; i++)); do
    server_ready && return 0
    sleep 1
  done
  return 1
}

# prints "VER NAME STATUS LOGFILE" of the Debian cluster on $PG_PORT (or nothing)
cluster_for_port() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters --no-header 2>/dev/null | awk -v p="$1" '$3 == p { print $1, $2, $4, $7; exit }'
}

any_cluster() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters --no-header 2>/dev/null | awk '{ print $1, $2, $3; exit }'
}

install_server() {
  log "no PostgreSQL cluster found; installing PostgreSQL + PostGIS from apt"
  local ver=""
  apt_update_once
  ver="$(apt-cache depends postgresql 2>/dev/null | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n1 || true)"
  if [[ -n $ver ]]; then
    apt_install --no-recommends postgresql "postgresql-$ver" "postgresql-$ver-postgis-3" postgresql-client
  else
    apt_install --no-recommends postgresql postgresql-client
    # shellcheck disable=SC2012
    ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
    [[ -n $ver ]] || die "installed postgresql but /etc/postgresql is empty; cannot tell the server version"
    apt_install --no-recommends "postgresql-$ver-postgis-3"
  fi
  if [[ -z "$(any_cluster)" ]]; then
    log "creating cluster $ver/main on port $PG_PORT"
    as_root pg_createcluster -p "$PG_PORT" "$ver" main >&2 || die "pg_createcluster $ver main failed"
  fi
}

start_local_server() {
  local line ver name status logf other
  line="$(cluster_for_port "$PG_PORT")"
  if [[ -z $line ]]; then
    other="$(any_cluster)"
    if [[ -z $other ]]; then
      install_server
      line="$(cluster_for_port "$PG_PORT")"
      other="$(any_cluster)"
    fi
    if [[ -z $line && -n $other ]]; then
      if [[ $PORT_EXPLICIT == 1 ]]; then
        die "port $PG_PORT was requested but the local cluster(s) listen elsewhere:
$(pg_lsclusters 2>&1)
Start one on $PG_PORT, or unset PGPORT / fix DATABASE_URL."
      fi
      read -r _ _ PG_PORT <<<"$other"
      warn "no cluster on the default port; using cluster '$other' instead (port $PG_PORT)"
      build_urls
      server_ready && return 0
      line="$(cluster_for_port "$PG_PORT")"
    fi
  fi
  [[ -n $line ]] || die "could not find or create a PostgreSQL cluster for port $PG_PORT"
  read -r ver name status logf <<<"$line"
  if [[ $status != online* ]]; then
    log "starting cluster $ver/$name (port $PG_PORT)"
    if ! as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2; then
      # a concurrent run may have started it meanwhile
      if ! server_ready; then
        [[ -f $logf ]] && tail -n 30 "$logf" >&2
        die "pg_ctlcluster $ver $name start failed (log above: $logf)"
      fi
    fi
  else
    log "cluster $ver/$name reports online; waiting for it to accept connections"
  fi
  wait_ready || {
    [[ -f $logf ]] && tail -n 30 "$logf" >&2
    die "PostgreSQL on port $PG_PORT did not become ready within ${WAIT_SECS}s"
  }
}

# Let password-less TCP connections from localhost in (trust), once.
fix_local_auth() {
  local line ver name hba marker="# lianqin: trust local TCP (added by deploy/ensure-postgres.sh)"
  line="$(cluster_for_port "$PG_PORT")"
  [[ -n $line ]] || return 1
  read -r ver name _ _ <<<"$line"
  hba="/etc/postgresql/$ver/$name/pg_hba.conf"
  [[ -f $hba ]] || return 1
  if grep -qF "$marker" "$hba"; then
    return 1 # already done; did not help
  fi
  warn "password authentication rejected a password-less local TCP login; adding 'trust' for 127.0.0.1/::1 to $hba (dev/CI only; LIANQIN_PG_FIX_AUTH=0 disables this)"
  local tmp
  tmp="$(mktemp)"
  {
    printf '%s\n' "$marker" \
      "host    all             all             127.0.0.1/32            trust" \
      "host    all             all             ::1/128                 trust"
    cat "$hba"
  } >"$tmp"
  # shellcheck disable=SC2016 # $1/$2 expand in the inner shell
  as_root sh -c 'cat "$1" > "$2"' sh "$tmp" "$hba"
  rm -f "$tmp"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >&2 || return 1
  sleep 1
}

# ---------------------------------------------------------------- 1. client tools
if ! command -v psql >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
  if [[ $IS_LOCAL == 1 ]] && ! port_open && [[ -z "$(any_cluster)" ]]; then
    : # the server install below brings the client along
  else
    log "psql/pg_isready missing; installing postgresql-client"
    apt_install --no-recommends postgresql-client
  fi
fi

# ---------------------------------------------------------------- 2. reachable server
if server_ready; then
  log "server on port $PG_PORT is accepting connections"
else
  [[ $IS_LOCAL == 1 ]] ||
    die "PostgreSQL at $PG_HOST:$PG_PORT is not reachable, and it is not local so it cannot be started from here"
  start_local_server
  log "server on port $PG_PORT is accepting connections"
fi

# ---------------------------------------------------------------- 3. authentication
if ! err="$(psql_q "$ADMIN_URL" -c 'select 1' 2>&1 >/dev/null)"; then
  if [[ $IS_LOCAL == 1 && $URL_HAS_PASSWORD == 0 && ${LIANQIN_PG_FIX_AUTH:-1} != 0 ]] &&
    grep -qiE 'password|authentication|pg_hba' <<<"$err" && fix_local_auth; then
    err="$(psql_q "$ADMIN_URL" -c 'select 1' 2>&1 >/dev/null)" || die "cannot log in to PostgreSQL: $err"
  else
    die "cannot log in to PostgreSQL ($ADMIN_URL): $err"
  fi
fi

# ---------------------------------------------------------------- 4. PostGIS
version_num="$(psql_q "$ADMIN_URL" -c 'show server_version_num')"
major=$((version_num / 10000))
log "server version $version_num (major $major)"
has_postgis() {
  [[ "$(psql_q "$ADMIN_URL" -c "select 1 from pg_available_extensions where name = 'postgis'")" == 1 ]]
}
if has_postgis; then
  log "PostGIS extension is available"
else
  [[ $IS_LOCAL == 1 ]] ||
    die "the PostGIS extension is not available on $PG_HOST:$PG_PORT; install PostGIS on that server"
  log "PostGIS is not available; installing postgresql-$major-postgis-3"
  apt_install --no-recommends "postgresql-$major-postgis-3"
  has_postgis || die "installed postgresql-$major-postgis-3 but the server still lists no 'postgis' extension (is the running server a Debian package of major $major?)"
  log "PostGIS extension is available"
fi

# ---------------------------------------------------------------- 5. application database
db_exists() {
  [[ "$(psql_q "$ADMIN_URL" -v db="$DB_NAME" <<<"select 1 from pg_database where datname = :'db';")" == 1 ]]
}
if db_exists; then
  log "database '$DB_NAME' exists"
else
  log "creating database '$DB_NAME'"
  if ! psql_q "$ADMIN_URL" -v db="$DB_NAME" <<<'create database :"db";' && ! db_exists; then
    die "could not create database '$DB_NAME'"
  fi
fi

# ---------------------------------------------------------------- result
case "$MODE" in
  env) printf 'DATABASE_URL=%s\n' "$APP_URL" ;;
  url) printf '%s\n' "$APP_URL" ;;
  export) printf 'export DATABASE_URL=%q\n' "$APP_URL" ;;
  admin) printf '%s\n' "$ADMIN_URL" ;;
esac
