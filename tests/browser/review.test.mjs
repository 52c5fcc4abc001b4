// Headless-Chromium test of 热点研判 (review.html) against a REAL running lianqin server:
//   LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/
// The test makes its own history through the API (reported_at in the past): at spot P 20 incidents 10 days ago
// and 3 incidents 2 days ago (fewer in B), at spot Q 2 then 9 (more in B), plus scattered background. It opens
// the page with URL parameters, selects period A and period B in the form, checks both synced maps drew cells,
// the change table's signs for P and Q, the CSV download (BOM, header, P's row) and the PNG download.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, watch, close } from './harness.mjs';

const BASE = (process.env.LIANQIN_URL || '').replace(/\/+$/, '');
const SHOT = process.env.LIANQIN_REVIEW_SCREENSHOT || '/tmp/lianqin-review.png';
const DAY = 86_400_000;

let context;
let page;
let userDataDir;
const pageErrors = [];
const consoleErrors = [];
const requests = [];

before(async () => {
  if (!BASE) return;
  ({ context, userDataDir } = await launch('review', { acceptDownloads: true }));
  page = context.pages()[0] || await context.newPage();
  watch(page, { pageErrors, consoleErrors, requests });
});

after(() => close(context, userDataDir));

// YYYY-MM-DD in Asia/Shanghai
const shDay = (ms) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));

async function waitQuery(n) {
  await page.waitForFunction((k) => window.lianqinReview.queries >= k && !window.lianqinReview.loading, n, { timeout: 30_000 })
    .catch(async (e) => {
      const dbg = await page.evaluate(() => ({ q: window.lianqinReview.queries, loading: window.lianqinReview.loading, errors: window.lianqinReview.errors })).catch(() => null);
      throw new Error(`query ${n} did not finish: ${e.message}\n${JSON.stringify(dbg)}\npage errors: ${pageErrors.join('\n')}`);
    });
}

test('热点研判: two periods side by side, change per cell, CSV + PNG export, no foreign requests', { timeout: 180_000 }, async (t) => {
  assert.ok(BASE, 'LIANQIN_URL is not set: start a lianqin server and run e.g. '
    + 'LIANQIN_URL=http://127.0.0.1:18080 node --test tests/browser/  (this test never skips)');
  const origin = new URL(BASE);
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const now = Date.now();
  // P and Q: random spots in the urban townships, ~1.5 km apart; every incident of a spot at the same point
  const P = [121.250 + Math.random() * 0.02, 28.640 + Math.random() * 0.015];
  const Q = [P[0] + 0.015, P[1] - 0.006];
  const inc = [];
  const at = (p, n, daysAgo, tag, cat) => {
    for (let i = 0; i < n; i += 1) {
      inc.push({
        source: '110', source_id: `review-${run}-${tag}-${i}`, reported_at: new Date(now - daysAgo * DAY + i * 60_000).toISOString(),
        lon: p[0], lat: p[1], category: cat, description: `研判测试 ${tag}`, address: `黄岩区研判测试路${tag === 'p10' || tag === 'p2' ? '1' : '2'}号`,
      });
    }
  };
  at(P, 20, 10, 'p10', '治安');
  at(P, 3, 2, 'p2', '治安');
  at(Q, 2, 10, 'q10', '纠纷');
  at(Q, 9, 2, 'q2', '纠纷');
  for (let i = 0; i < 30; i += 1) {
    inc.push({
      source: '12345', source_id: `review-${run}-bg-${i}`, reported_at: new Date(now - (1 + Math.random() * 12) * DAY).toISOString(),
      lon: 121.20 + Math.random() * 0.12, lat: 28.60 + Math.random() * 0.07, category: ['交通', '纠纷', '消防'][i % 3],
      description: '研判测试 背景', address: `黄岩区背景地址${i}号`,
    });
  }
  const r = await fetch(`${BASE}/api/v1/incidents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(inc) });
  const rt = await r.text();
  assert.ok(r.status === 201 || r.status === 200, `POST /api/v1/incidents → ${r.status}: ${rt.slice(0, 400)}`);

  const A = { from: shDay(now - 13 * DAY), to: shDay(now - 7 * DAY) };
  const B = { from: shDay(now - 3 * DAY), to: shDay(now) };
  t.diagnostic(`P ${P.map((v) => v.toFixed(5))}, Q ${Q.map((v) => v.toFixed(5))}; A ${A.from}..${A.to}, B ${B.from}..${B.to}`);

  // 1. open with URL parameters (layer, resolution), then choose the periods in the form
  const resp = await page.goto(`${BASE}/review.html?layer=gi&res=9`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  assert.ok(resp && resp.ok(), `GET /review.html returned ${resp?.status()}`);
  await page.waitForFunction(() => window.lianqinReview?.ready === true, null, { timeout: 45_000 })
    .catch(async (e) => { throw new Error(`review page never became ready: ${e.message}\n${JSON.stringify(await page.evaluate(() => window.lianqinReview?.errors).catch(() => null))}\n${pageErrors.join('\n')}`); });
  assert.equal(await page.evaluate(() => document.querySelector('.hdr-link')?.getAttribute('href')), './', 'header links to the wall');
  let q = await page.evaluate(() => window.lianqinReview.queries);

  await page.check('#compare');
  await waitQuery(q + 1); q += 1;
  await page.fill('#a-from', A.from);
  await page.fill('#a-to', A.to);
  await page.fill('#b-from', B.from);
  await page.fill('#b-to', B.to);
  await page.click('#run');
  await waitQuery(q + 1); q += 1;
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('from'), A.from, 'the URL keeps the selection (bookmarks)');
  assert.equal(url.searchParams.get('bto'), B.to);
  const errs = await page.evaluate(() => window.lianqinReview.errors);
  assert.deepEqual(errs, [], `API errors: ${errs.join('\n')}`);

  // 2. both maps drew cells; Gi* finds the 20-incident spot a hot spot in A
  const hP = await page.evaluate(([x, y]) => window.lianqinReview.cellOf(x, y), P);
  const hQ = await page.evaluate(([x, y]) => window.lianqinReview.cellOf(x, y), Q);
  const maps = await page.evaluate((h) => {
    const R = window.lianqinReview;
    const out = {};
    for (const p of ['a', 'b']) {
      const f = R.maps[p].queryRenderedFeatures({ layers: ['cells-fill'] });
      out[p] = { n: f.length, mine: f.find((x) => x.properties.h3 === h)?.properties ?? null, visible: !document.getElementById(`col-${p}`).hidden };
    }
    return out;
  }, hP);
  t.diagnostic(`maps: ${JSON.stringify(maps)}`);
  assert.ok(maps.a.visible && maps.b.visible, 'both maps are shown side by side');
  assert.ok(maps.a.n > 0, 'map A rendered no cells');
  assert.ok(maps.b.n > 0, 'map B rendered no cells');
  assert.ok(maps.a.mine && maps.a.mine.count >= 20, `cell ${hP} not drawn on map A with its 20 incidents: ${JSON.stringify(maps.a.mine)}`);
  assert.ok(maps.a.mine.bin > 0, `cell ${hP} is not a hot spot in A (bin ${maps.a.mine.bin})`);

  // 3. the change table: P fell (3 − 20), Q rose (9 − 2)
  const rows = await page.evaluate(([p, qq]) => {
    const R = window.lianqinReview;
    const pick = (h) => R.rows.find((x) => x.h3 === h) ?? null;
    const tr = (h) => { const e = document.querySelector(`#cells-table tr[data-h3="${h}"]`); return e ? { cls: e.className, text: e.innerText } : null; };
    return { p: pick(p), q: pick(qq), trP: tr(p), trQ: tr(qq), head: document.querySelector('#cells-table thead').innerText };
  }, [hP, hQ]);
  t.diagnostic(`rows: ${JSON.stringify(rows)}`);
  assert.ok(rows.p, `no change row for ${hP}`);
  assert.ok(rows.p.count_a >= 20 && rows.p.count_b >= 3, `P counts ${rows.p.count_a} / ${rows.p.count_b}`);
  assert.ok(rows.p.change < 0, `P should have fallen: change ${rows.p.change}`);
  assert.equal(rows.p.change, rows.p.count_b - rows.p.count_a);
  assert.ok(rows.q && rows.q.change > 0, `Q should have risen: ${JSON.stringify(rows.q)}`);
  assert.ok(rows.trP && /down/.test(rows.trP.cls) && /▼/.test(rows.trP.text), `table row for P: ${JSON.stringify(rows.trP)}`);
  assert.ok(rows.trQ && /up/.test(rows.trQ.cls) && /▲/.test(rows.trQ.text), `table row for Q: ${JSON.stringify(rows.trQ)}`);

  // 4. the maps are synced: move A, B follows
  const sync = await page.evaluate(async () => {
    const { a, b } = window.lianqinReview.maps;
    a.jumpTo({ center: [121.262, 28.645], zoom: 12.2 });
    await new Promise((res) => setTimeout(res, 50));
    return { a: [a.getCenter().lng, a.getCenter().lat, a.getZoom()], b: [b.getCenter().lng, b.getCenter().lat, b.getZoom()] };
  });
  for (let i = 0; i < 3; i += 1) assert.ok(Math.abs(sync.a[i] - sync.b[i]) < 1e-6, `maps not synced: ${JSON.stringify(sync)}`);

  // 5. the change layer: map B draws B − A, P in a "fewer" colour
  await page.check('input[name="layer"][value="change"]');
  await waitQuery(q + 1); q += 1;
  const chg = await page.evaluate((h) => {
    const f = window.lianqinReview.maps.b.queryRenderedFeatures({ layers: ['cells-fill'] });
    return { n: f.length, mine: f.find((x) => x.properties.h3 === h)?.properties ?? null, legend: document.getElementById('legend-b').innerText };
  }, hP);
  assert.ok(chg.n > 0 && chg.mine && chg.mine.change < 0, `change layer on map B: ${JSON.stringify(chg)}`);
  assert.match(chg.legend, /变化 B − A/);

  // 6. CSV export: UTF-8 with BOM, the agreed header, P's row
  const [csvDl] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.click('#export-csv')]);
  const csvPath = await csvDl.path();
  const csvBuf = fs.readFileSync(csvPath);
  assert.deepEqual([...csvBuf.subarray(0, 3)], [0xEF, 0xBB, 0xBF], 'CSV has no UTF-8 BOM');
  const lines = csvBuf.toString('utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter(Boolean);
  assert.equal(lines[0], 'h3,lon,lat,count_a,count_b,change,z,bin');
  const pLine = lines.find((l) => l.startsWith(`${hP},`));
  assert.ok(pLine, `no CSV row for ${hP}`);
  const f = pLine.split(',');
  assert.equal(f.length, 8, pLine);
  assert.ok(Number(f[3]) >= 20 && Number(f[5]) < 0 && Number(f[5]) === Number(f[4]) - Number(f[3]), `CSV row ${pLine}`);
  assert.match(csvDl.suggestedFilename(), /^热点研判_.*\.csv$/);
  t.diagnostic(`CSV ${csvDl.suggestedFilename()}: ${lines.length - 1} rows; ${pLine}`);

  // 7. PNG export: a real, non-empty PNG covering both maps
  const [pngDl] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), page.click('#export-png')]);
  const png = fs.readFileSync(await pngDl.path());
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], 'not a PNG');
  const w = png.readUInt32BE(16), h = png.readUInt32BE(20);
  assert.ok(png.length > 20_000 && w > 1000 && h > 400, `PNG too small: ${png.length} bytes, ${w}×${h}`);
  fs.writeFileSync('/tmp/lianqin-review-export.png', png);
  t.diagnostic(`PNG ${pngDl.suggestedFilename()}: ${png.length} bytes, ${w}×${h} (copy: /tmp/lianqin-review-export.png)`);

  // 8. emerging classes with Chinese legend, then back to Gi* for the screenshot
  await page.check('input[name="layer"][value="emerging"]');
  await waitQuery(q + 1); q += 1;
  const em = await page.evaluate(() => ({ legend: document.getElementById('legend-a').innerText, errors: window.lianqinReview.errors }));
  assert.deepEqual(em.errors, [], `API errors: ${em.errors.join('\n')}`);
  for (const name of ['新增热点', '连续热点', '加剧热点', '持续热点', '减弱热点', '零星热点', '振荡热点', '历史热点', '新增冷点', '持续冷点']) {
    assert.ok(em.legend.includes(name), `emerging legend lacks ${name}`);
  }
  await page.check('input[name="layer"][value="gi"]');
  await waitQuery(q + 1); q += 1;
  await page.evaluate(() => window.lianqinReview.maps.a.fitBounds([[121.18, 28.58], [121.36, 28.70]], { duration: 0 }));
  await page.evaluate((h) => window.lianqinReview.selectCell(h), hP);
  await page.waitForTimeout(800);
  await page.screenshot({ path: SHOT });
  t.diagnostic(`screenshot: ${SHOT}`);

  // 9. hygiene
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
