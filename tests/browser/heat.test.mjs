// Headless-Chromium test of the wall's heat overlay (/?heat=1) against a REAL running lianqin server:
//   LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/
// POSTs incidents at a random spot, checks that heat cells are drawn (a fill layer has rendered features), the
// legend shows the numeric scale, and that one more POSTed incident raises its cell's intensity without a
// reload (from the stream's `heat` messages); H toggles the overlay. No requests to foreign hosts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, watch, close } from './harness.mjs';

const BASE = (process.env.LIANQIN_URL || '').replace(/\/+$/, '');
const SHOT = process.env.LIANQIN_HEAT_SCREENSHOT || '/tmp/lianqin-heat.png';

let context;
let page;
let userDataDir;
const pageErrors = [];
const consoleErrors = [];
const requests = [];

before(async () => {
  if (!BASE) return;
  ({ context, userDataDir } = await launch('heat'));
  page = context.pages()[0] || await context.newPage();
  watch(page, { pageErrors, consoleErrors, requests });
});

after(() => close(context, userDataDir));

async function post(body) {
  const r = await fetch(`${BASE}/api/v1/incidents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.status === 201 || r.status === 200, `POST /api/v1/incidents → ${r.status}: ${text}`);
  return text;
}

const heatInfo = (h3) => page.evaluate((h) => {
  const L = window.lianqin;
  const fills = L.map.queryRenderedFeatures({ layers: ['heat-fill'] });
  return {
    on: L.heat.on, res: L.heat.res, cells: L.heat.cells.size, messages: L.heat.messages, fetched: L.heat.fetched,
    error: L.heat.error, has: L.heat.cells.has(h), shown: L.heatDisplayed(h), raw: L.heat.cells.get(h)?.intensity ?? 0,
    rendered: fills.length, renderedMine: fills.some((f) => f.properties.h3 === h),
    visibility: L.map.getLayoutProperty('heat-fill', 'visibility'),
    legend: document.getElementById('heat-legend')?.hidden ? null : document.getElementById('heat-legend')?.innerText,
    marker: window.__heatTestMarker ?? null,
  };
}, h3);

test('大屏热力: ?heat=1 draws H3 cells with a numeric legend, a new incident raises its cell live; H toggles', { timeout: 150_000 }, async (t) => {
  assert.ok(BASE, 'LIANQIN_URL is not set: start a lianqin server and run e.g. '
    + 'LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/  (this test never skips)');
  const origin = new URL(BASE);
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  // a random spot in the urban area, so repeated runs on one server do not pile into the same cell
  const lon = 121.255 + Math.random() * 0.03;
  const lat = 28.635 + Math.random() * 0.025;

  const resp = await page.goto(`${BASE}/?heat=1`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  assert.ok(resp && resp.ok(), `GET /?heat=1 returned ${resp?.status()}`);
  await page.waitForFunction(() => window.lianqin?.ready === true && window.lianqin.connection === 'open' && window.lianqin.lastSeq !== null,
    null, { timeout: 45_000 });
  await page.evaluate(() => { window.__heatTestMarker = 'same-page'; });
  const h3 = await page.evaluate(([x, y]) => window.lianqin.heatCellOf(x, y), [lon, lat]);
  const info0 = await heatInfo(h3);
  t.diagnostic(`heat at start: ${JSON.stringify({ ...info0, legend: undefined })}`);
  assert.equal(info0.on, true, 'heat overlay is not on with ?heat=1');
  assert.equal(info0.visibility, 'visible');
  assert.ok(info0.res >= 7 && info0.res <= 10, `res ${info0.res}`);
  assert.equal(info0.fetched?.status, 200, `GET /api/v1/heat answered ${JSON.stringify(info0.fetched)} (${info0.error})`);

  // 1. three incidents now at one spot (+ a few around) → a heat cell there
  const mk = (i, dx = 0, dy = 0) => ({
    source: '110', source_id: `heat-${run}-${i}`, reported_at: new Date().toISOString(),
    lon: lon + dx, lat: lat + dy, category: '治安', description: '热力测试警情', address: '黄岩区热力测试路',
  });
  await post([mk(1), mk(2), mk(3), mk(4, 0.012, 0.004), mk(5, -0.01, -0.006)]);
  const first = await page.waitForFunction((h) => {
    const L = window.lianqin;
    if (!L.heat.cells.has(h) || L.heatDisplayed(h) < 2.5) return false;
    return L.map.queryRenderedFeatures({ layers: ['heat-fill'] }).some((f) => f.properties.h3 === h) ? L.heatDisplayed(h) : false;
  }, h3, { timeout: 15_000, polling: 200 }).then((x) => x.jsonValue())
    .catch(async (e) => { throw new Error(`heat cell ${h3} not drawn within 15 s: ${e.message}\n${JSON.stringify(await heatInfo(h3))}`); });
  const info1 = await heatInfo(h3);
  t.diagnostic(`after 3 incidents: ${JSON.stringify({ ...info1, legend: undefined })}`);
  assert.ok(info1.rendered > 0, 'heat-fill has no rendered features');
  assert.ok(info1.messages > 0, 'no `heat` stream message was applied (cells came only from the GET)');
  assert.ok(first >= 2.5 && first < 3.5, `three fresh incidents should give intensity ≈ 3, got ${first}`);

  // 2. the legend shows the numeric scale
  assert.ok(info1.legend, 'heat legend is hidden');
  assert.match(info1.legend, /警情热力/);
  assert.match(info1.legend, /半衰期/);
  const nums = (info1.legend.match(/≥?\d+(\.\d+)?/g) || []);
  assert.ok(nums.length >= 6 && nums.some((n) => n.startsWith('≥')), `legend numbers: ${nums.join(' ')}`);

  // 3. one more incident in that cell: its intensity rises without a reload
  await post([mk(6)]);
  const risen = await page.waitForFunction(([h, before]) => window.lianqin.heatDisplayed(h) > before + 0.8 && window.lianqin.heatDisplayed(h),
    [h3, first], { timeout: 10_000, polling: 100 }).then((x) => x.jsonValue())
    .catch(async (e) => { throw new Error(`intensity of ${h3} did not rise within 10 s: ${e.message}\n${JSON.stringify(await heatInfo(h3))}`); });
  const info2 = await heatInfo(h3);
  t.diagnostic(`after the 4th incident: ${first.toFixed(3)} → ${risen.toFixed(3)}, messages ${info2.messages}`);
  assert.equal(info2.marker, 'same-page', 'the page was reloaded');
  assert.ok(info2.renderedMine, 'the cell is not drawn any more');
  // the map's source is updated asynchronously (worker): wait for the drawn feature to carry the new value
  const drawnIntensity = await page.waitForFunction(([h, before]) => {
    const f = window.lianqin.map.queryRenderedFeatures({ layers: ['heat-fill'] }).find((x) => x.properties.h3 === h);
    return f && f.properties.intensity > before + 0.8 ? f.properties.intensity : false;
  }, [h3, first], { timeout: 5_000, polling: 100 }).then((x) => x.jsonValue()).catch(() => null);
  assert.ok(drawnIntensity > first + 0.8, `the map still draws the old intensity (${drawnIntensity})`);

  // 4. local decay between messages: the displayed value never exceeds the last received one
  const decay = await page.evaluate((h) => ({ raw: window.lianqin.heat.cells.get(h).intensity, shown: window.lianqin.heatDisplayed(h) }), h3);
  assert.ok(decay.shown <= decay.raw + 1e-9, `decay: shown ${decay.shown} > received ${decay.raw}`);

  await page.waitForTimeout(500);
  await page.screenshot({ path: SHOT });
  // and a close-up around the test cell (to look at the colours)
  const pt = await page.evaluate(([x, y]) => { const p = window.lianqin.map.project([x, y]); const r = document.getElementById('map').getBoundingClientRect(); return { x: p.x + r.left, y: p.y + r.top }; }, [lon, lat]);
  await page.screenshot({ path: SHOT.replace(/\.png$/, '-zoom.png'), clip: { x: Math.max(0, pt.x - 240), y: Math.max(0, pt.y - 160), width: 480, height: 320 } });
  t.diagnostic(`screenshot: ${SHOT}`);

  // 5. H toggles the overlay off and on again (re-subscribes; cells come back from the snapshot / GET)
  await page.keyboard.press('h');
  await page.waitForFunction(() => window.lianqin.heat.on === false
    && window.lianqin.map.getLayoutProperty('heat-fill', 'visibility') === 'none'
    && document.getElementById('heat-legend').hidden, null, { timeout: 5_000 });
  assert.ok(!new URL(page.url()).searchParams.has('heat'), 'the URL still says heat=1');
  await page.waitForTimeout(1200); // ≤ 1 subscribe per second
  await page.keyboard.press('H');
  await page.waitForFunction((h) => window.lianqin.heat.on === true && window.lianqin.heatDisplayed(h) > 3.5
    && window.lianqin.map.queryRenderedFeatures({ layers: ['heat-fill'] }).some((f) => f.properties.h3 === h), h3, { timeout: 15_000 });
  await page.waitForFunction(() => window.lianqin.connection === 'open', null, { timeout: 10_000 });

  // 6. hygiene
  assert.deepEqual(pageErrors, [], `uncaught page errors:\n${pageErrors.join('\n')}`);
  const foreign = requests.filter((u) => {
    const p = new URL(u);
    if (p.protocol === 'data:' || p.protocol === 'blob:') return false;
    return p.hostname !== origin.hostname || (p.port || defaultPort(p)) !== (origin.port || defaultPort(origin));
  });
  assert.deepEqual(foreign, [], `requests to hosts other than ${origin.host}:\n${foreign.join('\n')}`);
  if (consoleErrors.length) t.diagnostic(`console errors (not fatal): ${consoleErrors.join(' | ')}`);
});

function defaultPort(u) {
  return { 'http:': '80', 'ws:': '80', 'https:': '443', 'wss:': '443' }[u.protocol] || '';
}
