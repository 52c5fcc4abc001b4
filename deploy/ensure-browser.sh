#!/usr/bin/env bash
# deploy/ensure-browser.sh — make sure Debian's Chromium, ChromeDriver and a
# CJK font (WenQuanYi Zen Hei) are installed, and install the browser tests'
# npm dependencies (tests/browser, playwright-core driving /usr/bin/chromium).
# Never downloads a browser of its own. Assumes root for apt-get.
set -euo pipefail
LQ_PREFIX="[lianqin][browser]"
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

FONT=/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver && -f $FONT ]]; then
  log "chromium, chromedriver and fonts-wqy-zenhei are present"
else
  apt_install chromium chromium-driver fonts-wqy-zenhei
  [[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is still missing after apt-get install chromium"
fi
log "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium (version unknown)')"

TESTS_DIR="$LIANQIN_ROOT/tests/browser"
[[ -f $TESTS_DIR/package.json ]] ||
  die "tests/browser/package.json not found: the browser test project is not in this checkout yet."

ensure_node
# playwright-core never downloads browsers; make sure nothing else tries to.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
npm_ci_if_needed "$TESTS_DIR"
log "tests/browser dependencies are installed"
