// Headless-Chromium test of the 调度台 (console.html) and the 指挥大屏 together, against a REAL running
// lianqin server:  LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/
// The test makes its own data through the API (3 responders with fresh fixes around a new incident), then
// drives the console: select the incident → candidates (nearest first, distance + ETA, lines on the map) →
// a refused 派遣 (409, reason shown) → 派遣 the nearest → the wall shows it without reload → 确认.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, close } from './harness.mjs';

const BASE = (process.env.LIANQIN_URL || '').replace(/\/+$/, '');
const SHOT_DIR = process.env.LIANQIN_SCREENSHOT_DIR || os.tmpdir();
const DISPATCHED_BLUE = '#3B82F6';

let context;
let userDataDir;
const pageErrors = [];
const consoleErrors = [];
const requests = [];

before(async () => {
  if (!BASE) return;
  ({ context, userDataDir } = await launch('console'));
});

after(() => close(context, userDataDir));

function watch(page, name) {
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${String(e?.stack || e)}`));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${name}: ${m.text()}`); });
  page.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => requests.push(ws.url()));
}

async function api(method, p, body) {
  const r = await fetch(`${BASE}${p}`, {
    method, headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, text, json };
}

// metres → degrees near 28.6°N
const dLat = (m) => m / 111_195;
const dLon = (m, lat) => m / (111_195 * Math.cos((lat * Math.PI) / 180));
function haversine([lon1, lat1], [lon2, lat2]) {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.sqrt(a));
}

async function waitReady(page, globalName, what) {
  await page.waitForFunction((g) => window[g] && window[g].ready === true && window[g].connection === 'open' && window[g].lastSeq !== null,
    globalName, { timeout: 45_000 })
    .catch(async (e) => {
      const dbg = await page.evaluate((g) => ({ errors: window[g]?.errors, conn: window[g]?.connection, ready: window[g]?.ready }), globalName).catch(() => null);
      throw new Error(`${what} never became ready+connected: ${e.message}\nstate: ${JSON.stringify(dbg)}\npage errors: ${pageErrors.join('\n')}`);
    });
}

test('调度台: candidates, lines, 409, 派遣 → the wall shows it live, 确认; no foreign requests', { timeout: 180_000 }, async (t) => {
  assert.ok(BASE, 'LIANQIN_URL is not set: start a lianqin server and run e.g. '
    + 'LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/  (this test never skips)');
  const origin = new URL(BASE);
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

  // 1. data through the API: an incident with three responders 60 m / 320 m / 750 m away
  const lon0 = 121.2600 + (Math.random() - 0.5) * 0.01;
  const lat0 = 28.6500 + (Math.random() - 0.5) * 0.006;
  const R = [
    { id: `BT-${run}-1`, name: `测甲${run.slice(-3)}`, type: 'patrol_car', off: [60, 0] },
    { id: `BT-${run}-2`, name: `测乙${run.slice(-3)}`, type: 'police', off: [0, 320] },
    { id: `BT-${run}-3`, name: `测丙${run.slice(-3)}`, type: 'grid', off: [-750, 0] },
  ].map((r) => ({ ...r, lon: lon0 + dLon(r.off[0], lat0), lat: lat0 + dLat(r.off[1]) }));

  const roster = await api('POST', '/api/v1/responders', R.map((r) => ({
    id: r.id, name: r.name, type: r.type, skills: ['driving', 'first_aid'], department: '浏览器测试所',
    phone: '13812341234', shift: '00:00-24:00', status: 'available',
  })));
  assert.ok(roster.status === 200 || roster.status === 201, `POST /api/v1/responders → ${roster.status}: ${roster.text}`);
  const ts = new Date().toISOString();
  const pos = await api('POST', '/api/v1/responders/positions',
    R.map((r) => ({ id: r.id, lon: r.lon, lat: r.lat, ts, speed: 0, heading: 90, accuracy: 8 })));
  assert.equal(pos.status, 200, `POST /api/v1/responders/positions → ${pos.status}: ${pos.text}`);
  assert.equal(pos.json?.accepted, 3, `positions not all accepted: ${pos.text}`);

  // 2. open the console and the wall (two pages, one browser), both live
  const cons = await context.newPage();
  const wall = context.pages().find((p) => p !== cons && p.url() === 'about:blank') || await context.newPage();
  watch(cons, 'console'); watch(wall, 'wall');
  const r1 = await cons.goto(`${BASE}/console.html`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  assert.ok(r1 && r1.ok(), `GET /console.html returned ${r1?.status()}`);
  const r2 = await wall.goto(`${BASE}/`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  assert.ok(r2 && r2.ok(), `GET / returned ${r2?.status()}`);
  await waitReady(cons, 'lianqinConsole', 'console');
  await waitReady(wall, 'lianqin', 'big screen');
  assert.equal(await cons.evaluate(() => document.querySelector('.hdr-link')?.getAttribute('href')), './', 'console header links back to the wall');
  assert.equal(await wall.evaluate(() => document.querySelectorAll('a[href*="console"]').length), 0, 'the wall links to the console nowhere');

  // the responders arrived on both screens through the stream snapshot or deltas
  for (const [page, g] of [[cons, 'lianqinConsole'], [wall, 'lianqin']]) {
    await page.waitForFunction(({ g: gg, ids }) => ids.every((id) => window[gg].responders.get(id)?.properties.status === 'available'),
      { g, ids: R.map((r) => r.id) }, { timeout: 10_000 });
  }

  const sourceId = `console-${run}`;
  const inc = await api('POST', '/api/v1/incidents', {
    source: '110', source_id: sourceId, reported_at: new Date().toISOString(), lon: lon0, lat: lat0,
    category: '纠纷', description: '调度台浏览器测试', address: '黄岩区调度测试路8号', priority: 2,
  });
  assert.ok(inc.status === 201 || inc.status === 200, `POST /api/v1/incidents → ${inc.status}: ${inc.text}`);
  const incId = inc.json?.id ?? inc.json?.properties?.id;
  assert.ok(incId !== undefined && incId !== null, `no id in POST /api/v1/incidents answer: ${inc.text}`);
  t.diagnostic(`incident ${incId} at ${lon0.toFixed(5)},${lat0.toFixed(5)}; responders ${R.map((r) => r.id).join(', ')}`);

  // 3. click it in the console's queue
  const row = cons.locator(`#queue li[data-id="${incId}"]`);
  await row.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await row.innerText(), /待派/);
  await row.click();

  await cons.waitForFunction((id) => {
    const S = window.lianqinConsole;
    return String(S.candidatesFor) === String(id) && document.querySelectorAll('#cand-list .cand').length >= 3;
  }, incId, { timeout: 10_000 }).catch(async (e) => {
    const dbg = await cons.evaluate(() => ({ sel: window.lianqinConsole.selectedId, for: window.lianqinConsole.candidatesFor, n: window.lianqinConsole.candidates.length, msg: document.getElementById('msg').textContent }));
    throw new Error(`candidates did not show: ${e.message}\n${JSON.stringify(dbg)}`);
  });
  const cands = await cons.evaluate(() => [...document.querySelectorAll('#cand-list .cand')].map((li) => ({
    rank: Number(li.dataset.rank), rid: li.dataset.rid, text: li.innerText.replace(/\s+/g, ' ').trim(),
    dist: li.querySelector('.cand-dist')?.textContent.trim(), eta: li.querySelector('.cand-eta')?.textContent.trim(),
  })));
  t.diagnostic(`candidates: ${JSON.stringify(cands)}`);
  assert.deepEqual(cands.map((c) => c.rank), cands.map((_, i) => i + 1), 'ranks listed best first');
  assert.equal(cands[0].rid, R[0].id, `the nearest responder (${R[0].id}, 60 m) should be ranked first`);
  assert.match(cands[0].text, new RegExp(R[0].name));
  assert.match(cands[0].text, /巡逻车/, 'type label shown');
  assert.match(cands[0].text, /空闲/, 'status shown');
  const m = cands[0].dist.match(/^([\d.]+) (m|km)$/);
  assert.ok(m, `distance text "${cands[0].dist}"`);
  const shownM = Number(m[1]) * (m[2] === 'km' ? 1000 : 1);
  const trueM = haversine([R[0].lon, R[0].lat], [lon0, lat0]);
  assert.ok(Math.abs(shownM - trueM) <= 10 + trueM * 0.1, `distance shown ${shownM} m, expected ≈ ${trueM.toFixed(0)} m`);
  assert.match(cands[0].eta, /预计 (<1|\d+) 分钟/, `ETA text "${cands[0].eta}"`);
  assert.ok(cands.findIndex((c) => c.rid === R[1].id) > 0, 'the 320 m responder is listed below the first');

  // 4. one line per candidate, drawn on the map
  const nCand = cands.length;
  const lines = await cons.waitForFunction((n) => {
    const S = window.lianqinConsole;
    if (S.candidateLines.features.length !== n) return false;
    const ranks = new Set(S.map.queryRenderedFeatures({ layers: ['candidate-lines'] }).map((f) => f.properties.rank));
    return ranks.size === n ? { source: S.candidateLines.features.length, rendered: [...ranks].sort() } : false;
  }, nCand, { timeout: 10_000, polling: 200 }).then((h) => h.jsonValue());
  t.diagnostic(`candidate lines: ${JSON.stringify(lines)}`);
  assert.equal(await cons.locator('.rank-badge').count(), nCand, 'one rank badge per candidate');

  // 5. a refused 派遣: the third responder turns busy meanwhile → 409 and its reason is shown
  const third = cands.find((c) => c.rid === R[2].id);
  if (third) {
    const st = await api('POST', `/api/v1/responders/${encodeURIComponent(R[2].id)}/status`, { status: 'busy' });
    assert.equal(st.status, 200, `POST status busy → ${st.status}: ${st.text}`);
    await cons.waitForFunction((id) => window.lianqinConsole.responders.get(id)?.properties.status === 'busy', R[2].id, { timeout: 10_000 });
    await cons.locator(`#cand-list button[data-act="assign"][data-rid="${R[2].id}"]`).click();
    const refused = await cons.waitForFunction(() => {
      const S = window.lianqinConsole;
      const el = document.getElementById('msg');
      return S.lastAssign && S.lastAssign.status >= 400 && !el.hidden ? { status: S.lastAssign.status, body: S.lastAssign.body, text: el.textContent } : false;
    }, null, { timeout: 10_000 }).then((h) => h.jsonValue());
    t.diagnostic(`refused: ${JSON.stringify(refused)}`);
    assert.equal(refused.status, 409, 'assigning a busy responder answers 409');
    assert.ok(refused.body?.reason && refused.text.includes(refused.body.reason), `the 409 reason is shown: ${refused.text}`);
  } else {
    t.diagnostic(`${R[2].id} not among the candidates: 409 step skipped`);
  }

  // 6. 派遣 the first candidate with one click
  await cons.locator(`#cand-list button[data-act="assign"][data-rid="${R[0].id}"]`).click();
  const posted = await cons.waitForFunction(() => {
    const a = window.lianqinConsole.lastAssign;
    return a && a.status > 0 && a.responderId ? a : false;
  }, null, { timeout: 10_000 }).then((h) => h.jsonValue());
  assert.equal(posted.status, 201, `assign answered ${posted.status}: ${JSON.stringify(posted.body)}`);
  const asgId = posted.body?.assignments?.[0]?.id;
  assert.ok(asgId !== undefined, `no assignment id in ${JSON.stringify(posted.body)}`);

  // 7. the wall (other page, no reload): responder dispatched + blue; incident shows 已派
  const wallSaw = await wall.waitForFunction(({ rid, iid }) => {
    const L = window.lianqin;
    const f = L.responders.get(rid);
    if (f?.properties.status !== 'dispatched') return false;
    const drawnR = L.map.queryRenderedFeatures({ layers: ['responders-circle'] }).find((x) => String(x.properties.id) === rid);
    if (!drawnR || drawnR.properties.status !== 'dispatched') return false;
    if (!L.assignedIncidents.has(String(iid))) return false;
    const ring = L.map.queryRenderedFeatures({ layers: ['incidents-assigned'] }).some((x) => String(x.properties.id) === String(iid));
    const li = document.querySelector(`#incident-list li[data-id="${iid}"]`);
    if (!ring || !li || !/已派/.test(li.textContent)) return false;
    const paint = drawnR.layer?.paint?.['circle-color'];
    return { color: drawnR.properties._color, paint: paint ? String(paint) : null, row: li.textContent.replace(/\s+/g, ' ').trim() };
  }, { rid: R[0].id, iid: incId }, { timeout: 10_000, polling: 200 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await wall.evaluate(({ rid, iid }) => ({
        status: window.lianqin.responders.get(rid)?.properties.status, open: [...(window.lianqin.assignedIncidents.get(String(iid)) || [])], seq: window.lianqin.lastSeq,
      }), { rid: R[0].id, iid: incId });
      throw new Error(`the wall did not show the dispatch within 10 s: ${e.message}\n${JSON.stringify(dbg)}`);
    });
  t.diagnostic(`wall: ${JSON.stringify(wallSaw)}`);
  assert.equal(wallSaw.color.toUpperCase(), DISPATCHED_BLUE, 'dispatched responders are drawn blue');
  if (wallSaw.paint) assert.match(wallSaw.paint.replace(/\s/g, ''), /^(rgba\(59,130,246,1\)|#3b82f6)$/i, `evaluated circle-color ${wallSaw.paint}`);

  // …and the console itself learnt it from the stream
  await cons.waitForFunction(({ rid, iid, aid }) => {
    const S = window.lianqinConsole;
    return S.responders.get(rid)?.properties.status === 'dispatched' && S.assignments.get(aid)?.status === 'dispatched'
      && /已派/.test(document.querySelector(`#queue li[data-id="${iid}"]`)?.textContent || '');
  }, { rid: R[0].id, iid: incId, aid: asgId }, { timeout: 10_000 });

  // 8. 确认 (ack) from the assignment row → acked on both screens
  const ack = cons.locator(`#asg-list button[data-act="ack"][data-aid="${asgId}"]`);
  await ack.waitFor({ state: 'visible', timeout: 10_000 });
  await ack.click();
  for (const [page, g] of [[cons, 'lianqinConsole'], [wall, 'lianqin']]) {
    await page.waitForFunction(({ gg, aid }) => window[gg].assignments.get(aid)?.status === 'acked', { gg: g, aid: asgId }, { timeout: 10_000 });
  }
  assert.equal((await cons.evaluate(() => window.lianqinConsole.lastAction)).status, 200);

  // 9. a re-offer after a timeout shows a notice on the wall (fed through the stream's own handler, in the
  //    server's order: the timed-out assignment first, then the new one with `replaces`)
  await wall.evaluate(() => {
    const L = window.lianqin;
    L.applyAssignment({ id: -1, incident_id: -1, responder_id: 'T-A', responder_name: '张三', status: 'dispatched', created_at: new Date().toISOString() });
    L.applyAssignment({ id: -1, incident_id: -1, responder_id: 'T-A', responder_name: '张三', status: 'timed_out', reason: 'timed out' });
    L.applyAssignment({ id: -2, incident_id: -1, responder_id: 'T-B', responder_name: '李四', status: 'dispatched', replaces: -1, created_at: new Date().toISOString() });
  });
  await wall.waitForFunction(() => /超时未确认，已改派 张三 → 李四/.test(document.getElementById('notices').textContent), null, { timeout: 5000 });

  // 10. screenshots, as the commander sees them
  await cons.waitForTimeout(500);
  const shotC = path.join(SHOT_DIR, 'lianqin-console.png');
  const shotW = path.join(SHOT_DIR, 'lianqin-bigscreen-responders.png');
  await cons.screenshot({ path: shotC });
  await wall.screenshot({ path: shotW });
  t.diagnostic(`screenshots: ${shotC} ${shotW}`);

  // 11. hygiene: no uncaught errors, nothing fetched from anywhere but the server
  assert.deepEqual(pageErrors, [], `uncaught page errors:\n${pageErrors.join('\n')}`);
  const foreign = requests.filter((u) => {
    const p = new URL(u);
    if (p.protocol === 'data:' || p.protocol === 'blob:' || p.href === 'about:blank') return false;
    return p.hostname !== origin.hostname || (p.port || defaultPort(p)) !== (origin.port || defaultPort(origin));
  });
  assert.deepEqual(foreign, [], `requests to hosts other than ${origin.host}:\n${foreign.join('\n')}`);
  if (consoleErrors.length) t.diagnostic(`console errors (not fatal): ${consoleErrors.join(' | ')}`);
});

function defaultPort(u) {
  return { 'http:': '80', 'ws:': '80', 'https:': '443', 'wss:': '443' }[u.protocol] || '';
}
