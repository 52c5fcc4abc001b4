// 热点研判 — the station leader's hotspot review page (UX.md §1.3), 1920×1080 desktop.
// Choose a jurisdiction, period A (and optionally B) and a category; see heat, Gi* hot/cold spots, emerging
// space-time classes, repeat locations and the per-cell change B − A on two synced maps; export PNG / CSV.
// Everything comes from our own server (/api/v1/...); H3 hexagons are drawn from the cell index with h3-js.
import maplibregl from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';
import './review.css';
import { latLngToCell, cellToBoundary, cellToParent, getResolution } from 'h3-js';

// The server aggregates each incident's resolution-10 cell into its parents
// (docs/RISK.md); H3 is not geometrically nested, so near a cell border a
// point's own res-9 cell can differ from its res-10 cell's parent. Use the
// server's convention everywhere a point is mapped to a cell.
const cellOfPoint = (lat, lon, res) => cellToParent(latLngToCell(lat, lon, 10), res);
import { TZ, DISTRICT_BBOX } from './config.js';
import { bboxOf } from './geo.js';
import { EMPTY, emptyStyle, DISTRICT_BOUNDS, fetchLayers, addStaticLayers, createLabels, pxFn } from './basemap.js';
import { cellFeature, heatScale, heatColor, fmtNum, HEAT_RAMP, rampColor } from './h3cells.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

// ---------------------------------------------------------------- palettes (all in one place)
// Gi* bins: ±3 = 99 %, ±2 = 95 %, ±1 = 90 % confidence; 0 = not significant (transparent).
// The base map is navy, so cold spots get lighter blues with rising opacity (dark blue would vanish).
export const BIN_STYLE = {
  3: { c: '#FF2A1F', o: 0.88, label: '热点 99%' },
  2: { c: '#FF6B57', o: 0.72, label: '热点 95%' },
  1: { c: '#FFB3A3', o: 0.55, label: '热点 90%' },
  0: { c: '#94A3B8', o: 0, label: '不显著' },
  '-1': { c: '#DBEAFE', o: 0.45, label: '冷点 90%' },
  '-2': { c: '#93C5FD', o: 0.65, label: '冷点 95%' },
  '-3': { c: '#3B9BFF', o: 0.85, label: '冷点 99%' },
};
// Emerging hot spot classes (ArcGIS naming), Chinese names.
export const EMERGING = [
  ['new_hot', '新增热点', '#FF3B6B'], ['consecutive_hot', '连续热点', '#FF8A3D'],
  ['intensifying_hot', '加剧热点', '#E5002B'], ['persistent_hot', '持续热点', '#B3122E'],
  ['diminishing_hot', '减弱热点', '#F9A8D4'], ['sporadic_hot', '零星热点', '#FDBA74'],
  ['oscillating_hot', '振荡热点', '#D28BFF'], ['historical_hot', '历史热点', '#C4A484'],
  ['new_cold', '新增冷点', '#67E8F9'], ['consecutive_cold', '连续冷点', '#38BDF8'],
  ['intensifying_cold', '加剧冷点', '#3B82F6'], ['persistent_cold', '持续冷点', '#2563EB'],
  ['diminishing_cold', '减弱冷点', '#A5B4FC'], ['sporadic_cold', '零星冷点', '#7DD3FC'],
  ['oscillating_cold', '振荡冷点', '#818CF8'], ['historical_cold', '历史冷点', '#94A3B8'],
];
const EMERGING_BY = Object.fromEntries(EMERGING.map(([k, n, c]) => [k, { name: n, c }]));
const CLASS_NAME = (k) => EMERGING_BY[k]?.name || (k === 'no_pattern' ? '无明显模式' : k || '');
const COUNT_RAMP = ['#5B4BC4', '#7E4FC8', '#B0479F', '#E0527A', '#FF9E5E', '#FFE9A6'];
// Change: red→orange = more in B, blue→cyan = fewer; on the navy map a bigger change is BRIGHTER (not darker).
const CHANGE_UP = ['#D9485F', '#FF4D4D', '#FF7A45', '#FFB020'];   // +1, +3, +5, +10
const CHANGE_DOWN = ['#4F7BE8', '#3FA0FF', '#45C6FF', '#9BE7FF']; // −1, −3, −5, −10
const AREA_LINE = '#FDE68A';
const SEL_LINE = '#FFFFFF';
const MAX_TABLE_ROWS = 300;

const LAYER_NAME = { gi: '热点分析 Gi*', emerging: '时空热点', heat: '风险热力', count: '警情计数', change: '变化 B−A' };

// ---------------------------------------------------------------- state / test surface
const state = {
  ready: false,
  loading: false,
  queries: 0,             // completed queries (rendered)
  errors: [],
  maps: { a: null, b: null },
  layers: {},             // base layers (FeatureCollections)
  sel: null,              // current selection (see readForm)
  data: { a: {}, b: {} }, // { hotspots, emerging, heat } per period
  rows: [],               // the cell table (all rows, what the CSV holds)
  rendered: { a: 0, b: 0 }, // features in each map's cell source
  selectedCell: null,
  lastCsv: null,          // { name, text }
  lastPng: null,          // { name, bytes }
  categories: [],
};
window.lianqinReview = state;

// ---------------------------------------------------------------- clock & dates (Asia/Shanghai days)
const fmtDate = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short' });
const fmtTime = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const fmtDay = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' });
const fmtDT = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false });
function tickClock() {
  const now = new Date();
  const p = Object.fromEntries(fmtDate.formatToParts(now).map((x) => [x.type, x.value]));
  $('clock-time').textContent = fmtTime.format(now);
  $('clock-date').textContent = `${p.year}年${p.month}月${p.day}日 ${p.weekday}`;
}
tickClock();
setInterval(tickClock, 1000);

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
const today = () => fmtDay.format(new Date());
const dayMs = (d) => Date.UTC(+d.slice(0, 4), +d.slice(5, 7) - 1, +d.slice(8, 10));
const addDays = (d, n) => new Date(dayMs(d) + n * 86400000).toISOString().slice(0, 10);
const daysIn = (p) => Math.round((dayMs(p.to) - dayMs(p.from)) / 86400000) + 1;
const startRfc = (d) => `${d}T00:00:00+08:00`;          // local midnight
const endRfc = (d) => `${addDays(d, 1)}T00:00:00+08:00`; // the "to" day is included
const periodText = (p) => `${p.from} 至 ${p.to}（${daysIn(p)}天）`;

function preset(kind, other) {
  const t = today();
  if (kind === '7') return { from: addDays(t, -6), to: t };
  if (kind === '30') return { from: addDays(t, -29), to: t };
  if (kind === 'lastmonth') {
    const y = +t.slice(0, 4), m = +t.slice(5, 7);
    const first = new Date(Date.UTC(m === 1 ? y - 1 : y, m === 1 ? 11 : m - 2, 1)).toISOString().slice(0, 10);
    const last = addDays(`${t.slice(0, 7)}-01`, -1);
    return { from: first, to: last };
  }
  if (kind === 'before' && other) { const n = daysIn(other); const to = addDays(other.from, -1); return { from: addDays(to, -(n - 1)), to }; }
  if (kind === 'after' && other) { const n = daysIn(other); const from = addDays(other.to, 1); return { from, to: addDays(from, n - 1) }; }
  return null;
}

// ---------------------------------------------------------------- form ⇄ URL
const form = $('form');
const q0 = new URLSearchParams(window.location.search);

function setPeriod(p, v) {
  if (!v) return;
  $(`${p}-from`).value = v.from;
  $(`${p}-to`).value = v.to;
  hints();
}
function getPeriod(p) {
  const from = $(`${p}-from`).value, to = $(`${p}-to`).value;
  if (!DAY_RE.test(from) || !DAY_RE.test(to)) return null;
  return from <= to ? { from, to } : { from: to, to: from };
}
function hints() {
  for (const p of ['a', 'b']) {
    const v = getPeriod(p);
    $(`${p}-hint`).textContent = v ? `${daysIn(v)}天` : '';
  }
}
const compareOn = () => $('compare').checked;
const layerVal = () => form.querySelector('input[name="layer"]:checked')?.value || 'gi';

function setCompare(on) {
  $('compare').checked = on;
  document.body.classList.toggle('comparing', on);
  $('col-b').hidden = !on;
  if (!on && layerVal() === 'change') form.querySelector('input[name="layer"][value="gi"]').checked = true;
}

function readForm() {
  const kind = $('area-kind').value;
  const code = $('area-code').value;
  const a = getPeriod('a');
  const cmp = compareOn();
  const b = cmp ? getPeriod('b') : null;
  return {
    area: kind && code ? `${kind}:${code}` : '',
    areaKind: kind, areaCode: code,
    a, b, compare: cmp && !!b,
    category: $('category').value.trim(),
    layer: layerVal(),
    res: Number($('res').value) || 9,
  };
}

function writeUrl(s) {
  const u = new URL(window.location.href);
  const p = new URLSearchParams();
  if (s.area) p.set('area', s.area);
  if (s.a) { p.set('from', s.a.from); p.set('to', s.a.to); }
  if (s.compare && s.b) { p.set('bfrom', s.b.from); p.set('bto', s.b.to); }
  if (s.category) p.set('cat', s.category);
  p.set('layer', s.layer);
  p.set('res', String(s.res));
  u.search = p.toString();
  window.history.replaceState(null, '', u);
}

// ---------------------------------------------------------------- API
const cache = new Map(); // url → Promise<json>
class ApiFail extends Error {}
async function getJson(url) {
  if (cache.has(url)) return cache.get(url);
  const pr = (async () => {
    let r;
    try { r = await fetch(url, { headers: { Accept: 'application/json' } }); } catch (e) { throw new ApiFail(`${url.split('?')[0]}: ${e.message}`); }
    const text = await r.text();
    let j = null;
    try { j = JSON.parse(text); } catch { /* not JSON */ }
    if (!r.ok) {
      const why = j ? [j.field, j.reason || j.error || j.message].filter(Boolean).join(' ') : text.slice(0, 160);
      throw new ApiFail(`${url.split('?')[0].replace(/^\./, '')} → HTTP ${r.status}${why ? `：${why}` : ''}`);
    }
    if (!j) throw new ApiFail(`${url.split('?')[0]}: 不是 JSON`);
    return j;
  })();
  cache.set(url, pr);
  pr.catch(() => cache.delete(url)); // failures are retried on the next query
  return pr;
}

function areaBbox(s) {
  const f = areaFeatures(s);
  const bb = f.length ? bboxOf({ type: 'FeatureCollection', features: f }) : null;
  const b = bb || state.districtBbox || DISTRICT_BBOX;
  return b.map((v, i) => (i < 2 ? Math.floor(v * 1e4) : Math.ceil(v * 1e4)) / 1e4);
}

function baseParams(s, p) {
  const q = new URLSearchParams();
  q.set('bbox', areaBbox(s).join(','));
  if (s.area) q.set('area', s.area);
  q.set('res', String(s.res));
  if (s.category) q.set('category', s.category);
  if (p) { q.set('from', startRfc(p.from)); q.set('to', endRfc(p.to)); }
  return q;
}
function hotspotsUrl(s, p) { const q = baseParams(s, p); q.set('k', '1'); return `./api/v1/hotspots?${q}`; }
const emergingStep = (p) => (daysIn(p) >= 28 ? 'week' : 'day');
function emergingUrl(s, p) { const q = baseParams(s, p); q.set('step', emergingStep(p)); q.set('k', '1'); return `./api/v1/hotspots/emerging?${q}`; }
function heatUrl(s, p) {
  const q = baseParams(s, null);
  q.set('surface', 'risk');
  const end = Date.parse(endRfc(p.to));
  q.set('at', new Date(Math.min(end, Date.now())).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  return `./api/v1/heat?${q}`;
}

// ---------------------------------------------------------------- jurisdictions
function areaFeatures(s) {
  const L = state.layers;
  if (!s?.areaKind || !s.areaCode) return [];
  if (s.areaKind === 'township') return (L.townships?.features || []).filter((f) => f.properties?.code === s.areaCode);
  if (s.areaKind === 'grid') return (L.grids?.features || []).filter((f) => f.properties?.code === s.areaCode);
  if (s.areaKind === 'station') {
    const st = (L.stations?.features || []).find((f) => f.properties?.code === s.areaCode);
    const serves = new Set(st?.properties?.serves || []);
    return (L.townships?.features || []).filter((f) => serves.has(f.properties?.code));
  }
  return [];
}
function areaName(s) {
  if (!s?.area) return '黄岩区全域';
  const L = state.layers;
  const pick = (fc) => (fc?.features || []).find((f) => f.properties?.code === s.areaCode)?.properties;
  if (s.areaKind === 'township') return pick(L.townships)?.name || s.area;
  if (s.areaKind === 'grid') { const p = pick(L.grids); return p ? `${p.township_name || ''} ${p.name}` : s.area; }
  if (s.areaKind === 'station') return pick(L.stations)?.name || s.area;
  return s.area;
}

function fillAreaCodes(kind, selected = '') {
  const sel = $('area-code');
  const L = state.layers;
  const opt = (code, name) => `<option value="${esc(code)}"${code === selected ? ' selected' : ''}>${esc(name)}</option>`;
  let html = '';
  if (kind === 'township') html = (L.townships?.features || []).map((f) => f.properties).sort((a, b) => a.code.localeCompare(b.code)).map((p) => opt(p.code, `${p.name}`)).join('');
  else if (kind === 'station') html = (L.stations?.features || []).map((f) => f.properties).map((p) => opt(p.code, p.name)).join('');
  else if (kind === 'grid') {
    const by = new Map();
    for (const f of L.grids?.features || []) {
      const p = f.properties; const k = p.township_name || p.township_code || '其他';
      if (!by.has(k)) by.set(k, []);
      by.get(k).push(p);
    }
    html = [...by].map(([t, ps]) => `<optgroup label="${esc(t)}">${ps.map((p) => opt(p.code, p.name)).join('')}</optgroup>`).join('');
  }
  sel.innerHTML = kind ? html : '<option value="">黄岩区全域</option>';
  sel.disabled = !kind;
  areaNote();
}
function areaNote() {
  const kind = $('area-kind').value, code = $('area-code').value;
  let t = '';
  if (kind === 'station' && code) {
    const st = (state.layers.stations?.features || []).find((f) => f.properties?.code === code)?.properties;
    const names = (state.layers.townships?.features || []).filter((f) => (st?.serves || []).includes(f.properties.code)).map((f) => f.properties.name);
    t = names.length ? `负责：${names.join('、')}` : '';
  }
  $('area-note').textContent = t;
}

// ---------------------------------------------------------------- maps
const px = pxFn(1);
const mapReady = {};
function createMap(p) {
  if (mapReady[p]) return mapReady[p];
  const map = new maplibregl.Map({
    container: `map-${p}`,
    style: emptyStyle(`lianqin-review-${p}`),
    bounds: DISTRICT_BOUNDS,
    fitBoundsOptions: { padding: 30 },
    attributionControl: false,
    fadeDuration: 0,
    renderWorldCopies: false,
    dragRotate: false,
    pitchWithRotate: false,
    touchPitch: false,
    minZoom: 8,
    maxZoom: 17,
    // on this page only: the canvas must still hold the frame when "导出地图 PNG" reads it
    canvasContextAttributes: { preserveDrawingBuffer: true, antialias: true },
  });
  state.maps[p] = map;
  map.on('error', (e) => { const m = e?.error?.message || String(e?.error || e); state.errors.push(`map ${p}: ${m}`); console.warn('[map]', m); });
  new ResizeObserver(() => map.resize()).observe($(`map-${p}`));
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ maxWidth: 120, unit: 'metric' }), 'bottom-right');
  const labels = createLabels(map, { obstacles: () => [$(`legend-${p}`)] });
  map.__labels = labels;
  mapReady[p] = (async () => {
    if (!map.loaded()) await new Promise((res) => map.once('load', res));
    await layersLoaded;
    addStaticLayers(map, state.layers, px);
    map.setPaintProperty('townships-fill', 'fill-opacity', 0.6);
    map.addSource('cells', { type: 'geojson', data: EMPTY, promoteId: 'h3' });
    map.addSource('area', { type: 'geojson', data: EMPTY });
    map.addSource('sel', { type: 'geojson', data: EMPTY });
    // cells above township fills, under grid/township lines, the boundary and the station/post symbols
    map.addLayer({ id: 'cells-fill', type: 'fill', source: 'cells', paint: { 'fill-color': ['get', '_c'], 'fill-opacity': ['get', '_o'] } }, 'grids-line');
    map.addLayer({ id: 'cells-line', type: 'line', source: 'cells', paint: { 'line-color': ['get', '_lc'], 'line-width': 1, 'line-opacity': ['get', '_lo'] } }, 'grids-line');
    map.addLayer({ id: 'area-line', type: 'line', source: 'area', paint: { 'line-color': AREA_LINE, 'line-width': 2.5, 'line-dasharray': [3, 1.5] } });
    map.addLayer({ id: 'sel-line', type: 'line', source: 'sel', paint: { 'line-color': SEL_LINE, 'line-width': 3 } });
    labels.addLabels(state.layers);
    map.on('click', (e) => {
      if (!state.sel) return;
      selectCell(cellOfPoint(e.lngLat.lat, e.lngLat.lng, state.sel.res), { popupOn: p, lngLat: e.lngLat });
    });
    map.on('mousemove', (e) => {
      const hit = map.queryRenderedFeatures(e.point, { layers: ['cells-fill'] }).some((f) => f.properties._o > 0);
      map.getCanvas().style.cursor = hit ? 'pointer' : '';
    });
    return map;
  })();
  return mapReady[p];
}

// camera sync: move one, the other follows (guarded so the follower's own move does not echo back)
let syncing = false;
function syncMaps(a, b) {
  const follow = (src, dst) => src.on('move', () => {
    if (syncing || !dst) return;
    syncing = true;
    dst.jumpTo({ center: src.getCenter(), zoom: src.getZoom(), bearing: src.getBearing(), pitch: src.getPitch() });
    syncing = false;
  });
  follow(a, b); follow(b, a);
  b.on('moveend', () => b.__labels?.declutter());
  a.on('moveend', () => a.__labels?.declutter());
}

// ---------------------------------------------------------------- cell styling per layer
function countColor(n, max) {
  const t = max <= 1 ? 1 : Math.log(n) / Math.log(max);
  return rampColor(COUNT_RAMP, 0.15 + 0.85 * Math.min(1, Math.max(0, t)));
}
const CHANGE_STOPS = [1, 3, 5, 10];
function changeStyle(d) {
  if (!d) return { c: '#94A3B8', o: 0 };
  const a = Math.abs(d);
  let i = 0;
  while (i < CHANGE_STOPS.length - 1 && a >= CHANGE_STOPS[i + 1]) i += 1;
  return { c: (d > 0 ? CHANGE_UP : CHANGE_DOWN)[i], o: 0.62 + 0.1 * i };
}

function mapMode(p, s) {
  if (s.layer === 'change') return p === 'a' ? 'count' : 'change';
  return s.layer;
}

function sharedHeatScale() {
  let m = 0;
  for (const p of ['a', 'b']) m = Math.max(m, Number(state.data[p].heat?.max_intensity) || 0, ...(state.data[p].heat?.cells || []).map((c) => Number(c.intensity) || 0));
  return heatScale(m);
}
function sharedCountMax() {
  let m = 1;
  for (const p of ['a', 'b']) for (const c of state.data[p].hotspots?.cells || []) m = Math.max(m, Number(c.count) || 0);
  return m;
}

function featuresFor(p, s) {
  const mode = mapMode(p, s);
  const D = state.data[p];
  const feats = [];
  const push = (h3, props) => { const f = cellFeature(h3, props); if (f) feats.push(f); };
  if (mode === 'gi') {
    for (const c of D.hotspots?.cells || []) {
      const bin = Number(c.bin) || 0;
      const st = BIN_STYLE[bin] || BIN_STYLE[0];
      push(c.h3, { count: c.count, z: c.z, p: c.p, bin, _c: st.c, _o: st.o, _lc: bin ? st.c : '#CBD5E1', _lo: bin ? 0.9 : (c.count > 0 ? 0.28 : 0) });
    }
  } else if (mode === 'emerging') {
    for (const c of D.emerging?.cells || []) {
      const k = EMERGING_BY[c.class];
      if (!k) continue;
      push(c.h3, { cls: c.class, trend_z: c.trend_z, _c: k.c, _o: 0.72, _lc: k.c, _lo: 0.95 });
    }
  } else if (mode === 'heat') {
    const sc = sharedHeatScale();
    for (const c of D.heat?.cells || []) {
      const v = Number(c.intensity) || 0;
      if (v < sc.stops[0] / 2) continue;
      const col = heatColor(v, sc);
      push(c.h3, { intensity: v, count: c.count, _c: col, _o: 0.7, _lc: col, _lo: 0.8 });
    }
  } else if (mode === 'count') {
    const max = sharedCountMax();
    for (const c of D.hotspots?.cells || []) {
      const n = Number(c.count) || 0;
      if (n <= 0) continue;
      const col = countColor(n, max);
      push(c.h3, { count: n, _c: col, _o: 0.72, _lc: col, _lo: 0.8 });
    }
  } else if (mode === 'change') {
    for (const r of state.rows) {
      if (!r.change) continue;
      const st = changeStyle(r.change);
      push(r.h3, { change: r.change, count_a: r.count_a, count_b: r.count_b, _c: st.c, _o: st.o, _lc: st.c, _lo: 0.95 });
    }
  }
  return feats;
}

// legend spec per map: { title, note, items: [{ c, o, label, n }], ramp? } — drawn in the DOM and in the PNG
function legendFor(p, s) {
  const mode = mapMode(p, s);
  const D = state.data[p];
  if (mode === 'gi') {
    const n = {};
    for (const c of D.hotspots?.cells || []) n[c.bin] = (n[c.bin] || 0) + 1;
    return {
      title: '热点分析 Getis-Ord Gi*', cols: 2,
      items: [3, 2, 1, -1, -2, -3].map((b) => ({ c: BIN_STYLE[b].c, o: BIN_STYLE[b].o, label: BIN_STYLE[b].label, n: n[b] || 0 })),
      note: `置信度经 FDR 校正；未着色 = 不显著。邻域：k=${D.hotspots?.k ?? 1} 环（含自身）`,
    };
  }
  if (mode === 'emerging') {
    const n = {};
    for (const c of D.emerging?.cells || []) n[c.class] = (n[c.class] || 0) + 1;
    const per = D.emerging?.periods?.length;
    return {
      title: `时空热点（${emergingStep(p === 'a' ? s.a : s.b) === 'week' ? '按周' : '按日'}${per ? `，${per} 个时段` : ''}）`, cols: 2,
      items: EMERGING.map(([k, name, c]) => ({ c, o: 0.72, label: name, n: n[k] || 0 })),
      note: '未着色 = 无明显模式',
    };
  }
  if (mode === 'heat') {
    const sc = sharedHeatScale();
    const hl = Number(D.heat?.half_life_s) || 30 * 86400;
    return {
      title: '风险热力（截至时段末）', ramp: sc.stops.map((v, i) => ({ c: heatColor(v, sc), label: `${i === sc.stops.length - 1 ? '≥' : ''}${fmtNum(v)}` })),
      note: `强度 = Σ 2^(−距今/${fmtNum(hl / 86400)}天)，1 ≈ 1 起刚发生的警情；统计窗 90 天`,
    };
  }
  if (mode === 'count') {
    const max = sharedCountMax();
    const steps = [...new Set([1, Math.round(max ** 0.25), Math.round(max ** 0.5), Math.round(max ** 0.75), max])].filter((v) => v >= 1);
    return {
      title: '警情计数（每单元，时段内）', ramp: steps.map((v) => ({ c: countColor(v, max), label: String(v) })),
      note: s.layer === 'change' ? '左：时段 A 计数；右：变化 B − A' : 'A、B 两图使用同一色阶',
    };
  }
  // change
  const items = [];
  for (let i = CHANGE_STOPS.length - 1; i >= 0; i -= 1) items.push({ c: CHANGE_UP[i], o: 0.62 + 0.1 * i, label: `+${CHANGE_STOPS[i]}${i === CHANGE_STOPS.length - 1 ? ' 以上' : ''}` });
  for (let i = 0; i < CHANGE_STOPS.length; i += 1) items.push({ c: CHANGE_DOWN[i], o: 0.62 + 0.1 * i, label: `−${CHANGE_STOPS[i]}${i === CHANGE_STOPS.length - 1 ? ' 以上' : ''}` });
  const up = state.rows.filter((r) => r.change > 0).length, dn = state.rows.filter((r) => r.change < 0).length;
  return { title: '变化 B − A（起/单元）', cols: 2, items, note: `增加 ${up} 个单元，减少 ${dn} 个单元；红 = B 比 A 多` };
}

function renderLegend(p, spec) {
  const el = $(`legend-${p}`);
  state.legend = state.legend || {};
  state.legend[p] = spec;
  if (!spec) { el.hidden = true; return; }
  el.hidden = false;
  const items = spec.items ? `<div class="rl-items" style="--cols:${spec.cols || 1}">${spec.items.map((it) => `<div class="legend-row${it.n === 0 ? ' rl-zero' : ''}">
      <span class="sw rl-sw" style="background:${it.c};opacity:${Math.max(0.35, it.o ?? 1)}"></span>${esc(it.label)}${it.n !== undefined ? `<span class="rl-n">${it.n}</span>` : ''}</div>`).join('')}</div>` : '';
  const ramp = spec.ramp ? `<div class="rl-ramp">${spec.ramp.map((r) => `<span style="background:${r.c}"></span>`).join('')}</div>
      <div class="rl-ramp-n">${spec.ramp.map((r) => `<span>${esc(r.label)}</span>`).join('')}</div>` : '';
  el.innerHTML = `<div class="legend-title">${esc(spec.title)}</div>${items}${ramp}${spec.note ? `<div class="legend-note">${esc(spec.note)}</div>` : ''}`;
}

// ---------------------------------------------------------------- table rows (the change table / CSV)
function buildRows(s) {
  const A = state.data.a.hotspots, B = state.data.b.hotspots;
  const rows = new Map();
  const addr = new Map();
  for (const t of [...(A?.top_places || []), ...(B?.top_places || [])]) {
    const h = toRes(t.h3, s.res); // top_places may come at a finer resolution than the cells
    if (t.address && h && !addr.has(h)) addr.set(h, t.address);
  }
  const row = (c) => {
    let r = rows.get(c.h3);
    if (!r) { r = { h3: c.h3, lon: c.lon, lat: c.lat, count_a: 0, count_b: s.compare ? 0 : null, change: null, z: null, bin: null, p: null, address: addr.get(c.h3) || '' }; rows.set(c.h3, r); }
    return r;
  };
  for (const c of A?.cells || []) { const r = row(c); r.count_a = Number(c.count) || 0; if (!s.compare) { r.z = c.z; r.bin = c.bin; r.p = c.p_fdr ?? c.p; } }
  if (s.compare) {
    for (const c of B?.cells || []) { const r = row(c); r.count_b = Number(c.count) || 0; r.z = c.z; r.bin = c.bin; r.p = c.p_fdr ?? c.p; }
    for (const r of rows.values()) r.change = r.count_b - r.count_a;
  }
  const out = [...rows.values()].filter((r) => r.count_a || r.count_b || (r.bin && r.bin !== 0));
  if (s.compare) out.sort((x, y) => Math.abs(y.change) - Math.abs(x.change) || y.count_b - x.count_b || x.h3.localeCompare(y.h3));
  else out.sort((x, y) => (Number(y.z) || 0) - (Number(x.z) || 0) || y.count_a - x.count_a);
  return out;
}

function toRes(h3, res) {
  try { const r = getResolution(h3); return r > res ? cellToParent(h3, res) : h3; } catch { return null; }
}
const binText = (b) => (b === null || b === undefined ? '' : b === 0 ? '不显著' : BIN_STYLE[b]?.label || String(b));
const where = (r) => r.address || `${Number(r.lon).toFixed(4)}, ${Number(r.lat).toFixed(4)}`;

function renderTable(s) {
  const rows = state.rows;
  const th = $('cells-table').tHead, tb = $('cells-table').tBodies[0];
  if (s.compare) {
    $('tbl-title').textContent = '逐单元变化 B − A';
    th.innerHTML = '<tr><th>#</th><th>位置</th><th class="num">A</th><th class="num">B</th><th class="num">变化</th><th>Gi*（B）</th></tr>';
    tb.innerHTML = rows.slice(0, MAX_TABLE_ROWS).map((r, i) => `<tr data-h3="${esc(r.h3)}" class="${r.change > 0 ? 'up' : r.change < 0 ? 'down' : ''}">
      <td class="num dim">${i + 1}</td><td class="addr" title="${esc(r.h3)}">${esc(where(r))}</td>
      <td class="num">${r.count_a}</td><td class="num">${r.count_b}</td>
      <td class="num chg">${r.change > 0 ? `▲ +${r.change}` : r.change < 0 ? `▼ −${-r.change}` : '0'}</td>
      <td><span class="bin bin-${r.bin ?? 'x'}">${esc(binText(r.bin))}</span></td></tr>`).join('');
    const up = rows.filter((r) => r.change > 0).length, dn = rows.filter((r) => r.change < 0).length;
    $('tbl-sub').textContent = `${rows.length} 个单元 · 增加 ${up} · 减少 ${dn}${rows.length > MAX_TABLE_ROWS ? ` · 显示前 ${MAX_TABLE_ROWS}` : ''} · 按变化幅度排序`;
  } else {
    $('tbl-title').textContent = '热点单元（时段 A）';
    th.innerHTML = '<tr><th>#</th><th>位置</th><th class="num">次数</th><th class="num">z</th><th class="num">p(FDR)</th><th>等级</th></tr>';
    tb.innerHTML = rows.slice(0, MAX_TABLE_ROWS).map((r, i) => `<tr data-h3="${esc(r.h3)}">
      <td class="num dim">${i + 1}</td><td class="addr" title="${esc(r.h3)}">${esc(where(r))}</td>
      <td class="num">${r.count_a}</td><td class="num">${Number.isFinite(Number(r.z)) ? Number(r.z).toFixed(2) : ''}</td>
      <td class="num">${Number.isFinite(Number(r.p)) ? Number(r.p).toFixed(3) : ''}</td>
      <td><span class="bin bin-${r.bin ?? 'x'}">${esc(binText(r.bin))}</span></td></tr>`).join('');
    const hot = rows.filter((r) => r.bin > 0).length, cold = rows.filter((r) => r.bin < 0).length;
    $('tbl-sub').textContent = `${rows.length} 个有警情单元 · 热点 ${hot} · 冷点 ${cold} · 按 z 排序`;
  }
  if (!rows.length) tb.innerHTML = '<tr><td colspan="6" class="empty">所选条件下没有警情</td></tr>';
}

let topPeriod = 'a';
function renderTop() {
  const D = state.data[topPeriod]?.hotspots;
  const tops = D?.top_places || [];
  $('top-table').tBodies[0].innerHTML = tops.length ? tops.map((t, i) => `<tr data-h3="${esc(t.h3)}">
    <td class="num dim">${i + 1}</td><td class="addr" title="${esc(t.h3)}">${esc(t.address || `${Number(t.lon).toFixed(4)}, ${Number(t.lat).toFixed(4)}`)}</td>
    <td class="num">${t.count}</td><td class="cats">${esc((t.categories || []).join('、'))}</td></tr>`).join('')
    : '<tr><td colspan="4" class="empty">无重复地点</td></tr>';
  $('top-sub').textContent = state.sel ? `时段 ${topPeriod.toUpperCase()}` : '';
  for (const b of $('top-seg').querySelectorAll('button')) b.classList.toggle('on', b.dataset.p === topPeriod);
}

// ---------------------------------------------------------------- query
let queryToken = 0;
function showMsg(text) { const m = $('msg'); m.hidden = !text; m.textContent = text || ''; }

async function runQuery({ fit = false } = {}) {
  const s = readForm();
  if (!s.a) { showMsg('请选择时段 A 的开始和结束日期'); return; }
  if (compareOn() && !s.b) { showMsg('请选择时段 B 的开始和结束日期（或取消对比）'); return; }
  showMsg('');
  writeUrl(s);
  const token = ++queryToken;
  state.loading = true;
  state.sel = s;
  document.body.classList.add('loading');
  $('load-a').hidden = false; if (s.compare) $('load-b').hidden = false;
  $('status').textContent = '查询中…';
  const periods = s.compare ? ['a', 'b'] : ['a'];
  const jobs = [];
  const errs = [];
  const data = { a: {}, b: {} };
  for (const p of periods) {
    const per = s[p];
    jobs.push(getJson(hotspotsUrl(s, per)).then((j) => { data[p].hotspots = j; }, (e) => errs.push(e.message)));
    if (s.layer === 'emerging') jobs.push(getJson(emergingUrl(s, per)).then((j) => { data[p].emerging = j; }, (e) => errs.push(e.message)));
    if (s.layer === 'heat') jobs.push(getJson(heatUrl(s, per)).then((j) => { data[p].heat = j; }, (e) => errs.push(e.message)));
  }
  const maps = await Promise.all(periods.map((p) => createMap(p)));
  if (s.compare && !state.synced) { syncMaps(state.maps.a, state.maps.b); state.synced = true; }
  if (s.compare) state.maps.b.jumpTo({ center: state.maps.a.getCenter(), zoom: state.maps.a.getZoom() });
  await Promise.all(jobs);
  if (token !== queryToken) return; // a newer query started
  state.data = data;
  state.rows = buildRows(s);
  if (errs.length) { state.errors.push(...errs); showMsg([...new Set(errs)].join('\n')); }

  const areaFc = { type: 'FeatureCollection', features: areaFeatures(s) };
  const applied = [];
  for (const p of ['a', 'b']) {
    const map = state.maps[p];
    if (!map || !map.getSource('cells')) continue;
    const on = periods.includes(p);
    const feats = on ? featuresFor(p, s) : [];
    applied.push(map.getSource('cells').setData({ type: 'FeatureCollection', features: feats }, true));
    applied.push(map.getSource('area').setData(areaFc, true));
    state.rendered[p] = feats.length;
    renderLegend(p, on ? legendFor(p, s) : null);
    renderCaption(p, s);
    $(`load-${p}`).hidden = true;
  }
  renderTable(s);
  if (!s.compare) topPeriod = 'a';
  renderTop();
  if (state.selectedCell) selectCell(state.selectedCell, { quiet: true });
  if (fit) {
    for (const p of periods) state.maps[p].resize(); // the layout may just have changed (compare on/off)
    const bb = areaBbox(s);
    maps[0].fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: 40, duration: 0 });
  }
  for (const p of periods) state.maps[p].__labels?.declutter();
  // wait until the sources took the new data and both maps drew it (idle), at most 5 s
  await Promise.race([Promise.allSettled(applied), new Promise((res) => setTimeout(res, 5000))]);
  await Promise.all(periods.map((p) => new Promise((res) => {
    const m = state.maps[p];
    const t = setTimeout(res, 5000);
    m.once('idle', () => { clearTimeout(t); res(); });
    m.triggerRepaint();
  })));
  if (token !== queryToken) return;
  const nA = data.a.hotspots?.n_incidents, nB = data.b.hotspots?.n_incidents;
  $('status').innerHTML = `${esc(areaName(s))} · ${esc(LAYER_NAME[s.layer])} · A ${nA ?? '--'} 起${s.compare ? ` / B ${nB ?? '--'} 起` : ''} <span class="muted">· 更新于 ${esc(fmtTime.format(new Date()))}</span>`;
  document.body.classList.remove('loading');
  state.loading = false;
  state.queries += 1;
  state.ready = true;
  document.body.dataset.ready = '1';
}

function renderCaption(p, s) {
  const cap = $(`cap-${p}`).querySelector('.cap-text');
  const per = s[p];
  if (!per) { cap.textContent = '—'; return; }
  const H = state.data[p].hotspots;
  const hot = (H?.cells || []).filter((c) => c.bin > 0).length, cold = (H?.cells || []).filter((c) => c.bin < 0).length;
  const mode = mapMode(p, s);
  const what = mode === 'change' ? '变化 B − A' : LAYER_NAME[mode];
  cap.innerHTML = `<b>时段 ${p.toUpperCase()}</b> ${esc(periodText(per))} <span class="cap-sep">|</span> ${esc(what)} <span class="cap-sep">|</span> 警情 <b>${H?.n_incidents ?? '--'}</b> 起 · 热点 <b class="hot">${hot}</b> · 冷点 <b class="cold">${cold}</b> 单元`;
  state.captions = state.captions || {};
  state.captions[p] = `时段${p.toUpperCase()} ${periodText(per)} · ${what} · 警情 ${H?.n_incidents ?? '--'} 起 · 热点 ${hot} · 冷点 ${cold} 单元`;
}

// ---------------------------------------------------------------- one cell: popup + incident list
let popup = null;
async function selectCell(h3, { popupOn = null, lngLat = null, quiet = false } = {}) {
  if (!h3 || !state.sel) return;
  state.selectedCell = h3;
  const s = state.sel;
  const ring = cellToBoundary(h3, true);
  const selFc = { type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [ring] } }] };
  for (const p of ['a', 'b']) state.maps[p]?.getSource('sel')?.setData(selFc);
  for (const tr of document.querySelectorAll('.rv-table tr.sel')) tr.classList.remove('sel');
  for (const tr of document.querySelectorAll(`.rv-table tr[data-h3="${CSS.escape(h3)}"]`)) tr.classList.add('sel');
  const find = (p, k) => (state.data[p][k]?.cells || []).find((c) => c.h3 === h3);
  const ha = find('a', 'hotspots'), hb = find('b', 'hotspots');
  const ea = find('a', 'emerging'), eb = find('b', 'emerging');
  const row = state.rows.find((r) => r.h3 === h3);
  const line = (p, h, e) => `<div class="cc-p"><span class="tag tag-${p}">${p.toUpperCase()}</span> ${h?.count ?? 0} 起
      ${h && Number.isFinite(Number(h.z)) ? ` · z ${Number(h.z).toFixed(2)}` : ''}${h ? ` · <span class="bin bin-${h.bin}">${esc(binText(Number(h.bin) || 0))}</span>` : ''}${e ? ` · ${esc(CLASS_NAME(e.class))}` : ''}</div>`;
  const html = `<div class="cc-hd">单元 <code>${esc(h3)}</code>${row?.address ? `<div class="cc-addr">${esc(row.address)}</div>` : ''}</div>
    ${line('a', ha, ea)}${s.compare ? line('b', hb, eb) : ''}
    ${s.compare ? `<div class="cc-chg ${row?.change > 0 ? 'up' : row?.change < 0 ? 'down' : ''}">变化 B − A：<b>${row ? (row.change > 0 ? `+${row.change}` : row.change) : 0}</b></div>` : ''}`;
  if (popup) popup.remove();
  if (popupOn && lngLat && !quiet) {
    popup = new maplibregl.Popup({ closeButton: true, maxWidth: '22rem', className: 'rv-popup' }).setLngLat(lngLat).setHTML(html).addTo(state.maps[popupOn]);
  }
  const card = $('cell-card');
  card.hidden = false;
  card.innerHTML = `${html}<div class="cc-list-hd">本单元警情</div><ol class="cc-list" id="cc-list"><li class="dim">加载中…</li></ol>`;
  // the incidents of this cell in the period(s): GET /api/v1/incidents by the cell's bbox, filtered here
  let w = 180, so = 90, e = -180, n = -90;
  for (const [x, y] of ring) { w = Math.min(w, x); e = Math.max(e, x); so = Math.min(so, y); n = Math.max(n, y); }
  const pers = [s.a, s.compare ? s.b : null].filter(Boolean);
  const since = pers.map((p) => p.from).sort()[0];
  try {
    const j = await getJson(`./api/v1/incidents?bbox=${[w, so, e, n].map((v) => v.toFixed(6)).join(',')}&since=${encodeURIComponent(startRfc(since))}&limit=500`);
    if (state.selectedCell !== h3) return;
    const inPer = (t) => pers.map((p, i) => (t >= Date.parse(startRfc(p.from)) && t < Date.parse(endRfc(p.to)) ? (i === 0 ? 'a' : 'b') : null)).filter(Boolean);
    const list = [];
    for (const f of j.features || []) {
      const pr = f.properties || {};
      const [lon, lat] = f.geometry?.coordinates || [];
      if (cellOfPoint(lat, lon, s.res) !== h3) continue;
      if (s.category && pr.category !== s.category) continue;
      const t = Date.parse(pr.reported_at || '');
      const tags = inPer(t);
      if (!tags.length) continue;
      list.push({ pr, t, tags });
    }
    list.sort((x, y) => y.t - x.t);
    $('cc-list').innerHTML = list.length ? list.slice(0, 60).map(({ pr, t, tags }) => `<li>${tags.map((p) => `<span class="tag tag-${p}">${p.toUpperCase()}</span>`).join('')}
        <span class="cc-t">${esc(fmtDT.format(new Date(t)))}</span> <b>${esc(pr.category || '未分类')}</b> ${esc(pr.address || '')}<div class="dim">${esc(pr.description || '')}</div></li>`).join('')
      + (list.length > 60 ? `<li class="dim">… 共 ${list.length} 起</li>` : '')
      : '<li class="dim">本单元在所选时段内无警情</li>';
  } catch (err) {
    if (state.selectedCell === h3) $('cc-list').innerHTML = `<li class="err">${esc(err.message)}</li>`;
  }
}

function flyToCell(h3) {
  const map = state.maps.a;
  if (!map) return;
  const ring = cellToBoundary(h3, true);
  const c = ring.slice(0, -1).reduce((acc, [x, y]) => [acc[0] + x / (ring.length - 1), acc[1] + y / (ring.length - 1)], [0, 0]);
  map.easeTo({ center: c, zoom: Math.max(map.getZoom(), 13.5), duration: 600 });
  selectCell(h3);
}

// ---------------------------------------------------------------- exports
function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = $('dl');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
const fileStem = () => {
  const s = state.sel;
  if (!s) return '热点研判';
  const per = s.compare ? `${s.a.from}_${s.a.to}_vs_${s.b.from}_${s.b.to}` : `${s.a.from}_${s.a.to}`;
  return `热点研判_${areaName(s).replace(/\s+/g, '')}_${per}${s.category ? `_${s.category}` : ''}`;
};

const csvCell = (v) => {
  if (v === null || v === undefined) return '';
  const t = String(v);
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
};
/** UTF-8 with BOM (Excel shows Chinese); columns h3,lon,lat,count_a,count_b,change,z,bin. */
function exportCsv() {
  if (!state.sel) return null;
  const head = ['h3', 'lon', 'lat', 'count_a', 'count_b', 'change', 'z', 'bin'];
  const lines = [head.join(',')];
  for (const r of state.rows) {
    lines.push([r.h3, Number(r.lon).toFixed(6), Number(r.lat).toFixed(6), r.count_a, r.count_b, r.change,
      Number.isFinite(Number(r.z)) && r.z !== null ? Number(r.z).toFixed(4) : '', r.bin].map(csvCell).join(','));
  }
  const text = `\uFEFF${lines.join('\r\n')}\r\n`;
  const name = `${fileStem()}.csv`;
  state.lastCsv = { name, text };
  download(name, new Blob([text], { type: 'text/csv;charset=utf-8' }));
  return state.lastCsv;
}

/** Both map canvases side by side with captions, the DOM labels and the legends drawn in; downloaded as PNG. */
async function exportPng() {
  if (!state.sel) return null;
  const s = state.sel;
  const ps = s.compare ? ['a', 'b'] : ['a'];
  for (const p of ps) { state.maps[p].triggerRepaint(); await new Promise((res) => state.maps[p].once('render', res)); }
  const dpr = window.devicePixelRatio || 1;
  const canv = ps.map((p) => state.maps[p].getCanvas());
  const gap = Math.round(8 * dpr), head = Math.round(64 * dpr), capH = Math.round(30 * dpr);
  const W = canv.reduce((a, c) => a + c.width, 0) + gap * (canv.length - 1);
  const H = head + capH + Math.max(...canv.map((c) => c.height));
  const out = document.createElement('canvas');
  out.width = W; out.height = H;
  const g = out.getContext('2d');
  g.fillStyle = '#051655'; g.fillRect(0, 0, W, H);
  const font = getComputedStyle(document.body).fontFamily;
  g.fillStyle = '#E8F6FF'; g.font = `700 ${Math.round(26 * dpr)}px ${font}`; g.textBaseline = 'middle';
  g.fillText(`黄岩区联勤 · 热点研判 — ${areaName(s)}${s.category ? ` · ${s.category}` : ''}`, 16 * dpr, head * 0.42);
  g.fillStyle = '#7FA6CC'; g.font = `${Math.round(14 * dpr)}px ${font}`;
  g.fillText(`${LAYER_NAME[s.layer]} · H3 ${s.res} 级 · 导出于 ${fmtDay.format(new Date())} ${fmtTime.format(new Date())} · 边界为示意`, 16 * dpr, head * 0.8);
  let x = 0;
  ps.forEach((p, i) => {
    const c = canv[i];
    g.fillStyle = 'rgba(47,212,255,0.16)'; g.fillRect(x, head, c.width, capH);
    g.fillStyle = '#E8F6FF'; g.font = `${Math.round(15 * dpr)}px ${font}`;
    g.fillText(state.captions?.[p] || '', x + 10 * dpr, head + capH / 2);
    const y0 = head + capH;
    g.drawImage(c, x, y0);
    const box = $(`map-${p}`).getBoundingClientRect();
    // DOM labels (township / station names) — the canvas has none, there is no glyph server
    for (const el of $(`map-${p}`).querySelectorAll('.map-label')) {
      if (el.style.display === 'none') continue;
      const r = el.getBoundingClientRect();
      if (!r.width || r.right < box.left || r.left > box.right || r.bottom < box.top || r.top > box.bottom) continue;
      const cs = getComputedStyle(el);
      const lx = x + (r.left - box.left + r.width / 2) * dpr, ly = y0 + (r.top - box.top + r.height / 2) * dpr;
      g.font = `${cs.fontWeight} ${parseFloat(cs.fontSize) * dpr}px ${font}`;
      g.textAlign = 'center';
      if (cs.backgroundColor && cs.backgroundColor !== 'rgba(0, 0, 0, 0)') {
        g.fillStyle = cs.backgroundColor; g.fillRect(x + (r.left - box.left) * dpr, y0 + (r.top - box.top) * dpr, r.width * dpr, r.height * dpr);
      }
      g.lineWidth = 3 * dpr; g.strokeStyle = '#051655'; g.strokeText(el.textContent, lx, ly);
      g.fillStyle = cs.color; g.fillText(el.textContent, lx, ly);
      g.textAlign = 'left';
    }
    drawLegend(g, state.legend?.[p], x + 12 * dpr, y0 + c.height - 12 * dpr, dpr, font);
    x += c.width + gap;
  });
  const blob = await new Promise((res) => out.toBlob(res, 'image/png'));
  const name = `${fileStem()}.png`;
  state.lastPng = { name, bytes: blob.size, width: W, height: H };
  download(name, blob);
  return state.lastPng;
}

function drawLegend(g, spec, x, yBottom, dpr, font) {
  if (!spec) return;
  const fs = 13 * dpr, lh = 19 * dpr, pad = 8 * dpr;
  const items = spec.items || [];
  const cols = spec.cols || 1;
  const colW = 118 * dpr;
  const rowsN = Math.ceil(items.length / cols);
  const rampH = spec.ramp ? 38 * dpr : 0;
  const w = Math.max(cols * colW, spec.ramp ? spec.ramp.length * 46 * dpr : 0, 200 * dpr) + pad * 2;
  const h = pad * 2 + lh + rowsN * lh + rampH;
  const y = yBottom - h;
  g.fillStyle = 'rgba(5,22,85,0.88)'; g.fillRect(x, y, w, h);
  g.strokeStyle = 'rgba(47,212,255,0.45)'; g.lineWidth = dpr; g.strokeRect(x, y, w, h);
  g.textBaseline = 'middle'; g.textAlign = 'left';
  g.fillStyle = '#2FD4FF'; g.font = `700 ${fs}px ${font}`; g.fillText(spec.title, x + pad, y + pad + lh / 2);
  g.font = `${fs}px ${font}`;
  items.forEach((it, i) => {
    const cx = x + pad + (i % cols) * colW, cy = y + pad + lh * (1 + Math.floor(i / cols)) + lh / 2;
    g.globalAlpha = Math.max(0.35, it.o ?? 1); g.fillStyle = it.c; g.fillRect(cx, cy - 6 * dpr, 16 * dpr, 12 * dpr); g.globalAlpha = 1;
    g.fillStyle = '#E8F6FF'; g.fillText(`${it.label}${it.n !== undefined ? ` (${it.n})` : ''}`, cx + 22 * dpr, cy);
  });
  if (spec.ramp) {
    const ry = y + pad + lh * (1 + rowsN);
    const sw = (w - pad * 2) / spec.ramp.length;
    spec.ramp.forEach((r, i) => {
      g.fillStyle = r.c; g.fillRect(x + pad + i * sw, ry, sw, 12 * dpr);
      g.fillStyle = '#E8F6FF'; g.textAlign = 'center'; g.fillText(r.label, x + pad + i * sw + sw / 2, ry + 24 * dpr); g.textAlign = 'left';
    });
  }
}
state.exportCsv = exportCsv;
state.exportPng = exportPng;
state.selectCell = selectCell;
state.cellOf = (lon, lat, res = state.sel?.res ?? 9) => cellOfPoint(lat, lon, res);

// ---------------------------------------------------------------- categories (from the incidents seen)
async function loadCategories() {
  try {
    const since = new Date(Date.now() - 180 * 86400000).toISOString();
    const j = await getJson(`./api/v1/incidents?since=${encodeURIComponent(since)}&limit=5000`);
    const n = new Map();
    for (const f of j.features || []) { const c = f.properties?.category; if (c) n.set(c, (n.get(c) || 0) + 1); }
    state.categories = [...n].sort((a, b) => b[1] - a[1]).map(([c]) => c);
    $('categories').innerHTML = state.categories.map((c) => `<option value="${esc(c)}">`).join('');
    $('cat-chips').innerHTML = ['', ...state.categories.slice(0, 8)].map((c) => `<button type="button" data-cat="${esc(c)}">${esc(c || '全部')}</button>`).join('');
    markChip();
  } catch (e) {
    state.errors.push(`categories: ${e.message}`);
  }
}
function markChip() {
  const v = $('category').value.trim();
  for (const b of $('cat-chips').querySelectorAll('button')) b.classList.toggle('on', b.dataset.cat === v);
}

// ---------------------------------------------------------------- events
form.addEventListener('submit', (e) => { e.preventDefault(); runQuery(); });
for (const box of document.querySelectorAll('.presets')) {
  box.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-preset]');
    if (!b) return;
    const tgt = box.dataset.target;
    const other = getPeriod(tgt === 'a' ? 'b' : 'a');
    const v = preset(b.dataset.preset, other);
    if (v) { setPeriod(tgt, v); runQuery(); }
  });
}
for (const id of ['a-from', 'a-to', 'b-from', 'b-to']) $(id).addEventListener('change', hints);
$('compare').addEventListener('change', () => {
  const on = compareOn();
  if (on && !getPeriod('b')) {
    // B = the current A, A = the same length just before it ("this period vs the previous one")
    const a = getPeriod('a');
    if (a) { setPeriod('b', a); setPeriod('a', preset('before', a)); }
  }
  setCompare(on);
  runQuery({ fit: true });
});
$('area-kind').addEventListener('change', () => { fillAreaCodes($('area-kind').value); runQuery({ fit: true }); });
$('area-code').addEventListener('change', () => { areaNote(); runQuery({ fit: true }); });
$('res').addEventListener('change', () => runQuery());
$('layer-seg').addEventListener('change', () => runQuery());
$('category').addEventListener('change', () => { markChip(); runQuery(); });
$('cat-chips').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-cat]');
  if (!b) return;
  $('category').value = b.dataset.cat;
  markChip();
  runQuery();
});
$('export-csv').addEventListener('click', () => exportCsv());
$('export-png').addEventListener('click', () => exportPng());
for (const id of ['cells-table', 'top-table']) {
  $(id).addEventListener('click', (e) => { const tr = e.target.closest('tr[data-h3]'); if (tr) flyToCell(toRes(tr.dataset.h3, state.sel?.res ?? 9) || tr.dataset.h3); });
}
$('top-seg').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-p]');
  if (!b) return;
  topPeriod = b.dataset.p;
  renderTop();
});

// ---------------------------------------------------------------- boot
let resolveLayers;
const layersLoaded = new Promise((res) => { resolveLayers = res; });

async function boot() {
  const errs = await fetchLayers(state.layers);
  if (errs.length) showMsg(errs.join('；'));
  const bb = state.layers.boundary && bboxOf(state.layers.boundary);
  if (bb) state.districtBbox = bb;
  resolveLayers();

  // selections from the URL (bookmarks, tests): area=township:CODE|station:CODE|grid:CODE, from, to, bfrom, bto, cat, layer, res
  const area = q0.get('area') || '';
  const [kind, code] = area.includes(':') ? area.split(':') : ['', ''];
  if (['township', 'station', 'grid'].includes(kind)) { $('area-kind').value = kind; fillAreaCodes(kind, code); }
  const a = DAY_RE.test(q0.get('from') || '') && DAY_RE.test(q0.get('to') || '') ? { from: q0.get('from'), to: q0.get('to') } : preset('30');
  setPeriod('a', a);
  const b = DAY_RE.test(q0.get('bfrom') || '') && DAY_RE.test(q0.get('bto') || '') ? { from: q0.get('bfrom'), to: q0.get('bto') } : null;
  if (b) setPeriod('b', b);
  setCompare(!!b);
  if (q0.get('cat')) $('category').value = q0.get('cat');
  const layer = q0.get('layer');
  if (layer && LAYER_NAME[layer] && (layer !== 'change' || b)) form.querySelector(`input[name="layer"][value="${layer}"]`).checked = true;
  if (['8', '9', '10'].includes(q0.get('res'))) $('res').value = q0.get('res');
  loadCategories();
  await createMap('a');
  await runQuery({ fit: !!area });
}
boot().catch((e) => { state.errors.push(String(e?.stack || e)); console.error(e); showMsg(String(e?.message || e)); });
