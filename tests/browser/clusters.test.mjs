// Headless-Chromium test of repeat calls and display aggregation on the 指挥大屏, against a REAL lianqin server.
//   LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/
// 1. Three noise complaints about one KTV by three callers, ~60 m apart, minutes apart: the server puts them in one
//    repeat cluster; the wall draws a pink ring with ×3, the list marks the calls 重复×3, a click opens the card
//    listing the three calls. A fourth call updates the ring to ×4 in place (stream layer `clusters`).
// 2. Display aggregation (a different thing): 14 unrelated incidents inside ~400 m are one count bubble at the
//    wall's zoom (`?agg=on` forces it on; by default it turns on at AGG_AUTO_MIN held incidents), and single points
//    again once zoomed in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserSession, foreignRequests } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SCREENSHOT = process.env.LIANQIN_CLUSTERS_SCREENSHOT || path.join(REPO, 'docs', 'screenshot-clusters.png');
const SHOT_DIR = process.env.LIANQIN_SHOT_DIR || os.tmpdir();
const BASE = (process.env.LIANQIN_URL || '').replace(/\/+$/, '');
const S = browserSession('clusters', { base: BASE });

const dLat = (m) => m / 111_320;
const dLon = (m, lat) => m / (111_320 * Math.cos((lat * Math.PI) / 180));

async function post(body) {
  const r = await fetch(`${BASE}/api/v1/incidents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.status === 201 || r.status === 200, `POST /api/v1/incidents → ${r.status}: ${text.slice(0, 400)}`);
  const j = JSON.parse(text);
  const list = Array.isArray(j) ? j : (j.incidents ?? [j.incident ?? j.feature?.properties ?? j.properties ?? j]);
  return list.map((x) => x.properties ?? x);
}

async function openWall(query = '') {
  const { page, pageErrors } = S;
  const resp = await page.goto(`${BASE}/${query}`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  assert.ok(resp && resp.ok(), `GET / returned ${resp?.status()}`);
  await page.waitForFunction(() => window.lianqin && window.lianqin.ready === true, null, { timeout: 45_000 })
    .catch(async (e) => {
      const dbg = await page.evaluate(() => ({ errors: window.lianqin?.errors })).catch(() => null);
      throw new Error(`page never became ready: ${e.message}\nstate: ${JSON.stringify(dbg)}\npage errors: ${pageErrors.join('\n')}`);
    });
  await page.waitForFunction(() => window.lianqin.connection === 'open' && window.lianqin.lastSeq !== null, null, { timeout: 20_000 });
}

test('大屏: a repeat cluster is a ring with its call count; count bubbles at low zoom, points when zoomed in', { timeout: 170_000 }, async (t) => {
  assert.ok(BASE, 'LIANQIN_URL is not set: start a lianqin server and run e.g. '
    + 'LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/  (this test never skips)');
  const { page, pageErrors, requests } = S;
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  // a spot of its own in 北城街道's north-west (other tests post near 121.26, 28.65), a little random per run
  const lat0 = 28.6720 + Math.random() * 0.004;
  const lon0 = 121.2000 + Math.random() * 0.004;
  const now = Date.now();
  const iso = (minAgo) => new Date(now - minAgo * 60_000).toISOString();

  await openWall('?agg=on');
  assert.equal(await page.evaluate(() => window.lianqin.agg.mode), 'on');

  // ---- 1. three calls about one noisy KTV: one repeat cluster
  const calls = [
    { off: [0, 0], min: 14, text: '楼下KTV唱歌声音太大了，吵得睡不着觉', phone: '13900001111' },
    { off: [45, 30], min: 9, text: 'KTV噪音扰民，半夜还在放音乐', phone: '13900002222' },
    { off: [-30, 50], min: 5, text: '隔壁歌厅太吵了，音响声音震天响，影响休息', phone: '13900003333' },
  ];
  const posted = [];
  for (const [i, c] of calls.entries()) {
    const [inc] = await post({
      source: i === 2 ? '12345' : '110', source_id: `rc-${run}-${i}`, reported_at: iso(c.min),
      lon: lon0 + dLon(c.off[0], lat0), lat: lat0 + dLat(c.off[1]), address: '黄岩区北城街道测试KTV',
      description: c.text, caller_phone: c.phone,
    });
    posted.push(inc);
  }
  t.diagnostic(`calls: ${posted.map((p) => `#${p.id} cluster=${p.cluster_id} leaf=${p.leaf_id ?? p.classification?.leaf_id}`).join('; ')}`);
  const cid = posted[0].cluster_id;
  assert.ok(cid, `the ingest answer carries cluster_id: ${JSON.stringify(posted[0]).slice(0, 300)}`);
  assert.ok(posted.every((p) => String(p.cluster_id) === String(posted[2].cluster_id)),
    `the three calls share one cluster: ${posted.map((p) => p.cluster_id).join(', ')}`);
  const cluster = String(posted[2].cluster_id);

  const ring = (n) => page.waitForFunction(({ id, n }) => {
    const L = window.lianqin;
    const f = L.repeats.get(id);
    const chip = document.querySelector(`.repeat-chip[data-cluster="${id}"]`);
    const drawn = L.map.queryRenderedFeatures({ layers: ['repeat-ring'] }).some((x) => String(x.properties.id) === id);
    if (!f || f.properties.members !== n || !chip || chip.textContent !== `×${n}` || !drawn) return false;
    const r = chip.getBoundingClientRect();
    return { members: f.properties.members, chip: chip.textContent, visible: r.width > 0 && r.height > 0 };
  }, { id: cluster, n }, { timeout: 15_000, polling: 100 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await page.evaluate((id) => ({ held: [...window.lianqin.repeats.keys()].slice(0, 20), f: window.lianqin.repeats.get(id)?.properties, errors: window.lianqin.errors }), cluster);
      throw new Error(`ring ×${n} for cluster ${cluster} not drawn: ${e.message}\n${JSON.stringify(dbg).slice(0, 1500)}`);
    });
  const r3 = await ring(3);
  t.diagnostic(`ring: ${JSON.stringify(r3)}`);
  assert.ok(r3.visible);

  // the list marks each call 重复×3
  const badges = await page.waitForFunction((ids) => {
    const out = ids.map((id) => document.querySelector(`#incident-list li[data-id="${id}"] .badge.repeat`)?.textContent || null);
    return out.every((b) => b === '重复×3') ? out : false;
  }, posted.map((p) => String(p.id)), { timeout: 10_000, polling: 100 }).then((h) => h.jsonValue());
  assert.equal(badges.length, 3);

  // at the wall's zoom the calls sit inside their ring: a click on them opens a call's detail, whose
  // 重复来电 row says how many calls the event has; following it opens the cluster's card
  const pt = await page.evaluate((id) => {
    const L = window.lianqin;
    const f = L.repeats.get(id);
    const p = L.map.project(f.geometry.coordinates);
    const r = document.getElementById('map').getBoundingClientRect();
    return { x: p.x + r.left, y: p.y + r.top };
  }, cluster);
  await page.mouse.move(pt.x, pt.y);
  await page.mouse.click(pt.x, pt.y);
  const link = await page.waitForFunction(() => document.querySelector('.inc-popup .dt-repeat')?.textContent || false,
    null, { timeout: 10_000, polling: 100 }).then((h) => h.jsonValue());
  t.diagnostic(`detail: ${link}`);
  assert.match(link, /共 3 次来电/);
  await page.click('.inc-popup .dt-repeat');
  const card = await page.waitForFunction((n) => {
    const el = document.getElementById('repeat-card');
    const rows = [...el.querySelectorAll('.rc-m')];
    if (el.hidden || rows.length !== n) return false;
    return { ids: rows.map((li) => li.dataset.id), n: el.querySelector('.rc-n')?.textContent, text: el.textContent.replace(/\s+/g, ' ') };
  }, 3, { timeout: 10_000, polling: 100 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await page.evaluate(() => ({ sel: window.lianqin.selectRepeat && document.getElementById('repeat-card').outerHTML.slice(0, 800) }));
      throw new Error(`repeat card did not list 3 calls: ${e.message}\n${JSON.stringify(dbg)}`);
    });
  t.diagnostic(`card: ${card.text.slice(0, 300)}`);
  assert.equal(card.n, '×3');
  assert.deepEqual([...card.ids].sort(), posted.map((p) => String(p.id)).sort());
  assert.match(card.text, /噪声扰民/);
  assert.match(card.text, /139\*\*\*\*1111/, 'callers are shown masked');
  assert.ok(!card.text.includes('13900001111'), 'a caller number in clear on the card');
  // the hull of the three calls is drawn while the cluster is selected
  const hull = await page.waitForFunction(() => window.lianqin.map.queryRenderedFeatures({ layers: ['repeat-extent-fill'] }).length > 0,
    null, { timeout: 5_000, polling: 100 }).then(() => true).catch(() => false);
  assert.ok(hull, 'the extent of the selected cluster is not drawn');

  // ---- a fourth call: ×4 in place, card refreshed, no reload
  const [fourth] = await post({
    source: 'grid', source_id: `rc-${run}-3`, reported_at: iso(1), lon: lon0 + dLon(10, lat0), lat: lat0 + dLat(-40),
    address: '黄岩区北城街道测试KTV', description: '网格员巡查：KTV音响声音很大，居民反映噪音扰民', caller_phone: '13900004444',
  });
  assert.equal(String(fourth.cluster_id), cluster, 'the fourth call joins the cluster');
  await ring(4);
  await page.waitForFunction(() => document.querySelectorAll('#repeat-card .rc-m').length === 4, null, { timeout: 10_000, polling: 100 });
  // Esc closes it; the ×4 chip opens it again
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => document.getElementById('repeat-card').hidden, null, { timeout: 5_000 });
  await page.click(`.repeat-chip[data-cluster="${cluster}"]`);
  await page.waitForFunction(() => !document.getElementById('repeat-card').hidden
    && document.querySelectorAll('#repeat-card .rc-m').length === 4, null, { timeout: 10_000, polling: 100 });

  // ---- 2. display aggregation: 14 unrelated incidents within ~400 m, 3.5 km east of the KTV (a bubble is ~2 km wide here)
  const lonB = lon0 + dLon(3500, lat0);
  const latB = lat0 - dLat(300);
  const kinds = ['有人在路边打架', '电动车被偷了', '路口两车追尾', '小孩走失了', '有人摔倒受伤', '邻居吵架',
    '店里有人闹事', '工地欠工资', '有人在河边钓鱼落水', '下水道堵了', '路灯坏了', '有人卖假货', '流浪狗咬人', '楼道里堆放杂物'];
  const batch = kinds.map((text, i) => ({
    source: 'grid', source_id: `ag-${run}-${i}`, reported_at: iso(30 + i * 7),
    lon: lonB + dLon(((i * 73) % 400) - 200, latB), lat: latB + dLat(((i * 137) % 400) - 200),
    description: text, address: `黄岩区北城街道测试路${i + 1}号`,
  }));
  const aggIds = (await post(batch)).map((p) => String(p.id));
  assert.equal(aggIds.length, 14);
  const bubble = await page.waitForFunction(({ lon, lat }) => {
    const L = window.lianqin;
    const p = L.map.project([lon, lat]);
    const b = L.agg.bubbles.find((x) => { const q = L.map.project(x.lngLat); return Math.hypot(q.x - p.x, q.y - p.y) < 60 && x.count >= 14; });
    if (!b) return false;
    const chips = [...document.querySelectorAll('.agg-chip')].map((e) => e.textContent);
    return { count: b.count, chips, zoom: L.map.getZoom() };
  }, { lon: lonB, lat: latB }, { timeout: 15_000, polling: 200 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await page.evaluate(() => ({ on: window.lianqin.agg.on, bubbles: window.lianqin.agg.bubbles.slice(0, 10), zoom: window.lianqin.map.getZoom() }));
      throw new Error(`no count bubble ≥ 14 at the wall's zoom: ${e.message}\n${JSON.stringify(dbg)}`);
    });
  t.diagnostic(`bubble: ${JSON.stringify(bubble)}`);
  assert.ok(bubble.zoom < 13, `the wall's zoom ${bubble.zoom} is a low zoom`);
  assert.ok(bubble.chips.includes(String(bubble.count)), `the bubble's count chip: ${JSON.stringify(bubble.chips)}`);
  const inBubble = await page.evaluate((ids) => {
    const drawn = new Set(window.lianqin.map.queryRenderedFeatures({ layers: ['incidents-circle'] }).map((f) => String(f.properties.id)));
    return ids.filter((id) => drawn.has(id)).length;
  }, aggIds);
  assert.equal(inBubble, 0, 'points inside a bubble are not also drawn one by one');

  // the screenshot: district view with the ring ×4, the card and the bubbles
  await page.waitForTimeout(400);
  await page.screenshot({ path: SCREENSHOT });
  t.diagnostic(`screenshot: ${SCREENSHOT}`);

  // zoomed in: the same incidents are single points again
  await page.evaluate(({ lon, lat }) => window.lianqin.map.jumpTo({ center: [lon, lat], zoom: 16 }), { lon: lonB, lat: latB });
  const points = await page.waitForFunction((ids) => {
    const L = window.lianqin;
    const drawn = new Set(L.map.queryRenderedFeatures({ layers: ['incidents-circle'] }).map((f) => String(f.properties.id)));
    const n = ids.filter((id) => drawn.has(id)).length;
    return n === ids.length ? { n, bubbles: L.map.queryRenderedFeatures({ layers: ['incidents-agg'] }).length } : false;
  }, aggIds, { timeout: 15_000, polling: 200 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await page.evaluate((ids) => {
        const drawn = new Set(window.lianqin.map.queryRenderedFeatures({ layers: ['incidents-circle'] }).map((f) => String(f.properties.id)));
        return { drawn: ids.filter((id) => drawn.has(id)).length, zoom: window.lianqin.map.getZoom() };
      }, aggIds);
      throw new Error(`zoomed in, the 14 incidents are not all points: ${e.message}\n${JSON.stringify(dbg)}`);
    });
  t.diagnostic(`zoomed in: ${JSON.stringify(points)}`);
  assert.equal(points.bubbles, 0, 'no bubbles at zoom 16');
  await page.screenshot({ path: path.join(SHOT_DIR, `lianqin-clusters-zoomed-${run}.png`) });

  // ---- 3. the default (auto) wall: few incidents held → no aggregation
  await openWall();
  const auto = await page.evaluate(() => ({ mode: window.lianqin.agg.mode, on: window.lianqin.agg.on, held: window.lianqin.incidents.size }));
  t.diagnostic(`auto: ${JSON.stringify(auto)}`);
  assert.equal(auto.mode, 'auto');
  assert.equal(auto.on, auto.held >= 300, `auto aggregation with ${auto.held} incidents held`);
  // the repeat cluster is in the snapshot of a fresh page too
  await ring(4);

  // ---- 4. the commander console: the ring ×4, 重复×4 in the queue, the card from the tag; count bubbles
  const rc = await page.goto(`${BASE}/console.html?agg=on`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  assert.ok(rc && rc.ok(), `GET /console.html returned ${rc?.status()}`);
  await page.waitForFunction(() => window.lianqinConsole && window.lianqinConsole.ready === true
    && window.lianqinConsole.connection === 'open', null, { timeout: 45_000 });
  const cons = await page.waitForFunction(({ id, ids }) => {
    const C = window.lianqinConsole;
    const chip = document.querySelector(`.repeat-chip[data-cluster="${id}"]`);
    const tags = ids.map((x) => document.querySelector(`#queue .q-row[data-id="${x}"] .badge.repeat`)?.textContent || null);
    const ring = C.map.queryRenderedFeatures({ layers: ['repeat-ring'] }).some((x) => String(x.properties.id) === id);
    if (!chip || chip.textContent !== '×4' || !ring || tags.some((x) => x !== '重复×4')) return false;
    if (!C.agg.bubbles.some((b) => b.count >= 14)) return false; // chips are rebuilt when the map settles
    return { tags, bubbles: C.agg.bubbles.map((b) => b.count) };
  }, { id: cluster, ids: [...posted, fourth].map((p) => String(p.id)) }, { timeout: 15_000, polling: 200 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await page.evaluate(() => ({ held: [...window.lianqinConsole.repeats.keys()], agg: window.lianqinConsole.agg, errors: window.lianqinConsole.errors, rows: document.querySelectorAll('#queue .q-row').length }));
      throw new Error(`console: ring ×4 / queue tags / bubble of 14 not shown: ${e.message}\n${JSON.stringify(dbg)}`);
    });
  t.diagnostic(`console: ${JSON.stringify(cons)}`);
  assert.ok(cons.bubbles.some((n) => n >= 14), `a count bubble of the 14 on the console: ${JSON.stringify(cons.bubbles)}`);
  await page.click(`#queue .q-row[data-id="${fourth.id}"] .badge.repeat`);
  await page.waitForFunction(() => !document.getElementById('repeat-card').hidden
    && document.querySelectorAll('#repeat-card .rc-m').length === 4, null, { timeout: 10_000, polling: 100 })
    .catch(async (e) => {
      const dbg = await page.evaluate(() => document.getElementById('repeat-card').outerHTML.slice(0, 600));
      throw new Error(`console: the card did not list 4 calls after a click on the tag: ${e.message}\n${dbg}`);
    });
  // the incident selected from the queue is never hidden in a bubble: the console zooms in to a point
  const sel = await page.waitForFunction((id) => {
    const C = window.lianqinConsole;
    const pt = C.map.queryRenderedFeatures({ layers: ['incidents-circle'] }).some((x) => String(x.properties.id) === id);
    const ring = C.map.queryRenderedFeatures({ layers: ['incidents-selected'] }).length > 0;
    return pt && ring && !C.map.isMoving() ? { zoom: C.map.getZoom() } : false;
  }, String(fourth.id), { timeout: 10_000, polling: 200 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await page.evaluate((id) => {
        const C = window.lianqinConsole;
        return {
          zoom: C.map.getZoom(), selected: C.selectedId, agg: C.agg.on,
          pt: C.map.queryRenderedFeatures({ layers: ['incidents-circle'] }).some((x) => String(x.properties.id) === id),
          ring: C.map.queryRenderedFeatures({ layers: ['incidents-selected'] }).length,
        };
      }, String(fourth.id));
      throw new Error(`console: the selected incident is not a point with its ring: ${e.message}\n${JSON.stringify(dbg)}`);
    });
  t.diagnostic(`console selection: ${JSON.stringify(sel)}`);
  await page.screenshot({ path: path.join(SHOT_DIR, `lianqin-clusters-console-${run}.png`) });

  assert.deepEqual(pageErrors, [], `uncaught page errors:\n${pageErrors.join('\n')}`);
  const foreign = foreignRequests(requests, BASE);
  assert.deepEqual(foreign, [], `requests left the server: ${foreign.join(', ')}`);
});
