import maplibregl from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';
import {
  PALETTE, TOWNSHIP_FILLS, SOURCES, SOURCE_NAME, SOURCE_SHORT, PRIORITY_NAME, DISTRICT_BBOX, LAYERS,
  MAX_INCIDENTS, MAX_LIST_ROWS, FLUSH_MS, PANEL_MS, FLASH_MS, TZ,
} from './config.js';
import { bboxOf, labelPoint } from './geo.js';
import { IncidentStream, streamUrl } from './stream.js';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- test / debug surface
const state = {
  ready: false,
  incidents: new Map(),   // id → Feature (latest applied)
  lastSeq: null,
  connection: 'reconnecting',
  map: null,
  layersLoaded: false,
  lastMessageAt: 0,
  errors: [],
  layers: {},             // fetched FeatureCollections by layer name
};
window.lianqin = state;

// ---------------------------------------------------------------- clock & time formatting
const fmtDate = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short' });
const fmtTime = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const fmtDay = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' });

function dateText(d) {
  const p = Object.fromEntries(fmtDate.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}年${p.month}月${p.day}日 ${p.weekday}`;
}
const timeText = (d) => fmtTime.format(d);
const dayKey = (d) => fmtDay.format(d);

function ageText(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s前`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}分${s % 60 ? `${s % 60}s` : ''}前`;
  const h = Math.floor(m / 60);
  return `${h}时${m % 60}分前`;
}

function tickClock() {
  const now = new Date();
  $('clock-time').textContent = timeText(now);
  $('clock-date').textContent = dateText(now);
}
tickClock();
setInterval(tickClock, 250);

// ---------------------------------------------------------------- map
const map = new maplibregl.Map({
  container: 'map',
  style: {
    version: 8,
    name: 'lianqin-bigscreen',
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': PALETTE.background } }],
  },
  bounds: [[DISTRICT_BBOX[0], DISTRICT_BBOX[1]], [DISTRICT_BBOX[2], DISTRICT_BBOX[3]]],
  fitBoundsOptions: { padding: 40 },
  interactive: false,          // the wall is display-only (UX.md §1.1)
  attributionControl: false,
  fadeDuration: 0,
  maxCanvasSize: [16384, 16384], // walls wider than 4096 px (UX.md lessons)
  renderWorldCopies: false,
  canvasContextAttributes: { preserveDrawingBuffer: false, antialias: true },
});
state.map = map;
map.on('error', (e) => {
  const msg = e?.error?.message || String(e?.error || e);
  state.errors.push(msg);
  console.warn('[map]', msg);
});
new ResizeObserver(() => map.resize()).observe($('map'));

const EMPTY = { type: 'FeatureCollection', features: [] };
const layerData = state.layers;

async function fetchLayer(name) {
  const r = await fetch(`./api/v1/layers/${name}`, { headers: { Accept: 'application/geo+json, application/json' } });
  if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
  const fc = await r.json();
  if (!fc || fc.type !== 'FeatureCollection') throw new Error(`${name}: 不是 FeatureCollection`);
  return fc;
}

// Map paint sizes follow the page's rem (1rem = 16 px at 1920 wide, 32 px at 3840), so symbols on a 4K wall
// are as big relative to the screen as on a 1080p one, while the canvas keeps real device pixels.
const UI_SCALE = Math.max(0.75, (parseFloat(getComputedStyle(document.documentElement).fontSize) || 16) / 16);
const px = (n) => Math.round(n * UI_SCALE * 100) / 100;

function addStaticLayers() {
  const townships = layerData.townships || EMPTY;
  townships.features.forEach((f, i) => { f.properties = { ...(f.properties || {}), _fill: TOWNSHIP_FILLS[i % TOWNSHIP_FILLS.length] }; });

  map.addSource('boundary', { type: 'geojson', data: layerData.boundary || EMPTY });
  map.addSource('townships', { type: 'geojson', data: townships, promoteId: 'code' });
  map.addSource('grids', { type: 'geojson', data: layerData.grids || EMPTY, promoteId: 'code' });
  map.addSource('stations', { type: 'geojson', data: layerData.stations || EMPTY, promoteId: 'code' });
  map.addSource('posts', { type: 'geojson', data: layerData.posts || EMPTY, promoteId: 'code' });
  map.addSource('incidents', { type: 'geojson', data: EMPTY, promoteId: 'id' });

  // district mask glow under everything
  map.addLayer({ id: 'boundary-fill', type: 'fill', source: 'boundary', paint: { 'fill-color': '#0a2370', 'fill-opacity': 0.9 } });
  map.addLayer({
    id: 'townships-fill', type: 'fill', source: 'townships',
    paint: { 'fill-color': ['get', '_fill'], 'fill-opacity': 0.85 },
  });
  map.addLayer({
    id: 'grids-line', type: 'line', source: 'grids',
    paint: {
      'line-color': PALETTE.gridLine,
      'line-width': ['interpolate', ['linear'], ['zoom'], 9, px(0.3), 13, px(1.2)],
      'line-opacity': ['interpolate', ['linear'], ['zoom'], 9, 0.12, 11, 0.35, 13, 0.7],
    },
  });
  map.addLayer({
    id: 'townships-line', type: 'line', source: 'townships',
    paint: { 'line-color': PALETTE.townshipLine, 'line-width': ['interpolate', ['linear'], ['zoom'], 9, px(0.8), 13, px(2)], 'line-opacity': 0.9 },
  });
  map.addLayer({
    id: 'boundary-glow', type: 'line', source: 'boundary',
    paint: { 'line-color': PALETTE.boundary, 'line-width': px(10), 'line-blur': px(8), 'line-opacity': 0.45 },
  });
  map.addLayer({
    id: 'boundary-line', type: 'line', source: 'boundary',
    layout: { 'line-join': 'round' },
    paint: { 'line-color': PALETTE.boundary, 'line-width': px(2.5) },
  });
  map.addLayer({
    id: 'posts-circle', type: 'circle', source: 'posts',
    paint: {
      'circle-color': PALETTE.post,
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, ['match', ['get', 'kind'], '派出所', px(4), px(2.5)], 14, ['match', ['get', 'kind'], '派出所', px(7), px(5)]],
      'circle-stroke-color': '#051655', 'circle-stroke-width': px(1), 'circle-opacity': 0.9,
    },
  });
  map.addLayer({
    id: 'stations-circle', type: 'circle', source: 'stations',
    paint: {
      'circle-color': '#0b1f5c',
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, px(5), 14, px(9)],
      'circle-stroke-color': PALETTE.station,
      'circle-stroke-width': px(2.5),
      'circle-stroke-opacity': ['case', ['==', ['get', 'approximate'], true], 0.6, 1],
    },
  });
  // incidents: P1 halo, then the priority-coloured dot with a white outline
  const prioColor = ['match', ['coalesce', ['get', 'priority'], 0],
    1, PALETTE.priority[1], 2, PALETTE.priority[2], 3, PALETTE.priority[3], 4, PALETTE.priority[4], PALETTE.priorityNone];
  map.addLayer({
    id: 'incidents-halo', type: 'circle', source: 'incidents',
    filter: ['==', ['get', 'priority'], 1],
    paint: { 'circle-color': PALETTE.priority[1], 'circle-radius': px(16), 'circle-opacity': 0.28, 'circle-blur': 0.4 },
  });
  map.addLayer({
    id: 'incidents-circle', type: 'circle', source: 'incidents',
    paint: {
      'circle-color': prioColor,
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, ['match', ['coalesce', ['get', 'priority'], 0], 1, px(8), 2, px(7), px(6)], 14, px(11)],
      'circle-stroke-color': '#FFFFFF',
      'circle-stroke-width': px(2),
      'circle-opacity': ['case', ['==', ['get', 'demo'], true], 0.75, 1],
    },
  });
}

// ---------------------------------------------------------------- HTML labels (no glyph server: DOM markers)
// MapLibre symbol text needs a glyphs URL (PBF ranges) that nothing on our origin serves, so names are DOM
// markers: the browser's own CJK fonts render them crisply at device pixels. A greedy collision pass hides
// what does not fit; point labels try four placements around their symbol first.
const labels = []; // { wrap, el, prio, placements }
const POINT_PLACEMENTS = ['pl-r', 'pl-l', 'pl-t', 'pl-b'];
const AREA_PLACEMENTS = ['pl-c', 'pl-c pl-sm', 'pl-cu pl-sm', 'pl-cd pl-sm'];
const ALL_PL = ['pl-r', 'pl-l', 'pl-t', 'pl-b', 'pl-c', 'pl-cu', 'pl-cd', 'pl-sm'];
function addLabel(lngLat, text, cls, prio, { title = '', point = false, approximate = false } = {}) {
  const wrap = document.createElement('div');
  wrap.className = 'lbl-anchor';
  const el = document.createElement('span');
  el.className = `map-label ${cls}${approximate ? ' lbl-approx' : ''}`;
  el.textContent = text;
  if (title) el.title = title;
  wrap.appendChild(el);
  new maplibregl.Marker({ element: wrap, anchor: 'center' }).setLngLat(lngLat).addTo(map);
  labels.push({ wrap, el, prio, placements: point ? POINT_PLACEMENTS : AREA_PLACEMENTS });
}

function addLabels() {
  for (const f of (layerData.townships || EMPTY).features) {
    const p = labelPoint(f.geometry);
    if (p && f.properties?.name) addLabel(p, f.properties.name, 'lbl-township', 3, { title: f.properties.kind || '' });
  }
  for (const f of (layerData.stations || EMPTY).features) {
    const p = f.geometry?.type === 'Point' ? f.geometry.coordinates : labelPoint(f.geometry);
    const pr = f.properties || {};
    if (p && pr.name) addLabel(p, pr.name, 'lbl-station', 2, { title: pr.kind || '', point: true, approximate: pr.approximate === true });
  }
  for (const f of (layerData.posts || EMPTY).features) {
    const pr = f.properties || {};
    if (f.geometry?.type === 'Point' && pr.name && pr.kind === '派出所') {
      addLabel(f.geometry.coordinates, pr.name, 'lbl-post', 1, { title: pr.kind, point: true, approximate: pr.approximate === true });
    }
  }
  declutter();
  map.on('moveend', declutter);
  map.on('resize', declutter);
}

function declutter() {
  const placed = [];
  const sorted = [...labels].sort((a, b) => b.prio - a.prio);
  for (const l of sorted) l.el.style.display = '';
  for (const l of sorted) {
    let ok = false;
    for (const pl of l.placements) {
      l.el.classList.remove(...ALL_PL);
      l.el.classList.add(...pl.split(' '));
      const r = l.el.getBoundingClientRect();
      const box = { l: r.left - 3, r: r.right + 3, t: r.top - 2, b: r.bottom + 2 };
      if (!placed.some((q) => box.l < q.r && box.r > q.l && box.t < q.b && box.b > q.t)) { placed.push(box); ok = true; break; }
    }
    if (!ok) l.el.style.display = 'none';
  }
}

// ---------------------------------------------------------------- incidents store, coalesced map flush
const pending = { add: new Map(), remove: new Set(), reset: false };
let flushTimer = null;
let lastFlush = 0;
let mapReady = false;

function normalize(feature) {
  const props = feature.properties || {};
  const id = props.id ?? feature.id;
  if (id === undefined || id === null) return null;
  return { type: 'Feature', id, geometry: feature.geometry, properties: { ...props, id } };
}

function applySnapshot(seq, fc) {
  state.incidents.clear();
  pending.add.clear();
  pending.remove.clear();
  pending.reset = true;
  const feats = (fc.features || []).map(normalize).filter(Boolean);
  feats.sort((a, b) => recv(a) - recv(b));
  for (const f of feats.slice(-MAX_INCIDENTS)) state.incidents.set(f.id, f);
  state.lastSeq = seq;
  scheduleFlush();
}

function applyIncident(seq, feature, isNew = true) {
  const f = normalize(feature);
  if (!f) return;
  const existed = state.incidents.has(f.id);
  state.incidents.delete(f.id); // re-insert so Map order = arrival order
  state.incidents.set(f.id, f);
  state.lastSeq = seq;
  pending.add.set(f.id, f);
  pending.remove.delete(f.id);
  while (state.incidents.size > MAX_INCIDENTS) {
    const oldest = state.incidents.keys().next().value;
    state.incidents.delete(oldest);
    pending.add.delete(oldest);
    pending.remove.add(oldest);
  }
  if (isNew && !existed) flashes.push({ id: f.id, coords: f.geometry?.coordinates });
  scheduleFlush();
}

function resetIncidents() {
  state.incidents.clear();
  state.lastSeq = null;
  pending.add.clear(); pending.remove.clear(); pending.reset = true;
  scheduleFlush();
}

function recv(f) {
  const t = Date.parse(f.properties.received_at || f.properties.reported_at || '');
  return Number.isFinite(t) ? t : 0;
}

function scheduleFlush() {
  if (flushTimer) return;
  const wait = Math.max(0, FLUSH_MS - (Date.now() - lastFlush));
  flushTimer = setTimeout(flush, wait);
}

function flush() {
  flushTimer = null;
  if (!mapReady) { scheduleFlush(); return; }
  lastFlush = Date.now();
  const src = map.getSource('incidents');
  if (pending.reset) {
    src.setData({ type: 'FeatureCollection', features: [...state.incidents.values()] });
  } else if (pending.add.size || pending.remove.size) {
    try {
      src.updateData({ add: [...pending.add.values()], remove: [...pending.remove] });
    } catch (e) {
      console.warn('[incidents] updateData failed, falling back to setData', e);
      src.setData({ type: 'FeatureCollection', features: [...state.incidents.values()] });
    }
  }
  pending.reset = false; pending.add.clear(); pending.remove.clear();
  runFlashes();
  renderList();
  renderCounts();
}

// new-arrival pulse: a short-lived DOM ring over the map (cheap, no continuous repaint)
const flashes = [];
function runFlashes() {
  while (flashes.length) {
    const { id, coords } = flashes.shift();
    const inc = state.incidents.get(id);
    if (!inc || !Array.isArray(coords)) continue;
    const el = document.createElement('div');
    el.className = 'pulse';
    el.style.setProperty('--c', prioColorOf(inc.properties.priority));
    const m = new maplibregl.Marker({ element: el }).setLngLat(coords).addTo(map);
    setTimeout(() => m.remove(), FLASH_MS);
  }
}

const prioColorOf = (p) => PALETTE.priority[p] || PALETTE.priorityNone;

// ---------------------------------------------------------------- right column
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

// Keyed rows: an unchanged incident keeps its <li> (no re-created DOM, no restarted flash animation).
const rowCache = new Map(); // id → { f, li }
function rowHtml(f) {
  const p = f.properties;
  const j = p.jurisdiction || {};
  const t = p.received_at || p.reported_at;
  const d = t ? new Date(t) : null;
  const prio = p.priority;
  const where = p.address || '';
  const desc = p.description || '';
  return `<div class="inc-l1">
      <span class="badge src src-${esc(p.source)}" title="${esc(SOURCE_NAME[p.source] || p.source || '')}">${esc(SOURCE_SHORT[p.source] || p.source || '其他')}</span>
      <span class="prio">${prio ? esc(PRIORITY_NAME[prio] || `P${prio}`) : '未定级'}</span>
      <span class="cat">${esc(p.category || '未分类')}</span>
      ${p.demo ? '<span class="badge demo">演示</span>' : ''}
      <span class="time" title="${esc(t || '')}">${d && !Number.isNaN(d.getTime()) ? esc(timeText(d)) : '--:--:--'}</span>
    </div>
    <div class="inc-l2">${esc(where)}${where && desc ? ' · ' : ''}<span class="desc">${esc(desc)}</span></div>
    <div class="inc-l3">${esc(j.township_name || '辖区未定')}${j.station_name ? ` · ${esc(j.station_name)}` : ''}${j.grid_name ? ` · ${esc(j.grid_name)}` : ''}${j.post_name ? ` · ${esc(j.post_name)}` : ''}</div>`;
}

function renderList() {
  const list = $('incident-list');
  const items = [...state.incidents.values()].reverse().slice(0, MAX_LIST_ROWS);
  const fresh = new Set(flashedRecently(Date.now()));
  const keep = new Set();
  let prev = null;
  for (const f of items) {
    keep.add(f.id);
    let row = rowCache.get(f.id);
    if (!row || row.f !== f) {
      const li = row?.li || document.createElement('li');
      li.className = `inc${fresh.has(f.id) ? ' inc-new' : ''}`;
      li.dataset.id = String(f.id);
      li.style.setProperty('--c', prioColorOf(f.properties.priority));
      li.innerHTML = rowHtml(f);
      row = { f, li };
      rowCache.set(f.id, row);
    }
    const want = prev ? prev.nextSibling : list.firstChild;
    if (want !== row.li) list.insertBefore(row.li, want);
    prev = row.li;
  }
  for (const [id, row] of rowCache) {
    if (!keep.has(id)) { row.li.remove(); rowCache.delete(id); }
  }
  $('list-empty').hidden = items.length > 0;
  $('list-sub').textContent = state.incidents.size > items.length ? `最新 ${items.length} / 共 ${state.incidents.size} 条` : `共 ${state.incidents.size} 条 · 最新在前`;
}

const recentFlash = new Map(); // id → time first seen live
function flashedRecently(now) {
  for (const [id, t] of recentFlash) if (now - t > FLASH_MS) recentFlash.delete(id);
  return recentFlash.keys();
}

// Today's counts come from the server (GET /api/v1/stats/today: PostGIS, since
// midnight Asia/Shanghai), not from the ≤ 2000 incidents this page holds. Live
// incidents with an id above the server's max_id are added until the next fetch.
let todayStats = null; // { day, by_source, total, max_id }
async function refreshTodayStats() {
  try {
    const r = await fetch('/api/v1/stats/today', { cache: 'no-store' });
    if (r.ok) todayStats = await r.json();
  } catch (e) {
    console.warn('[stats] today', e);
  }
  renderCounts();
}

function renderCounts() {
  const today = dayKey(new Date());
  const counts = Object.fromEntries(SOURCES.map(([k]) => [k, 0]));
  let total = 0;
  const base = todayStats && todayStats.day === today ? todayStats : null;
  if (base) {
    for (const [k] of SOURCES) counts[k] = base.by_source[k] || 0;
    total = base.total;
  }
  const above = base ? base.max_id : -Infinity;
  for (const f of state.incidents.values()) {
    if (base && !(f.properties.id > above)) continue;
    const t = f.properties.received_at || f.properties.reported_at;
    if (!t || dayKey(new Date(t)) !== today) continue;
    const k = counts[f.properties.source] !== undefined ? f.properties.source : 'other';
    counts[k] += 1; total += 1;
  }
  $('today-total').textContent = String(total);
  $('counts').innerHTML = SOURCES.map(([k, name]) => `<div class="cnt src-${k}${counts[k] ? '' : ' zero'}"><span class="cnt-n">${counts[k]}</span><span class="cnt-name">${esc(name)}</span></div>`).join('');
}
refreshTodayStats();

// ---------------------------------------------------------------- connection status UI
let connInfo = { retryAt: 0, downSince: 0 };
function renderConn() {
  const el = $('conn');
  const txt = $('conn-text');
  const c = state.connection;
  el.className = `conn conn-${c}`;
  const now = Date.now();
  if (c === 'open') txt.textContent = '已连接';
  else if (c === 'reconnecting') txt.textContent = `重连中 ${Math.max(0, Math.ceil((connInfo.retryAt - now) / 1000))}s`;
  else txt.textContent = `离线${connInfo.downSince ? ` 自 ${timeText(new Date(connInfo.downSince))}` : ''}`;
  const offline = c === 'offline';
  document.body.classList.toggle('is-offline', offline);
  $('offline-banner').hidden = !offline;
  if (offline) {
    $('offline-text').textContent = `实时数据连接中断（自 ${timeText(new Date(connInfo.downSince || now))}）— 地图与警情列表可能已过时，${Math.max(0, Math.ceil((connInfo.retryAt - now) / 1000))}s 后重试`;
  }
  const fr = $('freshness');
  if (state.lastMessageAt) {
    const age = now - state.lastMessageAt;
    fr.textContent = ageText(age);
    fr.className = age > 30000 ? 'stale' : age > 15000 ? 'aging' : '';
  } else fr.textContent = '--';
}
setInterval(renderConn, PANEL_MS / 2);
setInterval(() => { refreshTodayStats(); }, 30000); // server truth, and day rollover

// ---------------------------------------------------------------- boot
let districtBbox = DISTRICT_BBOX;
const stream = new IncidentStream({
  url: streamUrl(),
  bbox: districtBbox,
  handlers: {
    onMessage: () => { state.lastMessageAt = Date.now(); },
    onSnapshot: (seq, fc) => { applySnapshot(seq, fc); refreshTodayStats(); },
    onIncident: (seq, f) => {
      const id = f?.properties?.id ?? f?.id;
      if (id !== undefined && !state.incidents.has(id)) recentFlash.set(id, Date.now());
      applyIncident(seq, f);
    },
    onReset: () => resetIncidents(),
    onState: (s, info) => { state.connection = s; connInfo = info; renderConn(); },
    onError: (m) => { state.errors.push(`stream: ${m}`); console.warn('[stream]', m); },
  },
});

async function boot() {
  const results = await Promise.allSettled(LAYERS.map(fetchLayer));
  const errs = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') layerData[LAYERS[i]] = r.value;
    else errs.push(`${LAYERS[i]} 图层加载失败`);
  });
  if (errs.length) { const el = $('layer-errors'); el.hidden = false; el.textContent = errs.join('；'); }
  const bb = layerData.boundary && bboxOf(layerData.boundary);
  // round outward (w,s down; e,n up) so no edge of the district is cut off
  if (bb) { districtBbox = bb.map((v, i) => (i < 2 ? Math.floor(v * 1e4) : Math.ceil(v * 1e4)) / 1e4); stream.setBbox(districtBbox); }
  stream.start();

  if (!map.loaded()) await new Promise((res) => map.once('load', res));
  addStaticLayers();
  mapReady = true;
  if (bb) map.fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: { top: 40, bottom: 40, left: 40, right: 40 }, duration: 0 });
  addLabels();
  state.layersLoaded = true;
  scheduleFlush();
  map.once('idle', () => {
    declutter();
    state.ready = true;
    document.body.dataset.ready = '1';
  });
  map.triggerRepaint();
}
boot().catch((e) => {
  state.errors.push(String(e?.message || e));
  console.error(e);
});
