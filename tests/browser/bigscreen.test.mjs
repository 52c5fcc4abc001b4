// Headless-Chromium test of the 指挥大屏 against a REAL running lianqin server.
//   LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/
// The harness starts the server (fresh PostGIS + Huangyan geodata, no demo feed); this test only drives it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, watch, close } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SCREENSHOT = process.env.LIANQIN_SCREENSHOT || path.join(REPO, 'docs', 'screenshot-bigscreen.png');
const BASE = (process.env.LIANQIN_URL || '').replace(/\/+$/, '');

let context;
let page;
let userDataDir;
const pageErrors = [];
const consoleErrors = [];
const requests = [];

before(async () => {
  if (!BASE) return;
  ({ context, userDataDir } = await launch('wall'));
  page = context.pages()[0] || await context.newPage();
  watch(page, { pageErrors, consoleErrors, requests });
});

after(() => close(context, userDataDir));

test('大屏: layers render, a POSTed incident appears live, no foreign requests', { timeout: 120_000 }, async (t) => {
  assert.ok(BASE, 'LIANQIN_URL is not set: start a lianqin server and run e.g. '
    + 'LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/  (this test never skips)');
  const origin = new URL(BASE);

  // 1. open the page and wait for layers + map idle
  const resp = await page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  assert.ok(resp && resp.ok(), `GET / returned ${resp?.status()}`);
  await page.waitForFunction(() => window.lianqin && window.lianqin.ready === true, null, { timeout: 45_000 })
    .catch(async (e) => {
      const dbg = await page.evaluate(() => ({ errors: window.lianqin?.errors, layersLoaded: window.lianqin?.layersLoaded })).catch(() => null);
      throw new Error(`page never became ready: ${e.message}\nstate: ${JSON.stringify(dbg)}\npage errors: ${pageErrors.join('\n')}`);
    });
  assert.equal(await page.evaluate(() => document.body.dataset.ready), '1');

  // 2. the map rendered the district
  const mapInfo = await page.evaluate(() => {
    const { map } = window.lianqin;
    const canvas = document.querySelector('#map canvas.maplibregl-canvas');
    const townships = map.getSource('townships');
    const data = window.lianqin.layers?.townships;
    const n = data && typeof data === 'object' && data.features ? data.features.length : null;
    return {
      canvas: !!canvas, cw: canvas?.width || 0, ch: canvas?.height || 0,
      townshipFeatures: n,
      renderedTownships: map.queryRenderedFeatures({ layers: ['townships-fill'] }).length,
      renderedBoundary: map.queryRenderedFeatures({ layers: ['boundary-line', 'boundary-fill'] }).length,
      townshipNames: [...new Set(map.querySourceFeatures('townships').map((f) => f.properties.name))].length,
      townshipLabels: document.querySelectorAll('.lbl-township').length,
      zoom: map.getZoom(),
    };
  });
  t.diagnostic(`map: ${JSON.stringify(mapInfo)}`);
  assert.ok(mapInfo.canvas && mapInfo.cw >= 800 && mapInfo.ch >= 500, `map canvas missing or tiny: ${mapInfo.cw}x${mapInfo.ch}`);
  assert.equal(mapInfo.townshipFeatures ?? mapInfo.townshipNames, 19, 'townships source should hold 19 features');
  assert.equal(mapInfo.townshipLabels, 19, 'one label per township');
  assert.ok(mapInfo.renderedBoundary > 0, 'district boundary not rendered');
  assert.ok(mapInfo.renderedTownships >= 19, `only ${mapInfo.renderedTownships} township fills rendered`);

  // 3. the live stream is connected
  await page.waitForFunction(() => window.lianqin.connection === 'open' && window.lianqin.lastSeq !== null, null, { timeout: 20_000 });

  // 4. POST an incident and watch it arrive without a reload
  const sourceId = `browser-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const body = {
    source: '110', source_id: sourceId, reported_at: new Date().toISOString(),
    lon: 121.2600, lat: 28.6500, category: '治安', description: '浏览器测试警情', address: '黄岩区测试路1号',
  };
  const post = await fetch(`${BASE}/api/v1/incidents`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const postText = await post.text();
  assert.ok(post.status === 201 || post.status === 200, `POST /api/v1/incidents → ${post.status}: ${postText}`);
  let postedId = null;
  try {
    const j = JSON.parse(postText);
    postedId = j?.id ?? j?.properties?.id ?? j?.incident?.id ?? j?.feature?.properties?.id ?? null;
  } catch { /* body is optional */ }
  t.diagnostic(`POST → ${post.status}, id=${postedId}`);

  const arrived = await page.waitForFunction(({ sid }) => {
    const L = window.lianqin;
    let hit = null;
    for (const f of L.incidents.values()) if (f.properties.source_id === sid) { hit = f; break; }
    if (!hit) return false;
    const id = hit.properties.id;
    const row = document.querySelector(`#incident-list li[data-id="${CSS.escape(String(id))}"]`);
    if (!row || !row.textContent.includes('浏览器测试警情')) return false;
    const rendered = L.map.queryRenderedFeatures({ layers: ['incidents-circle'] })
      .some((f) => String(f.properties.id) === String(id));
    return rendered ? { id, row: row.textContent.replace(/\s+/g, ' ').trim() } : false;
  }, { sid: sourceId }, { timeout: 10_000, polling: 100 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await page.evaluate(({ sid }) => ({
        n: window.lianqin.incidents.size, lastSeq: window.lianqin.lastSeq, conn: window.lianqin.connection,
        mine: [...window.lianqin.incidents.values()].filter((f) => f.properties.source_id === sid).map((f) => f.properties.id),
      }), { sid: sourceId });
      throw new Error(`incident ${sourceId} did not show up in state + list + map within 10 s: ${e.message}\n${JSON.stringify(dbg)}`);
    });
  t.diagnostic(`arrived: ${JSON.stringify(arrived)}`);
  if (postedId !== null) assert.equal(String(arrived.id), String(postedId), 'incident id differs from the POST response');
  assert.match(arrived.row, /110/);
  assert.match(arrived.row, /治安/);

  // 5. screenshot as the commander sees it (let the arrival pulse and label pass settle)
  await page.waitForTimeout(600);
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  t.diagnostic(`screenshot: ${SCREENSHOT}`);

  // 6. hygiene: no uncaught errors, nothing fetched from anywhere but the server
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
