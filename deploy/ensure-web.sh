#!/usr/bin/env bash
# deploy/ensure-web.sh — install the web front end's npm dependencies (only
# when web/node_modules is missing or older than package.json /
# package-lock.json) and build it into web/dist.
# Needs node + npm (falls back to Debian's nodejs/npm packages; assumes root).
set -euo pipefail
LQ_PREFIX="[lianqin][web]"
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

WEB_DIR="$LIANQIN_ROOT/web"
[[ -f $WEB_DIR/package.json ]] ||
  die "web/package.json not found: the web front end (npm project building into web/dist) is not in this checkout yet."

ensure_node
log "node $(node --version), npm $(npm --version)"
npm_ci_if_needed "$WEB_DIR"

log "npm run build (web/)"
(cd "$WEB_DIR" && npm run build) >&2 || die "'npm run build' failed in web/"
[[ -f $WEB_DIR/dist/index.html ]] ||
  die "'npm run build' succeeded but web/dist/index.html does not exist; the server serves web/dist"
log "web/dist is built"
