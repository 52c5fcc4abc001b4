import maplibregl from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';
import {
  PALETTE, SOURCES, SOURCE_NAME, SOURCE_SHORT, PRIORITY_NAME, DISTRICT_BBOX,
  MAX_INCIDENTS, MAX_LIST_ROWS, FLUSH_MS, PANEL_MS, FLASH_MS, TZ,
  RESPONDER_STATUS, ASSIGNED_RING, NOTICE_MS, SOURCE_COUNTER, UNLOCATED_SINCE_MS, UNLOCATED_MAX,
  CLUSTER_FAMILY_NAME,
} from './config.js';
import {
  loadTaxonomy, taxonomy, detailHtml, tagChips, tagsOf, leafOf, isLocated, sourceLabel,
} from './incident-info.js';
import { bboxOf } from './geo.js';
import { IncidentStream, streamUrl } from './stream.js';
import {
  EMPTY, emptyStyle, fetchLayers, addStaticLayers, createLabels, pxFn, PRIO_COLOR_EXPR, prioColorOf,
} from './basemap.js';
import { ResponderStore, AssignmentBook, addResponderLayers } from './responders.js';
import { createHeatOverlay } from './heat.js';
import { heatResForZoom } from './h3cells.js';
import { RepeatBook, createRepeatLayer } from './repeats.js';
import { createAggregation, POINT } from './aggregate.js';

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
  responders: null,       // id → Feature (latest applied), set below
  assignments: null,      // assignment id → assignment
  assignedIncidents: null, // incident id (string) → Set(open assignment id)
  notices: [],            // [{ kind, text, at }] re-offer / decline notices shown on the wall
  heat: null,             // heat overlay state (on, res, cells Map h3 → cell, scale, messages, fetched)
  heatDisplayed: null,    // h3 → decayed intensity now
  toggleHeat: null,       // (on?) → the same path as the H key
  unlocated: new Map(),   // id → Feature with geometry null (未定位事件: listed, never on the map)
  unlocatedFetched: false, // GET /api/v1/incidents?located=false answered at least once
  detailId: null,         // incident whose detail (popup / card) is open
  showDetail: null,       // (id) → open an incident's detail, as a click on its row / point does
  taxonomy,               // GET /api/v1/taxonomy (tag labels), fetched once
  repeats: null,          // cluster id → repeat cluster Feature (layer "clusters")
  selectRepeat: null,     // (clusterId|null) → open a repeat cluster's card, as a click on its ring does
  agg: null,              // display aggregation (count bubbles): { mode auto|on|off, on, bubbles }
};
window.lianqin = state;
const rsp = new ResponderStore();
const book = new AssignmentBook();
const repeats = new RepeatBook();
state.repeats = repeats.byId;
state.responders = rsp.features;
state.assignments = book.byId;
state.assignedIncidents = book.openByIncident;

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
  style: emptyStyle('lianqin-bigscreen'),
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

const layerData = state.layers;
const px = pxFn();
const agg = createAggregation(map, px, { held: () => state.incidents.size });
state.agg = agg.state;
const { addLabels: addLabelsTo, declutter } = createLabels(map, { obstacles: () => document.querySelectorAll('.legend, .unloc, .map-note') });
const addLabels = () => addLabelsTo(layerData);

// ---------------------------------------------------------------- heat overlay (?heat=1, key H)
// The wall's zoom is fixed (initial fit), so the resolution is chosen once from it.
const heatParam = new URLSearchParams(window.location.search).get('heat');
const heat = createHeatOverlay(map, px, {
  legendEl: $('heat-legend'), res: heatResForZoom(map.getZoom()), surface: 'live',
});
state.heat = heat.state;
state.heatDisplayed = heat.displayed;
state.heatCellOf = heat.cellOf;
const baseLayers = ['incidents', 'responders', 'clusters'];
const streamLayers = () => (heat.state.on ? [...baseLayers, 'heat'] : baseLayers);

function addLiveLayers() {
  heat.addLayers(); // under responders and incidents
  agg.addSource(); // display aggregation (count bubbles): aggregate.js
  // responders under the incidents: incidents stay the loudest thing on the map
  addResponderLayers(map, px);
  // incidents: P1 halo (until assigned), 已派 ring, then the priority-coloured dot with a white outline
  map.addLayer({
    id: 'incidents-halo', type: 'circle', source: 'incidents',
    filter: ['all', POINT, ['==', ['get', 'priority'], 1], ['!=', ['get', '_assigned'], true]],
    paint: { 'circle-color': PALETTE.priority[1], 'circle-radius': px(16), 'circle-opacity': 0.28, 'circle-blur': 0.4 },
  });
  map.addLayer({
    id: 'incidents-assigned', type: 'circle', source: 'incidents',
    filter: ['all', POINT, ['==', ['get', '_assigned'], true]],
    paint: {
      'circle-color': 'rgba(0,0,0,0)',
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, px(12.5), 14, px(17)],
      'circle-stroke-color': ASSIGNED_RING, 'circle-stroke-width': px(2.5), 'circle-stroke-opacity': 0.95,
    },
  });
  map.addLayer({
    id: 'incidents-circle', type: 'circle', source: 'incidents', filter: POINT,
    paint: {
      'circle-color': PRIO_COLOR_EXPR,
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, ['match', ['coalesce', ['get', 'priority'], 0], 1, px(8), 2, px(7), px(6)], 14, px(11)],
      'circle-stroke-color': '#FFFFFF',
      'circle-stroke-width': px(2),
      'circle-opacity': ['case', ['==', ['get', 'demo'], true], 0.75, 1],
    },
  });
  agg.addLayers();
  repeatLayer = createRepeatLayer(map, px, repeats, {
    cardEl: $('repeat-card'), fmtTime: timeText, onShowIncident: (id) => showDetail(id),
  });
  state.selectRepeat = (id) => repeatLayer.select(id);
}
let repeatLayer = null;

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
  const all = (fc.features || []).map(normalize).filter(Boolean);
  for (const f of all) if (!isLocated(f)) addUnlocated(f);
  const feats = all.filter(isLocated);
  feats.sort((a, b) => recv(a) - recv(b));
  for (const f of feats.slice(-MAX_INCIDENTS)) state.incidents.set(f.id, f);
  state.lastSeq = seq;
  scheduleFlush();
}

function applyIncident(seq, feature, isNew = true) {
  const f = normalize(feature);
  if (!f) return;
  if (!isLocated(f)) {
    // no position (address not geocoded): the 未定位事件 panel only, never the map source
    state.lastSeq = seq;
    if (state.incidents.delete(f.id)) { pending.add.delete(f.id); pending.remove.add(f.id); }
    addUnlocated(f, isNew);
    scheduleFlush();
    return;
  }
  if (state.unlocated.delete(f.id)) unlocDirty = true; // it has a position now
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
  if (String(state.detailId) === String(f.id)) refreshDetail();
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

// What the map draws for an incident: its record plus `_assigned` (an open assignment exists).
function drawn(f) {
  const assigned = book.openByIncident.has(String(f.id));
  return assigned ? { ...f, properties: { ...f.properties, _assigned: true } } : f;
}

/** An assignment changed: redraw its incident (ring) without touching anything else. */
function touchIncident(id) {
  const f = state.incidents.get(id) ?? state.incidents.get(Number(id)) ?? state.incidents.get(String(id));
  if (!f) return;
  pending.add.set(f.id, f);
  pending.remove.delete(f.id);
  const row = rowCache.get(f.id);
  if (row) row.f = null; // the row shows 已派 too: re-render it in place
}

function flush() {
  flushTimer = null;
  if (!mapReady) { scheduleFlush(); return; }
  lastFlush = Date.now();
  const src = map.getSource('incidents');
  const all = () => ({ type: 'FeatureCollection', features: [...state.incidents.values()].filter(isLocated).map(drawn) });
  if (pending.reset) {
    src.setData(all());
  } else if (pending.add.size || pending.remove.size) {
    try {
      src.updateData({ add: [...pending.add.values()].map(drawn), remove: [...pending.remove] });
    } catch (e) {
      console.warn('[incidents] updateData failed, falling back to setData', e);
      src.setData(all());
    }
  }
  pending.reset = false; pending.add.clear(); pending.remove.clear();
  agg.sync();
  if (repeats.dirty) {
    for (const row of rowCache.values()) row.f = null; // 重复×N badges: re-render rows in place
    repeatLayer?.flush();
    renderRepeatKpi();
    // an open detail shows its call count: rebuild it only when that changed
    const f = state.detailId !== null ? findAny(state.detailId) : null;
    const key = f ? `${repeats.get(f.properties.cluster_id)?.id}:${repeats.callsOf(f.properties.cluster_id)}` : null;
    if (f && key !== detailRepeatKey) refreshDetail();
  }
  if (rsp.dirty) rsp.flush(map);
  runFlashes();
  renderList();
  renderCounts();
  renderForce();
  if (unlocDirty) renderUnlocated();
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
      <span class="cat">${esc(p.category || leafOf(p) || '未分类')}${leafOf(p) && leafOf(p) !== p.category ? `<span class="leaf"> · ${esc(leafOf(p))}</span>` : ''}</span>
      ${p.demo ? '<span class="badge demo">演示</span>' : ''}
      ${assignedBadge(f.id)}
      ${repeatBadge(p.cluster_id)}
      <span class="time" title="${esc(t || '')}">${d && !Number.isNaN(d.getTime()) ? esc(timeText(d)) : '--:--:--'}</span>
    </div>
    <div class="inc-l2">${esc(where)}${where && desc ? ' · ' : ''}<span class="desc">${esc(desc)}</span></div>
    <div class="inc-l3">${tagChips(tagsOf(p), { max: 3 })}${p.geocode?.matched ? '<span class="approx" title="由地址定位，点位为近似位置">地址定位</span>' : ''}<span class="jur">${esc(j.township_name || '辖区未定')}${j.station_name ? ` · ${esc(j.station_name)}` : ''}${j.grid_name ? ` · ${esc(j.grid_name)}` : ''}${j.post_name ? ` · ${esc(j.post_name)}` : ''}</span></div>`;
}

function assignedBadge(id) {
  const open = book.openFor(id);
  if (!open.length) return '';
  const names = open.map((a) => a.responder_name || rsp.features.get(String(a.responder_id))?.properties.name || a.responder_id);
  const acked = open.some((a) => a.status === 'acked');
  return `<span class="badge assigned${acked ? ' acked' : ''}" title="${esc(names.join('、'))}">${acked ? '已确认' : '已派'} ${esc(names[0])}${names.length > 1 ? ` 等${names.length}` : ''}</span>`;
}

function repeatBadge(clusterId) {
  const n = repeats.callsOf(clusterId);
  if (n < 2) return '';
  const c = repeats.get(clusterId);
  return `<span class="badge repeat" data-cluster="${esc(c?.id ?? clusterId)}" title="同一事件已来电 ${Number(n)} 次（${esc(CLUSTER_FAMILY_NAME[c?.properties.family] || '')}），点击查看全部来电">重复×${Number(n)}</span>`;
}

function renderRepeatKpi() {
  const t = repeats.totals();
  $('repeat-kpi').innerHTML = t.clusters
    ? `重复来电 <b>${Number(t.clusters)}</b> 起 · <b>${Number(t.calls)}</b> 次`
    : '暂无重复来电';
  $('repeat-kpi').classList.toggle('zero', !t.clusters);
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
    row.li.classList.toggle('selected', String(state.detailId) === String(f.id));
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
  for (const f of [...state.incidents.values(), ...state.unlocated.values()]) {
    if (base && !(f.properties.id > above)) continue;
    const t = f.properties.received_at || f.properties.reported_at;
    if (!t || dayKey(new Date(t)) !== today) continue;
    const k = counts[f.properties.source] !== undefined ? f.properties.source : 'other';
    counts[k] += 1; total += 1;
  }
  $('today-total').textContent = String(total);
  $('counts').innerHTML = SOURCES.map(([k, name]) => `<div class="cnt src-${k}${counts[k] ? '' : ' zero'}" data-source="${k}" title="${esc(name)}"><span class="cnt-n">${counts[k]}</span><span class="cnt-name">${esc(SOURCE_COUNTER[k] || name)}</span></div>`).join('');
}
refreshTodayStats();

// ---------------------------------------------------------------- 未定位事件 (incidents without a position)
// Fed by GET /api/v1/incidents?located=false (last 72 h) at start and after every (re)connect, and by
// stream messages whose feature has located === false (delivered whatever the bbox). Never on the map.
let unlocDirty = true;
const unlocNew = new Map(); // id → time it arrived live (row flash)

function addUnlocated(f, live = false) {
  const had = state.unlocated.has(f.id);
  state.unlocated.set(f.id, f);
  if (live && !had) unlocNew.set(f.id, Date.now());
  if (state.unlocated.size > UNLOCATED_MAX) {
    const oldest = [...state.unlocated.values()].sort((a, b) => recv(a) - recv(b) || a.id - b.id)
      .slice(0, state.unlocated.size - UNLOCATED_MAX);
    for (const o of oldest) state.unlocated.delete(o.id);
  }
  unlocDirty = true;
  if (String(state.detailId) === String(f.id)) refreshDetail();
}

async function fetchUnlocated() {
  const since = new Date(Date.now() - UNLOCATED_SINCE_MS).toISOString();
  try {
    const r = await fetch(`./api/v1/incidents?located=false&since=${encodeURIComponent(since)}&limit=${UNLOCATED_MAX}`, { cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const fc = await r.json();
    for (const f of (fc.features || []).map(normalize).filter(Boolean)) if (!isLocated(f)) addUnlocated(f);
    state.unlocatedFetched = true;
    $('unloc').classList.remove('unloc-err');
  } catch (e) {
    console.warn('[unlocated]', e);
    state.errors.push(`unlocated: ${e.message || e}`);
    $('unloc').classList.add('unloc-err');
  }
  unlocDirty = true;
  scheduleFlush();
}

function unlocRowHtml(f) {
  const p = f.properties;
  const t = p.received_at || p.reported_at;
  const d = t ? new Date(t) : null;
  const leaf = leafOf(p);
  return `<div class="ul-l1">
      <span class="badge src src-${esc(p.source)}" title="${esc(sourceLabel(p))}">${esc(SOURCE_SHORT[p.source] || p.source_label || p.source || '其他')}</span>
      <span class="ul-leaf">${esc(leaf || p.category || '未分类')}</span>
      <span class="ul-time" title="${esc(t || '')}">${d && !Number.isNaN(d.getTime()) ? esc(timeText(d)) : '--:--:--'}</span>
    </div>
    <div class="ul-l2" title="${esc([p.address, p.description].filter(Boolean).join(' · '))}"><span class="ul-addr">${p.address ? esc(p.address) : '<span class="ul-none">（无地址）</span>'}</span>${p.description ? `<span class="ul-desc"> · ${esc(p.description)}</span>` : ''}</div>`;
}

const unlocRows = new Map(); // id → { f, li }
function renderUnlocated() {
  unlocDirty = false;
  const now = Date.now();
  for (const [id, at] of unlocNew) if (now - at > FLASH_MS) unlocNew.delete(id);
  const items = [...state.unlocated.values()].sort((a, b) => recv(b) - recv(a) || b.id - a.id);
  const list = $('unloc-list');
  const keep = new Set();
  let prev = null;
  for (const f of items) {
    keep.add(f.id);
    let row = unlocRows.get(f.id);
    if (!row || row.f !== f) {
      const li = row?.li || document.createElement('li');
      li.className = `ul${unlocNew.has(f.id) ? ' ul-new' : ''}`;
      li.dataset.id = String(f.id);
      li.dataset.sourceId = String(f.properties.source_id ?? '');
      li.style.setProperty('--c', prioColorOf(f.properties.priority));
      li.innerHTML = unlocRowHtml(f);
      row = { f, li };
      unlocRows.set(f.id, row);
    }
    row.li.classList.toggle('selected', String(state.detailId) === String(f.id));
    const want = prev ? prev.nextSibling : list.firstChild;
    if (want !== row.li) list.insertBefore(row.li, want);
    prev = row.li;
  }
  for (const [id, row] of unlocRows) if (!keep.has(id)) { row.li.remove(); unlocRows.delete(id); }
  $('unloc-count').textContent = String(items.length);
  $('unloc').classList.toggle('has-items', items.length > 0);
  $('unloc-empty').hidden = items.length > 0;
  const h = $('unloc').offsetHeight;
  if (h !== unlocHeight) { unlocHeight = h; if (mapReady) declutter(); } // township labels step aside
}
let unlocHeight = -1;

function setUnlocCollapsed(collapsed) {
  $('unloc').classList.toggle('collapsed', collapsed);
  $('unloc-hd').setAttribute('aria-expanded', String(!collapsed));
  try { localStorage.setItem('lianqin.wall.unlocCollapsed', collapsed ? '1' : '0'); } catch { /* private mode */ }
  declutter();
}
$('unloc-hd').addEventListener('click', () => setUnlocCollapsed(!$('unloc').classList.contains('collapsed')));
try { if (localStorage.getItem('lianqin.wall.unlocCollapsed') === '1') setUnlocCollapsed(true); } catch { /* private mode */ }

// ---------------------------------------------------------------- incident detail (popup on the map; card when unlocated)
let popup = null;
let detailRepeatKey = null; // cluster:calls the open detail shows
const findAny = (id) => {
  for (const m of [state.incidents, state.unlocated]) {
    const f = m.get(id) ?? m.get(Number(id)) ?? m.get(String(id));
    if (f) return f;
  }
  return null;
};

function dropPopup() {
  const old = popup;
  popup = null;
  old?.remove();
}

function closeDetail() {
  state.detailId = null;
  dropPopup();
  $('detail-card').hidden = true;
  $('detail-body').innerHTML = '';
  for (const li of document.querySelectorAll('.inc.selected, .ul.selected')) li.classList.remove('selected');
}

function showDetail(id) {
  const f = findAny(id);
  if (!f) return false;
  state.detailId = f.id;
  for (const li of document.querySelectorAll('.inc.selected, .ul.selected')) li.classList.remove('selected');
  document.querySelector(`#incident-list li[data-id="${CSS.escape(String(f.id))}"]`)?.classList.add('selected');
  document.querySelector(`#unloc-list li[data-id="${CSS.escape(String(f.id))}"]`)?.classList.add('selected');
  const rc = repeats.get(f.properties.cluster_id);
  detailRepeatKey = `${rc?.id}:${repeats.callsOf(f.properties.cluster_id)}`;
  const repeat = rc ? `<a href="#" class="dt-repeat" data-cluster="${esc(rc.id)}">同一事件共 ${Number(rc.properties.members)} 次来电 · ${esc(CLUSTER_FAMILY_NAME[rc.properties.family] || '')} · 查看全部</a>` : '';
  const html = detailHtml(f, { fmtTime: timeText, assigned: assignedBadge(f.id), repeat });
  if (isLocated(f) && mapReady) {
    $('detail-card').hidden = true;
    dropPopup();
    const pp = new maplibregl.Popup({ closeButton: true, closeOnClick: false, className: 'inc-popup', maxWidth: 'none', offset: 14, focusAfterOpen: false })
      .setLngLat(f.geometry.coordinates).setHTML(html).addTo(map);
    pp.getElement().style.setProperty('--c', prioColorOf(f.properties.priority));
    pp.on('close', () => { if (popup === pp) closeDetail(); }); // its own × button
    popup = pp;
  } else {
    dropPopup();
    $('detail-body').innerHTML = html;
    $('detail-card').style.setProperty('--c', prioColorOf(f.properties.priority));
    $('detail-card').hidden = false;
  }
  return true;
}
state.showDetail = showDetail;
state.closeDetail = closeDetail;

function refreshDetail() {
  if (state.detailId === null) return;
  const id = state.detailId;
  if (!showDetail(id)) closeDetail();
}

$('detail-close').addEventListener('click', closeDetail);
// the 重复来电 row of a detail opens the cluster's card
document.addEventListener('click', (e) => {
  const a = e.target.closest('.dt-repeat, .badge.repeat');
  if (!a) return;
  e.preventDefault();
  e.stopPropagation();
  repeatLayer?.select(a.dataset.cluster);
});
$('incident-list').addEventListener('click', (e) => {
  if (e.target.closest('.badge.repeat')) return; // the calls' card (document listener), not this call's popup
  const li = e.target.closest('li.inc');
  if (li) showDetail(li.dataset.id);
});
$('unloc-list').addEventListener('click', (e) => {
  const li = e.target.closest('li.ul');
  if (li) showDetail(li.dataset.id);
});
window.addEventListener('keydown', (e) => { if (e.key === 'Escape') { closeDetail(); repeatLayer?.select(null); } });

// ---------------------------------------------------------------- 警力态势 (counts by status, from the features held)
function renderForce() {
  const c = rsp.counts();
  $('force-total').textContent = String(c.total - c.off_duty);
  $('force-counts').innerHTML = RESPONDER_STATUS.map(([k, name, color]) => `<div class="fc fc-${k}${c[k] ? '' : ' zero'}" style="--c:${color}" data-status="${k}">
      <span class="fc-n">${c[k]}</span><span class="fc-name">${esc(name)}</span></div>`).join('')
    + `<div class="fc fc-stale${c.stale ? '' : ' zero'}" data-status="stale"><span class="fc-n">${c.stale}</span><span class="fc-name">定位过期</span></div>`;
  $('force-bar').innerHTML = RESPONDER_STATUS.filter(([k, , , shown]) => shown && c[k])
    .map(([k, name, color]) => `<span style="flex:${c[k]};background:${color}" title="${esc(name)} ${c[k]}"></span>`).join('');
  $('force-bar').hidden = c.total - c.off_duty === 0;
  $('force-sub').textContent = c.total ? `在岗 ${c.total - c.off_duty} · 下线 ${c.off_duty}${c.noFix ? ` · 无定位 ${c.noFix}` : ''}` : '暂无警力数据';
}

// ---------------------------------------------------------------- assignments: 已派 rings, re-offer notices
const pendingNotices = new Map(); // old assignment id → timer (waiting for its replacement to arrive)
const nameOf = (a) => (a && (a.responder_name || rsp.features.get(String(a.responder_id))?.properties.name || a.responder_id)) || '?';

function applyAssignment(a) {
  const r = book.apply(a);
  if (!r) return;
  for (const id of r.incidentIds) touchIncident(id);
  const { prev, cur } = r;
  const changed = !prev || prev.status !== cur.status;
  if (changed && (cur.status === 'timed_out' || cur.status === 'declined')) {
    // The replacement may arrive just before or just after this message: wait briefly for it.
    const tryShow = (final) => {
      const rep = book.replacementOf(cur);
      if (rep && (rep.responder_id || rep.responder_name)) { showReoffer(cur, rep); return true; }
      if (final) showReoffer(cur, null);
      return false;
    };
    if (!tryShow(false)) pendingNotices.set(cur.id, setTimeout(() => { pendingNotices.delete(cur.id); tryShow(true); }, 2500));
  }
  // a new assignment that replaces one we are waiting on
  if (cur.replaces !== undefined && cur.replaces !== null && pendingNotices.has(cur.replaces)) {
    clearTimeout(pendingNotices.get(cur.replaces));
    pendingNotices.delete(cur.replaces);
    showReoffer(book.byId.get(cur.replaces), cur);
  }
  scheduleFlush();
}

function showReoffer(old, rep) {
  if (!old) return;
  const why = old.status === 'declined' ? '拒绝接警' : '超时未确认';
  const inc = `警情 #${old.incident_id}`;
  const text = rep ? `${why}，已改派 ${nameOf(old)} → ${nameOf(rep)}` : `${why}：${nameOf(old)}（${inc}），待改派`;
  pushNotice({ kind: old.status, text, sub: inc, at: Date.now() });
}

function pushNotice(n) {
  state.notices.push(n);
  if (state.notices.length > 20) state.notices.shift();
  const box = $('notices');
  const el = document.createElement('div');
  el.className = `notice notice-${n.kind}`;
  el.setAttribute('role', 'status');
  el.innerHTML = `<span class="notice-icon">${n.kind === 'declined' ? '拒绝' : '超时'}</span><span class="notice-text">${esc(n.text)}</span><span class="notice-sub">${esc(n.sub || '')} · ${esc(timeText(new Date(n.at)))}</span>`;
  box.prepend(el);
  while (box.children.length > 4) box.lastElementChild.remove();
  setTimeout(() => el.remove(), NOTICE_MS);
}
state.applyAssignment = applyAssignment; // test hook: the same path the stream's `assignment` messages take

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
setInterval(() => { repeats.prune(); if (repeats.dirty) scheduleFlush(); }, 15000); // closed repeat events leave

// ---------------------------------------------------------------- boot
let districtBbox = DISTRICT_BBOX;
const stream = new IncidentStream({
  url: streamUrl(),
  bbox: districtBbox,
  layers: baseLayers,
  handlers: {
    onMessage: () => { state.lastMessageAt = Date.now(); },
    onSnapshot: (seq, fc, msg) => {
      fetchUnlocated(); // the snapshot holds located incidents only; (re)connected: catch up on the rest
      if (heat.state.on && msg.heat) heat.onSnapshot(msg.heat);
      rsp.snapshot(msg.responders || EMPTY);
      book.snapshot(Array.isArray(msg.assignments) ? msg.assignments : []);
      repeats.snapshot(msg.clusters || EMPTY);
      for (const row of rowCache.values()) row.f = null; // assignments may differ: re-render rows in place
      applySnapshot(seq, fc);
      refreshTodayStats();
    },
    onResponders: (seq, feats) => { state.lastSeq = seq; rsp.apply(feats); scheduleFlush(); },
    onAssignment: (seq, a) => { state.lastSeq = seq; applyAssignment(a); },
    onCluster: (seq, f) => { state.lastSeq = seq; repeats.apply(f); scheduleFlush(); },
    onIncident: (seq, f) => {
      const id = f?.properties?.id ?? f?.id;
      if (id !== undefined && !state.incidents.has(id)) recentFlash.set(id, Date.now());
      applyIncident(seq, f);
    },
    onHeat: (msg) => { if (heat.state.on) heat.apply(msg); },
    onRefused: (layers) => {
      if (layers.includes('heat')) { heat.state.error = '服务器拒绝了热力订阅，热力不随实时数据更新'; heat.redraw(true); }
    },
    onReset: () => { rsp.clear(); book.clear(); repeats.clear(); resetIncidents(); },
    onState: (s, info) => { state.connection = s; connInfo = info; renderConn(); },
    onError: (m) => { state.errors.push(`stream: ${m}`); console.warn('[stream]', m); },
  },
});

async function boot() {
  loadTaxonomy().then(() => {
    // tag labels arrived: re-render rows, the unlocated list and an open detail in place
    for (const row of rowCache.values()) row.f = null;
    for (const row of unlocRows.values()) row.f = null;
    unlocDirty = true;
    refreshDetail();
    scheduleFlush();
  });
  const errs = await fetchLayers(layerData);
  if (errs.length) { const el = $('layer-errors'); el.hidden = false; el.textContent = errs.join('；'); }
  const bb = layerData.boundary && bboxOf(layerData.boundary);
  // round outward (w,s down; e,n up) so no edge of the district is cut off
  if (bb) { districtBbox = bb.map((v, i) => (i < 2 ? Math.floor(v * 1e4) : Math.ceil(v * 1e4)) / 1e4); stream.setBbox(districtBbox); }
  if (bb) {
    const cam = map.cameraForBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: 40 });
    if (cam && Number.isFinite(cam.zoom)) heat.state.res = heatResForZoom(cam.zoom);
  }
  heat.state.on = heatParam === '1' || heatParam === 'true';
  stream.layers = streamLayers();
  stream.heat = heat.subscription();
  stream.start();

  if (!map.loaded()) await new Promise((res) => map.once('load', res));
  addStaticLayers(map, layerData, px);
  addLiveLayers();
  mapReady = true;
  // the wall PC's mouse: a click on an incident point opens its detail, elsewhere closes it
  // a point first, then a repeat ring (its card), then a count bubble (zoom in to what it holds)
  map.on('click', async (e) => {
    const r = 6;
    const box = [[e.point.x - r, e.point.y - r], [e.point.x + r, e.point.y + r]];
    const hit = map.queryRenderedFeatures(box, { layers: ['incidents-circle'] })[0];
    if (hit) { showDetail(hit.properties.id); return; }
    const ring = repeatLayer.hitTest(e.point);
    if (ring) { closeDetail(); repeatLayer.select(ring); return; }
    closeDetail();
    repeatLayer.select(null);
    const bubble = agg.hit(box);
    if (bubble) await agg.expand(bubble);
  });
  if (bb) map.fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: { top: 40, bottom: 40, left: 40, right: 40 }, duration: 0 });
  addLabels();
  heat.setOn(heat.state.on);
  if (heat.state.on) heat.fetchInitial(districtBbox);
  state.layersLoaded = true;
  scheduleFlush();
  map.once('idle', () => {
    declutter();
    state.ready = true;
    document.body.dataset.ready = '1';
  });
  map.triggerRepaint();
}
// Operators at the wall PC: H toggles the heat overlay (the URL keeps ?heat=1 so a reload keeps it).
function toggleHeat(on = !heat.state.on) {
  if (!mapReady || on === heat.state.on) return;
  heat.setOn(on);
  stream.setLayers(streamLayers(), heat.subscription());
  if (on) heat.fetchInitial(districtBbox);
  const u = new URL(window.location.href);
  if (on) u.searchParams.set('heat', '1'); else u.searchParams.delete('heat');
  window.history.replaceState(null, '', u);
  declutter();
}
state.toggleHeat = toggleHeat;
window.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (e.key === 'h' || e.key === 'H') toggleHeat();
});

boot().catch((e) => {
  state.errors.push(String(e?.message || e));
  console.error(e);
});
