// Headless-Chromium test of the 指挥大屏's classification and 未定位事件 views against a REAL lianqin server.
//   LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/
// POSTs one located 110 incident whose description classifies (fight, someone bleeding) and one 12345
// record whose only place is an address the offline geocoder cannot place; checks that the unlocated one
// is listed in the 未定位事件 panel (live, and again after a reload from GET ?located=false) and never
// reaches the map, and that the located one's popup shows its classification.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, watch, close } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SCREENSHOT = process.env.LIANQIN_INGEST_SCREENSHOT || path.join(REPO, 'docs', 'screenshot-ingest-wall.png');
const SHOT_DIR = process.env.LIANQIN_SHOT_DIR || os.tmpdir();
const BASE = (process.env.LIANQIN_URL || '').replace(/\/+$/, '');

let context;
let page;
let userDataDir;
const pageErrors = [];
const consoleErrors = [];
const requests = [];

before(async () => {
  if (!BASE) return;
  ({ context, userDataDir } = await launch('ingest-wall'));
  page = context.pages()[0] || await context.newPage();
  watch(page, { pageErrors, consoleErrors, requests });
});

after(() => close(context, userDataDir));

async function postIncident(body) {
  const r = await fetch(`${BASE}/api/v1/incidents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.status === 201 || r.status === 200, `POST /api/v1/incidents → ${r.status}: ${text.slice(0, 400)}`);
  const j = JSON.parse(text);
  return Array.isArray(j) ? j[0] : (j.incident ?? j.feature?.properties ?? j.properties ?? j);
}

async function openWall() {
  const resp = await page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  assert.ok(resp && resp.ok(), `GET / returned ${resp?.status()}`);
  await page.waitForFunction(() => window.lianqin && window.lianqin.ready === true, null, { timeout: 45_000 })
    .catch(async (e) => {
      const dbg = await page.evaluate(() => ({ errors: window.lianqin?.errors })).catch(() => null);
      throw new Error(`page never became ready: ${e.message}\nstate: ${JSON.stringify(dbg)}\npage errors: ${pageErrors.join('\n')}`);
    });
  await page.waitForFunction(() => window.lianqin.connection === 'open' && window.lianqin.lastSeq !== null
    && window.lianqin.unlocatedFetched && window.lianqin.taxonomy.loaded, null, { timeout: 20_000 });
}

const rectOf = (sel) => page.evaluate((s) => {
  const el = document.querySelector(s);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return { l: r.left, t: r.top, r: r.right, b: r.bottom, w: r.width, h: r.height };
}, sel);
const overlap = (a, b) => a && b && a.l < b.r && a.r > b.l && a.t < b.b && a.b > b.t;

test('大屏: classification in the popup, 未定位事件 panel, null geometry never on the map', { timeout: 150_000 }, async (t) => {
  assert.ok(BASE, 'LIANQIN_URL is not set: start a lianqin server and run e.g. '
    + 'LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/  (this test never skips)');
  const origin = new URL(BASE);
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

  // what the server already holds (other tests share it)
  const since = new Date(Date.now() - 72 * 3600e3).toISOString();
  const before0 = await (await fetch(`${BASE}/api/v1/incidents?located=false&since=${encodeURIComponent(since)}&limit=200`)).json();
  const baseline = before0.features.length;
  const tax = await (await fetch(`${BASE}/api/v1/taxonomy`)).json();
  const tagLabel = Object.fromEntries(tax.tags.map((x) => [x.code, x.label]));

  await openWall();

  // the counters know the new sources
  const counters = await page.evaluate(() => [...document.querySelectorAll('#counts .cnt')].map((e) => ({ k: e.dataset.source, name: e.querySelector('.cnt-name').textContent })));
  const byKey = Object.fromEntries(counters.map((c) => [c.k, c.name]));
  assert.equal(byKey.sensor, '物联感知', `counters: ${JSON.stringify(counters)}`);
  assert.equal(byKey.eido, 'EIDO', `counters: ${JSON.stringify(counters)}`);

  // 1. POST the two incidents while the wall is open
  const located = await postIncident({
    source: '110', source_id: `iw-${run}-L`, reported_at: new Date().toISOString(),
    lon: 121.2110, lat: 28.6210, address: '黄岩区测试菜市场门口',
    description: '两个人在菜市场门口打架，有人头上流血', caller_phone: '13812345678', caller_name: '张三',
  });
  const uSid = `U1-${run}`;
  const unloc = await postIncident({
    source: '12345', source_id: uSid, reported_at: new Date().toISOString(),
    address: '不知道在哪里', description: '有人在路边烧垃圾',
  });
  t.diagnostic(`located: #${located.id} ${located.group_name} · ${located.leaf_name} tags=${JSON.stringify(located.tags)} lead=${located.lead_department}`);
  t.diagnostic(`unlocated: #${unloc.id} located=${unloc.located} leaf=${unloc.leaf_name}`);
  assert.equal(unloc.located, false, 'the nonsense address should not be geocoded');
  assert.ok(located.leaf_name && located.group_name, `the fight was not classified: ${JSON.stringify(located.classification)}`);
  assert.ok(located.tags.includes('injury'), `tags of the fight: ${JSON.stringify(located.tags)}`);

  // 2. the unlocated record arrives live in the panel (count = baseline + 1), not on the map
  const panelCheck = async () => page.waitForFunction(({ sid, n }) => {
    const li = document.querySelector(`#unloc-list li[data-source-id="${CSS.escape(sid)}"]`);
    const count = Number(document.getElementById('unloc-count').textContent);
    if (!li || count !== n) return false;
    return { text: li.textContent.replace(/\s+/g, ' ').trim(), count, rows: document.querySelectorAll('#unloc-list li').length };
  }, { sid: uSid, n: baseline + 1 }, { timeout: 10_000, polling: 100 }).then((h) => h.jsonValue())
    .catch(async (e) => {
      const dbg = await page.evaluate(() => ({ count: document.getElementById('unloc-count').textContent, ids: [...window.lianqin.unlocated.keys()] }));
      throw new Error(`unlocated ${uSid} not listed with count ${baseline + 1}: ${e.message}\n${JSON.stringify(dbg)}`);
    });
  let panel = await panelCheck();
  t.diagnostic(`unlocated panel (live): ${JSON.stringify(panel)}`);
  assert.equal(panel.rows, baseline + 1);
  assert.match(panel.text, /不知道在哪里/);
  assert.match(panel.text, /12345/);
  if (unloc.leaf_name) assert.ok(panel.text.includes(unloc.leaf_name), `leaf name ${unloc.leaf_name} missing in "${panel.text}"`);

  // 3. the located one: in the list with its leaf name and a tag chip, on the map
  const row = await page.waitForFunction(({ id }) => {
    const L = window.lianqin;
    const li = document.querySelector(`#incident-list li[data-id="${CSS.escape(String(id))}"]`);
    if (!li) return false;
    const rendered = L.map.queryRenderedFeatures({ layers: ['incidents-circle'] }).some((f) => String(f.properties.id) === String(id));
    return rendered ? li.textContent.replace(/\s+/g, ' ').trim() : false;
  }, { id: located.id }, { timeout: 10_000, polling: 100 }).then((h) => h.jsonValue());
  t.diagnostic(`list row: ${row}`);
  assert.ok(row.includes(located.leaf_name), `leaf name missing in the row: ${row}`);
  assert.ok(row.includes(tagLabel.injury), `tag chip ${tagLabel.injury} missing in the row: ${row}`);

  const onMap = await page.evaluate(({ uid }) => {
    const L = window.lianqin;
    return {
      inState: L.incidents.has(uid) || L.incidents.has(String(uid)),
      inSource: L.map.querySourceFeatures('incidents').some((f) => String(f.properties.id) === String(uid)),
      nullGeomInState: [...L.incidents.values()].filter((f) => !f.geometry).length,
    };
  }, { uid: unloc.id });
  assert.deepEqual(onMap, { inState: false, inSource: false, nullGeomInState: 0 }, 'an unlocated incident reached the map');

  // 4. the panel does not cover the map's centre nor the legend
  const mapR = await rectOf('#map');
  const unR = await rectOf('#unloc');
  const legR = await rectOf('.legend');
  const cx = (mapR.l + mapR.r) / 2; const cy = (mapR.t + mapR.b) / 2;
  t.diagnostic(`map ${JSON.stringify(mapR)} unloc ${JSON.stringify(unR)} legend ${JSON.stringify(legR)}`);
  assert.ok(!(cx >= unR.l && cx <= unR.r && cy >= unR.t && cy <= unR.b), 'the unlocated panel covers the map centre');
  assert.ok(!overlap(unR, legR), 'the unlocated panel overlaps the legend');

  // 5. clicking the unlocated entry shows its details (card, not a map popup)
  await page.click(`#unloc-list li[data-source-id="${uSid}"]`);
  const card = await page.waitForFunction(() => {
    const c = document.getElementById('detail-card');
    return c && !c.hidden && c.querySelector('.inc-detail') ? c.innerText : false;
  }, null, { timeout: 5_000 }).then((h) => h.jsonValue());
  t.diagnostic(`unlocated detail: ${card.replace(/\s+/g, ' ')}`);
  assert.match(card, /未定位/);
  assert.match(card, /不知道在哪里/);
  assert.match(card, /12345热线/);
  await page.waitForTimeout(200);
  await page.screenshot({ path: path.join(SHOT_DIR, 'lianqin-ingest-unlocated-detail.png') });
  await page.locator('#unloc').screenshot({ path: path.join(SHOT_DIR, 'lianqin-ingest-unlocated-panel.png') });

  // 5b. an address-only record the gazetteer places: its popup says the point is approximate
  const geo = await postIncident({
    source: 'sensor', source_id: `iw-${run}-G`, reported_at: new Date().toISOString(),
    address: '院桥镇鉴洋湖村', description: '烟感报警，疑似起火',
  });
  t.diagnostic(`geocoded: #${geo.id} located=${geo.located} geocode=${JSON.stringify(geo.geocode)}`);
  if (geo.located && geo.geocode?.matched) {
    await page.waitForFunction((id) => document.querySelector(`#incident-list li[data-id="${CSS.escape(String(id))}"] .approx`), geo.id, { timeout: 10_000 });
    await page.click(`#incident-list li[data-id="${geo.id}"]`);
    const gtext = await page.waitForFunction((id) => {
      const d = document.querySelector(`.inc-popup .inc-detail[data-id="${CSS.escape(String(id))}"]`);
      return d ? d.innerText : false;
    }, geo.id, { timeout: 5_000 }).then((h) => h.jsonValue());
    const pctText = `${Math.round(geo.geocode.confidence * 100)}%`;
    assert.ok(gtext.includes(`地址定位：${geo.geocode.matched}（置信度 ${pctText}）`), `geocode line missing: ${gtext}`);
    assert.ok(gtext.includes('物联感知'), `source label missing: ${gtext}`);
    await page.waitForTimeout(200);
    await page.screenshot({ path: path.join(SHOT_DIR, 'lianqin-ingest-geocoded.png') });
    await page.waitForFunction(() => Number(document.querySelector('#counts .cnt[data-source="sensor"] .cnt-n')?.textContent) >= 1, null, { timeout: 5_000 });
  } else {
    t.diagnostic('the gazetteer did not place 院桥镇鉴洋湖村: geocode line not checked');
  }

  // 6. clicking the located row opens its popup with the classification
  await page.click(`#incident-list li[data-id="${located.id}"]`);
  const pop = await page.waitForFunction(() => {
    const d = document.querySelector('.inc-popup .inc-detail');
    return d ? { text: d.innerText, tags: [...d.querySelectorAll('.tag')].map((x) => x.textContent) } : false;
  }, null, { timeout: 5_000 }).then((h) => h.jsonValue());
  t.diagnostic(`popup: ${pop.text.replace(/\s+/g, ' ')}`);
  assert.equal(await page.evaluate(() => document.getElementById('detail-card').hidden), true, 'the card should close when a popup opens');
  for (const want of [located.leaf_name, located.group_name, located.lead_department, '事件分类', '建议牵头', '110接处警']) {
    assert.ok(pop.text.includes(want), `popup lacks "${want}": ${pop.text}`);
  }
  assert.ok(pop.tags.includes(tagLabel.injury), `popup tag chips ${JSON.stringify(pop.tags)} lack ${tagLabel.injury}`);
  assert.match(pop.text, /\d+%/, 'confidence shown as a percentage');
  assert.match(pop.text, /模型|来源编码/, 'classification method shown');
  if (located.parties?.some((p) => p.phone_masked)) assert.ok(pop.text.includes(located.parties.find((p) => p.phone_masked).phone_masked), 'masked caller phone');
  assert.ok(!pop.text.includes('13812345678'), 'the clear phone number must never be shown');
  await page.waitForTimeout(200);
  await page.locator('.inc-popup').screenshot({ path: path.join(SHOT_DIR, 'lianqin-ingest-popup.png') });
  await page.locator('#incident-list li.inc').first().screenshot({ path: path.join(SHOT_DIR, 'lianqin-ingest-row.png') });
  await page.locator('#counts').screenshot({ path: path.join(SHOT_DIR, 'lianqin-ingest-counts.png') });
  const popR = await rectOf('.inc-popup');
  const sideR = await rectOf('.side');
  assert.ok(popR && popR.w > 200 && popR.r <= sideR.l + 1, `popup clipped or over the right column: ${JSON.stringify(popR)}`);

  // 7. the panel collapses and expands
  await page.click('#unloc-hd');
  assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('unloc-body')).display), 'none');
  await page.click('#unloc-hd');
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.getElementById('unloc-body')).display), 'none');

  await page.waitForTimeout(600);
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  t.diagnostic(`screenshot: ${SCREENSHOT}`);

  // 8. after a reload the list comes from GET /api/v1/incidents?located=false
  await openWall();
  panel = await panelCheck();
  t.diagnostic(`unlocated panel (reload): ${JSON.stringify(panel)}`);
  assert.ok(requests.some((u) => u.includes('located=false')), 'GET ?located=false was not requested');

  // 8b. the console gets an unlocated record over the stream: queued with its leaf name, never on its map
  const cons = await context.newPage();
  watch(cons, { pageErrors, consoleErrors, requests });
  await cons.goto(`${BASE}/console.html`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  await cons.waitForFunction(() => window.lianqinConsole?.ready === true && window.lianqinConsole.connection === 'open'
    && window.lianqinConsole.lastSeq !== null, null, { timeout: 45_000 });
  const u2 = await postIncident({
    source: 'eido', source_id: `iw-${run}-U2`, reported_at: new Date().toISOString(),
    address: '某个不存在的地方', description: '两个人在菜市场门口打架，有人头上流血',
  });
  if (u2.located === false) {
    const q = await cons.waitForFunction((id) => {
      const li = document.querySelector(`#queue li[data-id="${CSS.escape(String(id))}"]`);
      const S = window.lianqinConsole;
      if (!li || !S.incidents.has(id)) return false;
      return { text: li.textContent.replace(/\s+/g, ' ').trim(), inSource: S.map.querySourceFeatures('incidents').some((f) => String(f.properties.id) === String(id)) };
    }, u2.id, { timeout: 10_000, polling: 100 }).then((h) => h.jsonValue());
    t.diagnostic(`console queue row: ${q.text}`);
    assert.match(q.text, /未定位/);
    if (u2.leaf_name) assert.ok(q.text.includes(u2.leaf_name), `console row lacks the leaf name: ${q.text}`);
    assert.equal(q.inSource, false, 'an unlocated incident reached the console map');
    await cons.click(`#queue li[data-id="${u2.id}"]`); // selecting it must not throw (no position to fly to)
    await cons.waitForFunction(() => !document.getElementById('msg').hidden && /未能定位/.test(document.getElementById('msg').textContent), null, { timeout: 5_000 });
    await cons.screenshot({ path: path.join(SHOT_DIR, 'lianqin-ingest-console.png') });
  }
  await cons.close();

  // 9. hygiene
  assert.deepEqual(pageErrors, [], `uncaught page errors:\n${pageErrors.join('\n')}`);
  assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
  const foreign = requests.filter((u) => {
    const p = new URL(u);
    if (p.protocol === 'data:' || p.protocol === 'blob:') return false;
    return p.hostname !== origin.hostname || (p.port || defaultPort(p)) !== (origin.port || defaultPort(origin));
  });
  assert.deepEqual(foreign, [], `requests to hosts other than ${origin.host}:\n${foreign.join('\n')}`);
});

function defaultPort(u) {
  return { 'http:': '80', 'ws:': '80', 'https:': '443', 'wss:': '443' }[u.protocol] || '';
}
