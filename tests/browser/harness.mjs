// Shared set-up of the browser tests: Debian's Chromium through playwright-core,
// headless, a fresh profile directory, a 1920×1080 zh-CN page in Asia/Shanghai.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
