// Shared set-up of the browser tests: Debian's Chromium through playwright-core,
// headless, a fresh profile directory, a 1920×1080 zh-CN page in Asia/Shanghai.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Launches a persistent context in a fresh profile; returns { context, userDataDir }. */
export async function launch(tag, extra = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), `lianqin-chromium-${tag}-`));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1920, height: 1080 },
    deviceScaleFactor: 1,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
    ...extra,
  });
  return { context, userDataDir };
}

/** Records a page's uncaught errors, console errors and every URL it requests (HTTP and WebSocket). */
export function watch(page, { pageErrors, consoleErrors, requests }) {
  page.on('pageerror', (e) => pageErrors.push(String(e?.stack || e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => requests.push(ws.url()));
}

/** Closes the context and removes its profile directory. */
export async function close(context, userDataDir) {
  await context?.close().catch(() => {});
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
}

/**
 * One browser for a test file: launched before its tests (when LIANQIN_URL is set), closed after them.
 * Returns a holder whose `page`, `context` are set by then, with the page watched into
 * `pageErrors`, `consoleErrors` and `requests`.
 */
export function browserSession(tag, { base = process.env.LIANQIN_URL } = {}) {
  const s = { context: null, page: null, userDataDir: null, pageErrors: [], consoleErrors: [], requests: [] };
  before(async () => {
    if (!base) return;
    ({ context: s.context, userDataDir: s.userDataDir } = await launch(tag));
    s.page = s.context.pages()[0] || await s.context.newPage();
    watch(s.page, s);
  });
  after(() => close(s.context, s.userDataDir));
  return s;
}

/** The requests that went anywhere but `base`'s host and port (data: and blob: URLs aside). */
export function foreignRequests(requests, base) {
  const origin = new URL(base);
  const port = (u) => u.port || (u.protocol === 'https:' || u.protocol === 'wss:' ? '443' : '80');
  return requests.filter((u) => {
    let p;
    try { p = new URL(u); } catch { return true; }
    if (p.protocol === 'data:' || p.protocol === 'blob:') return false;
    return p.hostname !== origin.hostname || port(p) !== port(origin);
  });
}
