// 联勤调度台 — the commander's workstation (UX.md §1.2): incident queue | interactive map | recommendations.
// Same offline base map and stream as the wall; every state change shown here comes from the stream
// (a POST answer is only acknowledged, never applied), so the console shows what every screen shows.
import maplibregl from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';
import './console.css';
import {
  SOURCE_SHORT, SOURCE_NAME, PRIORITY_NAME, MAX_INCIDENTS, FLUSH_MS, PANEL_MS, TZ,
  RESPONDER_STATUS_COLOR, RESPONDER_STATUS_LABEL, RESPONDER_TYPE_LABEL, ASSIGNMENT_STATUS_LABEL,
  ASSIGNED_RING, RANK_COLORS, NOTICE_MS, CLUSTER_FAMILY_NAME,
} from './config.js';
import { bboxOf } from './geo.js';
import { IncidentStream, streamUrl } from './stream.js';
import {
  EMPTY, emptyStyle, DISTRICT_BOUNDS, fetchLayers, addStaticLayers, createLabels, pxFn, PRIO_COLOR_EXPR, prioColorOf,
} from './basemap.js';
import { ResponderStore, AssignmentBook, addResponderLayers } from './responders.js';
import { leafOf, isLocated } from './incident-info.js';
import { RepeatBook, createRepeatLayer } from './repeats.js';
import { createAggregation, POINT } from './aggregate.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const CAND_K = 5;
const QUEUE_ROWS = 150;
// AwareCAD-style ageing of unassigned incidents (UX.md §3.13): seconds → class
const SLA_STEPS = [[1800, 4], [900, 3], [300, 2], [60, 1]];

// ---------------------------------------------------------------- state / test surface
const rsp = new ResponderStore();
const book = new AssignmentBook();
const repeats = new RepeatBook();
const state = {
  ready: false,
  incidents: new Map(),      // id → Feature
  responders: rsp.features,  // id → Feature
  assignments: book.byId,    // assignment id → assignment (from the stream only)
  assignedIncidents: book.openByIncident,
  lastSeq: null,
  connection: 'reconnecting',
  lastMessageAt: 0,
  map: null,
  layers: {},
  selectedId: null,
  candidates: [],            // last answer's candidates for selectedId
  candidatesFor: null,
  candidateLines: EMPTY,     // the FeatureCollection in source `candidate-lines`
  lastAssign: null,          // { incidentId, responderId, status, body }
  lastAction: null,          // { kind: 'ack'|'decline', id, status, body }
  errors: [],
  notices: [],
  repeats: repeats.byId,     // cluster id → repeat cluster Feature (layer "clusters")
  agg: null,                 // display aggregation: { mode, on, bubbles }
  selectRepeat: null,        // (clusterId|null) → the repeat card, as a click on its ring
};
window.lianqinConsole = state;

// ---------------------------------------------------------------- time
const fmtDate = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short' });
const fmtTime = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const timeText = (d) => fmtTime.format(d);
function tickClock() {
  const now = new Date();
  const p = Object.fromEntries(fmtDate.formatToParts(now).map((x) => [x.type, x.value]));
  $('clock-time').textContent = timeText(now);
  $('clock-date').textContent = `${p.year}年${p.month}月${p.day}日 ${p.weekday}`;
}
tickClock();
setInterval(tickClock, 250);
setInterval(() => { repeats.prune(); if (repeats.dirty) scheduleFlush(); }, 15000); // closed repeat events leave

function elapsedText(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  const h = Math.floor(s / 3600);
  if (h < 48) return `${h}时${Math.floor((s % 3600) / 60)}分`;
  return `${Math.floor(h / 24)}天`;
}
const ageText = (ms) => {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s前`;
  if (s < 3600) return `${Math.floor(s / 60)}分${s % 60 ? `${s % 60}s` : ''}前`;
  return `${Math.floor(s / 3600)}时${Math.floor((s % 3600) / 60)}分前`;
};
const distText = (m) => (!Number.isFinite(m) ? '--' : m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(m < 10000 ? 2 : 1)} km`);
const etaText = (s) => (!Number.isFinite(s) ? '--' : s < 60 ? '<1 分钟' : `${Math.round(s / 60)} 分钟`);
const incTime = (f) => Date.parse(f.properties.received_at || f.properties.reported_at || '') || 0;
const nameOf = (a) => (a && (a.responder_name || rsp.features.get(String(a.responder_id))?.properties.name || a.responder_id)) || '?';

// ---------------------------------------------------------------- map (interactive, offline style)
const map = new maplibregl.Map({
  container: 'map',
  style: emptyStyle('lianqin-console'),
  bounds: DISTRICT_BOUNDS,
  fitBoundsOptions: { padding: 30 },
  attributionControl: false,
  fadeDuration: 0,
  renderWorldCopies: false,
  dragRotate: false,
  pitchWithRotate: false,
  touchPitch: false,
  maxZoom: 18,
});
state.map = map;
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
map.on('error', (e) => { const m = e?.error?.message || String(e?.error || e); state.errors.push(m); console.warn('[map]', m); });
new ResizeObserver(() => map.resize()).observe($('map'));
const px = pxFn();
const agg = createAggregation(map, px, { held: () => state.incidents.size });
state.agg = agg.state;
let repeatLayer = null;
const { addLabels, declutter } = createLabels(map, { obstacles: () => document.querySelectorAll('.legend, .notices > *') });

function addLiveLayers() {
  map.addSource('candidate-lines', { type: 'geojson', data: EMPTY });
  agg.addSource(); // count bubbles where incidents crowd (aggregate.js)
  map.addSource('selected-incident', { type: 'geojson', data: EMPTY }); // never inside a bubble
  // candidate lines under the units: rank 1 solid and brightest, the others dashed and dimmer (never red)
  map.addLayer({
    id: 'candidate-lines-casing', type: 'line', source: 'candidate-lines',
    layout: { 'line-cap': 'round' },
    paint: { 'line-color': '#051655', 'line-width': ['match', ['get', 'rank'], 1, px(7), px(5)], 'line-opacity': 0.8 },
  });
  map.addLayer({
    id: 'candidate-lines', type: 'line', source: 'candidate-lines',
    layout: { 'line-cap': 'round' },
    paint: {
      'line-color': ['match', ['get', 'rank'], 1, RANK_COLORS[0], 2, RANK_COLORS[1], 3, RANK_COLORS[2], 4, RANK_COLORS[3], RANK_COLORS[4]],
      'line-width': ['match', ['get', 'rank'], 1, px(3.5), 2, px(2.5), px(2)],
      'line-dasharray': ['match', ['get', 'rank'], 1, ['literal', [1, 0]], ['literal', [2, 1.5]]],
    },
  });
  addResponderLayers(map, px);
  map.addLayer({
    id: 'incidents-assigned', type: 'circle', source: 'incidents', filter: ['all', POINT, ['==', ['get', '_assigned'], true]],
    paint: {
      'circle-color': 'rgba(0,0,0,0)',
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, px(12), 15, px(18)],
      'circle-stroke-color': ASSIGNED_RING, 'circle-stroke-width': px(2.5),
    },
  });
  map.addLayer({
    id: 'incidents-circle', type: 'circle', source: 'incidents', filter: POINT,
    paint: {
      'circle-color': PRIO_COLOR_EXPR,
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, ['match', ['coalesce', ['get', 'priority'], 0], 1, px(7.5), 2, px(6.5), px(5.5)], 15, px(11)],
      'circle-stroke-color': '#FFFFFF', 'circle-stroke-width': px(2),
      'circle-opacity': ['case', ['==', ['get', 'demo'], true], 0.8, 1],
    },
  });
  map.addLayer({
    id: 'incidents-selected', type: 'circle', source: 'selected-incident',
    paint: {
      'circle-color': 'rgba(0,0,0,0)', 'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, px(17), 15, px(24)],
      'circle-stroke-color': '#2FD4FF', 'circle-stroke-width': px(3),
    },
  });

  agg.addLayers();
  repeatLayer = createRepeatLayer(map, px, repeats, { cardEl: $('repeat-card'), fmtTime: timeText, onShowIncident: (id) => select(id) });
  state.selectRepeat = (id) => repeatLayer.select(id);

  // pointer: incidents select, repeat rings open their card, responders show a card, bubbles zoom in
  const hitBox = (p, r = 6) => [[p.x - r, p.y - r], [p.x + r, p.y + r]];
  map.on('click', async (e) => {
    const inc = map.queryRenderedFeatures(hitBox(e.point), { layers: ['incidents-circle'] })[0];
    if (inc) { select(inc.properties.id, { fly: false }); return; }
    const r = map.queryRenderedFeatures(hitBox(e.point, 5), { layers: ['responders-circle'] })[0];
    if (r) { showResponderPopup(String(r.properties.id), e.lngLat); return; }
    const ring = repeatLayer.hitTest(e.point);
    if (ring) { repeatLayer.select(ring); return; }
    const bubble = agg.hit(hitBox(e.point));
    if (bubble) await agg.expand(bubble);
  });
  map.on('mousemove', (e) => {
    const hit = map.queryRenderedFeatures(hitBox(e.point), { layers: ['incidents-circle', 'responders-circle'] }).length > 0;
    map.getCanvas().style.cursor = hit ? 'pointer' : '';
  });
}

let popup = null;
function showResponderPopup(id, lngLat) {
  const f = rsp.features.get(id);
  if (!f) return;
  const p = f.properties;
  const pos = p.position;
  popup?.remove();
  popup = new maplibregl.Popup({ closeButton: true, className: 'rsp-popup', maxWidth: '20rem' })
    .setLngLat(f.geometry?.coordinates || lngLat)
    .setHTML(`<div class="pp-name">${esc(p.name)} <span class="pp-type">${esc(p.type_label || RESPONDER_TYPE_LABEL[p.type] || p.type)}</span></div>
      <div><span class="st-chip" style="--c:${RESPONDER_STATUS_COLOR[p.status] || '#94A3B8'}">${esc(p.status_label || RESPONDER_STATUS_LABEL[p.status] || p.status)}</span>
      ${pos?.stale ? '<span class="stale-chip">定位过期</span>' : ''}</div>
      <div class="pp-sub">${esc(p.department || '')}${p.phone_masked ? ` · ${esc(p.phone_masked)}` : ''}${p.shift ? ` · ${esc(p.shift)}` : ''}</div>
      <div class="pp-sub">${pos?.ts ? `定位 ${esc(ageText(Date.now() - Date.parse(pos.ts)))}` : '无定位'}${(p.skills || []).length ? ` · 技能 ${esc(p.skills.join('、'))}` : ''}</div>`)
    .addTo(map);
}

// ---------------------------------------------------------------- incidents + coalesced flush (≤ 4 Hz)
const pending = { add: new Map(), remove: new Set(), reset: true };
let flushTimer = null; let lastFlush = 0; let mapReady = false; let queueDirty = true;
let selDrawn = null; // the Feature the selection ring was drawn from

function normalize(feature) {
  const props = feature?.properties || {};
  const id = props.id ?? feature?.id;
  if (id === undefined || id === null) return null;
  return { type: 'Feature', id, geometry: feature.geometry, properties: { ...props, id } };
}
const drawn = (f) => (book.openByIncident.has(String(f.id)) ? { ...f, properties: { ...f.properties, _assigned: true } } : f);
const findIncident = (id) => state.incidents.get(id) ?? state.incidents.get(Number(id)) ?? state.incidents.get(String(id));

function applySnapshot(seq, fc, msg) {
  state.incidents.clear();
  const feats = (fc.features || []).map(normalize).filter(Boolean).sort((a, b) => incTime(a) - incTime(b));
  for (const f of feats.slice(-MAX_INCIDENTS)) state.incidents.set(f.id, f);
  rsp.snapshot(msg.responders || EMPTY);
  book.snapshot(Array.isArray(msg.assignments) ? msg.assignments : []);
  state.lastSeq = seq;
  pending.add.clear(); pending.remove.clear(); pending.reset = true;
  queueDirty = true;
  scheduleFlush();
}

function applyIncident(seq, feature) {
  const f = normalize(feature);
  if (!f) return;
  state.incidents.delete(f.id);
  state.incidents.set(f.id, f);
  state.lastSeq = seq;
  pending.add.set(f.id, f); pending.remove.delete(f.id);
  while (state.incidents.size > MAX_INCIDENTS) {
    const oldest = state.incidents.keys().next().value;
    state.incidents.delete(oldest); pending.add.delete(oldest); pending.remove.add(oldest);
  }
  queueDirty = true;
  scheduleFlush();
}

function touchIncident(id) {
  const f = findIncident(id);
  if (!f) return;
  pending.add.set(f.id, f); pending.remove.delete(f.id);
  queueDirty = true;
}

const pendingNotices = new Map();
let candRefetch = null;
function applyAssignment(seq, a) {
  state.lastSeq = seq ?? state.lastSeq;
  const r = book.apply(a);
  if (!r) return;
  for (const id of r.incidentIds) touchIncident(id);
  const { prev, cur } = r;
  if ((!prev || prev.status !== cur.status) && (cur.status === 'timed_out' || cur.status === 'declined')) {
    const tryShow = (final) => {
      const rep = book.replacementOf(cur);
      if (rep && (rep.responder_id || rep.responder_name)) { notice(cur, rep); return true; }
      if (final) notice(cur, null);
      return false;
    };
    if (!tryShow(false)) pendingNotices.set(cur.id, setTimeout(() => { pendingNotices.delete(cur.id); tryShow(true); }, 2500));
  }
  if (cur.replaces !== undefined && cur.replaces !== null && pendingNotices.has(cur.replaces)) {
    clearTimeout(pendingNotices.get(cur.replaces)); pendingNotices.delete(cur.replaces);
    notice(book.byId.get(cur.replaces), cur);
  }
  if (state.selectedId !== null && String(cur.incident_id) === String(state.selectedId)) {
    // the recommendation changes once a unit is taken or released: re-ask the server (debounced)
    clearTimeout(candRefetch);
    candRefetch = setTimeout(() => loadCandidates(state.selectedId, { keepMsg: true }), 300);
  }
  scheduleFlush();
}

function notice(old, rep) {
  if (!old) return;
  const why = old.status === 'declined' ? '拒绝接警' : '超时未确认';
  const text = rep ? `${why}，已改派 ${nameOf(old)} → ${nameOf(rep)}` : `${why}：${nameOf(old)}，待改派`;
  const n = { kind: old.status, text, sub: `警情 #${old.incident_id}`, at: Date.now() };
  if (state.selectedId !== null && String(old.incident_id) === String(state.selectedId)) showMsg('warn', text);
  state.notices.push(n);
  const box = $('notices');
  const el = document.createElement('div');
  el.className = `notice notice-${n.kind}`;
  el.innerHTML = `<span class="notice-icon">${n.kind === 'declined' ? '拒绝' : '超时'}</span><span class="notice-text">${esc(n.text)}</span><span class="notice-sub">${esc(n.sub)} · ${esc(timeText(new Date(n.at)))}</span>`;
  box.prepend(el);
  while (box.children.length > 4) box.lastElementChild.remove();
  setTimeout(() => el.remove(), NOTICE_MS);
}
state.applyAssignment = (a) => applyAssignment(null, a); // test hook: the stream's own path

function scheduleFlush() {
  if (flushTimer) return;
  flushTimer = setTimeout(flush, Math.max(0, FLUSH_MS - (Date.now() - lastFlush)));
}

function flush() {
  flushTimer = null;
  if (!mapReady) { scheduleFlush(); return; }
  lastFlush = Date.now();
  const src = map.getSource('incidents');
  // unlocated incidents (geometry null) stay in the queue but never go into the map source
  const all = () => ({ type: 'FeatureCollection', features: [...state.incidents.values()].filter(isLocated).map(drawn) });
  if (pending.reset) src.setData(all());
  else if (pending.add.size || pending.remove.size) {
    const add = [...pending.add.values()];
    const remove = [...pending.remove, ...add.filter((f) => !isLocated(f)).map((f) => f.id)];
    try { src.updateData({ add: add.filter(isLocated).map(drawn), remove }); } catch (e) { console.warn(e); src.setData(all()); }
  }
  pending.reset = false; pending.add.clear(); pending.remove.clear();
  agg.sync();
  if (repeats.dirty) { queueDirty = true; repeatLayer?.flush(); } // 重复×N tags in the queue
  // the selection ring follows its incident (moved, trimmed, a new snapshot)
  const sel = state.selectedId !== null ? findIncident(state.selectedId) : null;
  if (sel !== selDrawn) {
    selDrawn = sel;
    map.getSource('selected-incident').setData(sel?.geometry ? { type: 'FeatureCollection', features: [sel] } : EMPTY);
  }
  if (rsp.dirty) { rsp.flush(map); renderCandidateStatus(); }
  if (queueDirty) { renderQueue(); queueDirty = false; }
  renderRecHeader();
  renderAssignments();
}

// ---------------------------------------------------------------- queue (left)
let queueOrder = []; // ids in display order
function sortKey(f) {
  const assigned = book.openByIncident.has(String(f.id)) ? 1 : 0;
  const p = f.properties.priority || 9;
  return [assigned, p, -incTime(f)];
}
function cmp(a, b) { for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return a[i] - b[i]; return 0; }

const rowCache = new Map(); // id → { key, li }
function rowKey(f) {
  const open = book.openFor(f.id);
  return `${f.properties.received_at}|${f.properties.priority}|${open.map((a) => `${a.id}:${a.status}`).join(',')}|${f.id === state.selectedId}|${repeats.callsOf(f.properties.cluster_id)}`;
}
function repeatTag(clusterId) {
  const n = repeats.callsOf(clusterId);
  if (n < 2) return '';
  const c = repeats.get(clusterId);
  return `<span class="badge repeat" data-cluster="${esc(c?.id ?? clusterId)}" title="同一事件已来电 ${Number(n)} 次（${esc(CLUSTER_FAMILY_NAME[c?.properties.family] || '')}），点击查看全部来电">重复×${Number(n)}</span>`;
}
function queueRow(f) {
  const p = f.properties;
  const j = p.jurisdiction || {};
  const open = book.openFor(f.id);
  const tag = open.length
    ? `<span class="q-tag q-assigned${open.some((a) => a.status === 'acked') ? ' acked' : ''}">${open.some((a) => a.status === 'acked') ? '已确认' : '已派'} ${esc(nameOf(open[0]))}${open.length > 1 ? ` 等${open.length}` : ''}</span>`
    : '<span class="q-tag q-wait">待派</span>';
  return `<div class="q-l1">
      <span class="prio">${p.priority ? esc(PRIORITY_NAME[p.priority] || `P${p.priority}`) : '未定级'}</span>
      <span class="cat">${esc(p.category || leafOf(p) || '未分类')}${leafOf(p) && leafOf(p) !== p.category ? `<span class="leaf"> · ${esc(leafOf(p))}</span>` : ''}</span>
      ${isLocated(f) ? '' : '<span class="q-tag q-unloc" title="地址未能定位，地图上无点位">未定位</span>'}
      <span class="badge src src-${esc(p.source)}" title="${esc(SOURCE_NAME[p.source] || '')}">${esc(SOURCE_SHORT[p.source] || p.source || '其他')}</span>
      ${p.demo ? '<span class="badge demo">演示</span>' : ''}
      ${repeatTag(p.cluster_id)}
      <span class="q-age" data-t="${incTime(f)}"></span>
    </div>
    <div class="q-l2">${esc(p.address || p.description || '')}</div>
    <div class="q-l3"><span>#${esc(f.id)} · ${esc(j.township_name || '辖区未定')}${j.station_name ? ` · ${esc(j.station_name)}` : ''}</span>${tag}</div>`;
}

function renderQueue() {
  const list = $('queue');
  const items = [...state.incidents.values()].map((f) => [sortKey(f), f]).sort((a, b) => cmp(a[0], b[0])).map((x) => x[1]);
  queueOrder = items.map((f) => f.id);
  const shown = items.slice(0, QUEUE_ROWS);
  if (state.selectedId !== null && !shown.some((f) => String(f.id) === String(state.selectedId))) {
    const sel = findIncident(state.selectedId);
    if (sel) shown.push(sel); // the selected incident is never hidden (UX.md §3.7)
  }
  const keep = new Set();
  let prev = null;
  for (const f of shown) {
    keep.add(f.id);
    const key = rowKey(f);
    let row = rowCache.get(f.id);
    if (!row || row.key !== key) {
      const li = row?.li || document.createElement('li');
      li.className = 'q-row';
      li.dataset.id = String(f.id);
      li.style.setProperty('--c', prioColorOf(f.properties.priority));
      li.classList.toggle('selected', String(f.id) === String(state.selectedId));
      li.classList.toggle('is-assigned', book.openByIncident.has(String(f.id)));
      li.innerHTML = queueRow(f);
      row = { key, li };
      rowCache.set(f.id, row);
    }
    const want = prev ? prev.nextSibling : list.firstChild;
    if (want !== row.li) list.insertBefore(row.li, want);
    prev = row.li;
  }
  for (const [id, row] of rowCache) if (!keep.has(id)) { row.li.remove(); rowCache.delete(id); }
  const waiting = items.filter((f) => !book.openByIncident.has(String(f.id))).length;
  $('queue-empty').hidden = items.length > 0;
  $('queue-sub').textContent = `待派 ${waiting} · 已派 ${items.length - waiting}${items.length > shown.length ? ` · 显示前 ${QUEUE_ROWS}` : ''}`;
  tickAges();
}

function tickAges() {
  const now = Date.now();
  for (const el of document.querySelectorAll('#queue .q-age')) {
    const t = Number(el.dataset.t);
    if (!t) { el.textContent = ''; continue; }
    const age = (now - t) / 1000;
    el.textContent = elapsedText(now - t);
    const li = el.closest('.q-row');
    const unassigned = li && !li.classList.contains('is-assigned');
    const step = unassigned ? (SLA_STEPS.find(([s]) => age >= s)?.[1] || 0) : 0;
    if (li && li.dataset.sla !== String(step)) li.dataset.sla = String(step);
  }
}

$('queue').addEventListener('click', (e) => {
  const li = e.target.closest('.q-row');
  if (li) select(li.dataset.id, { fly: true });
  const rep = e.target.closest('.badge.repeat');
  if (rep) repeatLayer?.select(rep.dataset.cluster); // and the calls of its event
});

// ---------------------------------------------------------------- selection + recommendations (right)
let selToken = 0;
function select(id, { fly = true } = {}) {
  if (!mapReady) return;
  if (id === null || id === undefined) { clearSelection(); return; }
  const f = findIncident(id);
  if (!f) return;
  const same = String(state.selectedId) === String(f.id);
  state.selectedId = f.id;
  selDrawn = f;
  map.getSource('selected-incident').setData(f.geometry ? { type: 'FeatureCollection', features: [f] } : EMPTY);
  for (const row of rowCache.values()) row.li.classList.toggle('selected', row.li.dataset.id === String(f.id));
  rowCache.get(f.id)?.li.scrollIntoView({ block: 'nearest' });
  queueDirty = true;
  if (!same) { hideMsg(); setCandidates(f.id, null); }
  if (fly && f.geometry) {
    const c = f.geometry.coordinates;
    const b = map.getBounds();
    // zoomed in far enough that the incident is a point, not inside a count bubble
    const inBubble = agg.state.on && map.getZoom() < agg.pointZoom;
    if (same || inBubble || !b.contains(c)) map.easeTo({ center: c, zoom: Math.max(map.getZoom(), agg.state.on ? agg.pointZoom : 13), duration: 400 });
  }
  renderRecHeader();
  renderAssignments();
  loadCandidates(f.id);
}

function clearSelection() {
  state.selectedId = null;
  selDrawn = null;
  map.getSource('selected-incident').setData(EMPTY);
  for (const row of rowCache.values()) row.li.classList.remove('selected');
  setCandidates(null, null);
  hideMsg();
  renderRecHeader();
  renderAssignments();
}

async function loadCandidates(id, { keepMsg = false } = {}) {
  const token = ++selToken;
  const inc = findIncident(id);
  if (inc && !isLocated(inc)) {
    // no position (the address could not be geocoded): nothing to rank distances from
    setCandidates(id, []);
    $('cand-sub').textContent = '未定位';
    showMsg('warn', '该事件地址未能定位，无法推荐警力：请先核实位置（可在大屏“未定位事件”查看）');
    return;
  }
  $('cand-sub').textContent = '查询中…';
  $('cand-sec').hidden = false;
  try {
    const r = await fetch(`./api/v1/incidents/${encodeURIComponent(id)}/candidates?k=${CAND_K}`, { cache: 'no-store' });
    const body = await r.json().catch(() => null);
    if (token !== selToken) return; // selection moved on
    if (!r.ok) {
      setCandidates(id, []);
      showMsg('bad', `推荐查询失败（HTTP ${r.status}）：${body?.reason || body?.error || ''}`);
      return;
    }
    setCandidates(id, body?.candidates || [], body?.incident);
    if (!keepMsg && state.lastAssign?.incidentId !== id) hideMsg();
  } catch (e) {
    if (token !== selToken) return;
    setCandidates(id, []);
    showMsg('bad', `推荐查询失败：${e.message}`);
  }
}

const rankMarkers = [];
function setCandidates(id, list, incident) {
  state.candidatesFor = list ? id : null;
  state.candidates = list || [];
  const inc = findIncident(id);
  const to = incident && Number.isFinite(incident.lon) ? [incident.lon, incident.lat] : inc?.geometry?.coordinates;
  const feats = [];
  for (const c of state.candidates) {
    if (!to || !Number.isFinite(c.lon) || !Number.isFinite(c.lat)) continue;
    feats.push({
      type: 'Feature', id: c.rank,
      geometry: { type: 'LineString', coordinates: [[c.lon, c.lat], to] },
      properties: { rank: c.rank, responder_id: String(c.responder?.id ?? ''), distance_m: c.distance_m },
    });
  }
  state.candidateLines = { type: 'FeatureCollection', features: feats };
  map.getSource('candidate-lines')?.setData(state.candidateLines);
  while (rankMarkers.length) rankMarkers.pop().remove();
  for (const c of state.candidates) {
    if (!Number.isFinite(c.lon) || !Number.isFinite(c.lat)) continue;
    const el = document.createElement('div');
    el.className = 'rank-anchor';
    el.innerHTML = `<span class="rank-badge rank-${c.rank}">${c.rank}</span>`;
    el.title = `${c.responder?.name || ''} · ${distText(c.distance_m)}`;
    el.addEventListener('click', (e) => { e.stopPropagation(); $('cand-list').querySelector(`[data-rank="${c.rank}"]`)?.scrollIntoView({ block: 'nearest' }); });
    rankMarkers.push(new maplibregl.Marker({ element: el, anchor: 'bottom', offset: [0, -6] }).setLngLat([c.lon, c.lat]).addTo(map));
  }
  if (list && list.length && to) {
    // keep incident + candidates in view; never zoom out if they already are
    const b = new maplibregl.LngLatBounds(to, to);
    for (const c of state.candidates) if (Number.isFinite(c.lon)) b.extend([c.lon, c.lat]);
    // zoom in to incident + candidates; zoom out only if they are not all in view already
    const view = map.getBounds();
    const opts = { padding: { top: 90, bottom: 90, left: 90, right: 90 }, maxZoom: 16 };
    const cam = map.cameraForBounds(b, opts);
    const inView = view.contains(b.getSouthWest()) && view.contains(b.getNorthEast());
    if (!inView || (cam && cam.zoom > map.getZoom() + 0.5)) map.fitBounds(b, { ...opts, duration: 400 });
  }
  renderCandidates();
}

function renderRecHeader() {
  const f = state.selectedId !== null ? findIncident(state.selectedId) : null;
  $('rec-empty').hidden = !!f;
  $('inc-card').hidden = !f;
  if (!f) { $('rec-sub').textContent = '请在左侧或地图上选择警情'; $('cand-sec').hidden = true; $('asg-sec').hidden = true; return; }
  const p = f.properties;
  const j = p.jurisdiction || {};
  $('rec-sub').textContent = `警情 #${f.id}`;
  const html = `<div class="ic-l1" style="--c:${prioColorOf(p.priority)}">
      <span class="prio">${p.priority ? esc(PRIORITY_NAME[p.priority] || `P${p.priority}`) : '未定级'}</span>
      <span class="ic-cat">${esc(p.category || '未分类')}${leafOf(p) && leafOf(p) !== p.category ? ` · ${esc(leafOf(p))}` : ''}</span>
      <span class="badge src src-${esc(p.source)}">${esc(SOURCE_SHORT[p.source] || p.source || '其他')}</span>
      <span class="ic-time">${p.received_at ? esc(timeText(new Date(p.received_at))) : ''}</span>
    </div>
    <div class="ic-addr">${esc(p.address || '')}</div>
    ${p.description ? `<div class="ic-desc">${esc(p.description)}</div>` : ''}
    <div class="ic-j">${esc(j.township_name || '辖区未定')}${j.station_name ? ` · ${esc(j.station_name)}` : ''}${j.grid_name ? ` · ${esc(j.grid_name)}` : ''}${j.post_name ? ` · ${esc(j.post_name)}` : ''}</div>`;
  if ($('inc-card').dataset.html !== html) { $('inc-card').innerHTML = html; $('inc-card').dataset.html = html; }
}

function statusChip(status, label) {
  return `<span class="st-chip" style="--c:${RESPONDER_STATUS_COLOR[status] || '#94A3B8'}">${esc(label || RESPONDER_STATUS_LABEL[status] || status || '?')}</span>`;
}

function renderCandidates() {
  const list = $('cand-list');
  const id = state.candidatesFor;
  if (id === null || id === undefined) { list.innerHTML = ''; $('cand-sub').textContent = state.selectedId !== null ? '查询中…' : ''; return; }
  $('cand-sec').hidden = false;
  $('cand-sub').textContent = state.candidates.length ? `综合排序 · 前 ${state.candidates.length} 名` : '无可用警力';
  list.innerHTML = state.candidates.map((c) => {
    const r = c.responder || {};
    const rid = String(r.id ?? '');
    const live = rsp.features.get(rid)?.properties || r;
    const stale = c.stale === true || r.position?.stale === true;
    return `<li class="cand" data-rank="${c.rank}" data-rid="${esc(rid)}">
      <div class="cand-rank rank-${c.rank}">${c.rank}</div>
      <div class="cand-body">
        <div class="cand-l1"><span class="cand-name">${esc(r.name || rid)}</span><span class="cand-type">${esc(r.type_label || RESPONDER_TYPE_LABEL[r.type] || r.type || '')}</span>
          <span class="cand-st">${statusChip(live.status, live.status_label)}</span>
          ${stale ? `<span class="stale-chip" title="定位 ${esc(c.position_age_s ?? '')} 秒前">定位过期</span>` : ''}</div>
        <div class="cand-l2"><span class="cand-dist"><b>${esc(distText(c.distance_m))}</b></span><span class="cand-eta">预计 <b>${esc(etaText(c.eta_s))}</b></span>
          <span class="cand-dept">${esc(r.department || '')}</span></div>
        <div class="cand-why">${(c.reasons || []).map((x) => `<span class="why">${esc(x)}</span>`).join('')}</div>
      </div>
      <button type="button" class="btn btn-dispatch" data-act="assign" data-rid="${esc(rid)}">派遣</button>
    </li>`;
  }).join('');
}

// live status of the listed candidates (the list itself is the server's answer)
function renderCandidateStatus() {
  for (const li of document.querySelectorAll('#cand-list .cand')) {
    const p = rsp.features.get(li.dataset.rid)?.properties;
    if (!p) continue;
    const holder = li.querySelector('.cand-st');
    const html = statusChip(p.status, p.status_label);
    if (holder.innerHTML !== html) holder.innerHTML = html;
  }
}

$('cand-list').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-act="assign"]');
  if (b) assign(state.selectedId, b.dataset.rid, b);
});

async function assign(incidentId, responderId, button) {
  if (incidentId === null || !responderId) return;
  const name = rsp.features.get(responderId)?.properties.name || state.candidates.find((c) => String(c.responder?.id) === responderId)?.responder?.name || responderId;
  if (button) { button.disabled = true; button.textContent = '派遣中…'; }
  state.lastAssign = { incidentId, responderId, status: 0, body: null, at: Date.now() };
  try {
    const r = await fetch(`./api/v1/incidents/${encodeURIComponent(incidentId)}/assign`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ responders: [responderId] }),
    });
    const body = await r.json().catch(() => null);
    state.lastAssign = { incidentId, responderId, status: r.status, body, at: Date.now() };
    if (r.ok) {
      const a = body?.assignments?.[0];
      const dl = a?.ack_deadline ? `，确认截止 ${timeText(new Date(a.ack_deadline))}` : '';
      showMsg('ok', `已派遣 ${name} → 警情 #${incidentId}${dl}`);
      // the stream must confirm it (the page never applies the POST answer itself)
      const ids = (body?.assignments || []).map((x) => x.id);
      setTimeout(() => {
        const missing = ids.filter((x) => !book.byId.has(x));
        if (missing.length && state.connection === 'open') showMsg('warn', `已派遣 ${name}，但实时流 5 秒内未回传该派遣（派遣单 ${missing.join(',')}），其他屏幕可能未更新`);
      }, 5000);
    } else if (r.status === 409) {
      showMsg('bad', `无法派遣 ${name}：${body?.reason || '冲突'}`);
      loadCandidates(incidentId, { keepMsg: true });
    } else {
      showMsg('bad', `派遣失败（HTTP ${r.status}）：${body?.reason || body?.error || ''}${body?.field ? `（${body.field}）` : ''}`);
    }
  } catch (e) {
    state.lastAssign = { incidentId, responderId, status: -1, body: String(e), at: Date.now() };
    showMsg('bad', `派遣失败：${e.message}`);
  } finally {
    if (button && button.isConnected) { button.disabled = false; button.textContent = '派遣'; }
  }
}

function showMsg(kind, text) { const m = $('msg'); m.hidden = false; m.className = `msg msg-${kind}`; m.textContent = text; }
function hideMsg() { $('msg').hidden = true; }

// assignments of the selected incident, with 确认 / 拒绝 for the demo flow
function renderAssignments() {
  const sec = $('asg-sec');
  if (state.selectedId === null) { sec.hidden = true; return; }
  const all = book.allFor(state.selectedId);
  sec.hidden = all.length === 0;
  const now = Date.now();
  const html = all.slice(0, 8).map((a) => {
    const open = a.status === 'dispatched' || a.status === 'acked';
    const left = a.status === 'dispatched' && a.ack_deadline ? Math.ceil((Date.parse(a.ack_deadline) - now) / 1000) : null;
    const rp = rsp.features.get(String(a.responder_id))?.properties;
    return `<li class="asg asg-${esc(a.status)}" data-aid="${esc(a.id)}">
      <span class="asg-name">${esc(nameOf(a))}</span>
      ${rp ? statusChip(rp.status, rp.status_label) : ''}
      <span class="asg-st">${esc(a.status_label || ASSIGNMENT_STATUS_LABEL[a.status] || a.status)}</span>
      ${left !== null ? `<span class="asg-left${left <= 10 ? ' soon' : ''}">${left > 0 ? `剩 ${left}s` : '已到期'}</span>` : ''}
      ${a.status === 'dispatched' ? `<button type="button" class="btn btn-sm" data-act="ack" data-aid="${esc(a.id)}">确认</button>` : ''}
      ${open ? `<button type="button" class="btn btn-sm btn-ghost" data-act="decline" data-aid="${esc(a.id)}">拒绝</button>` : ''}
    </li>`;
  }).join('');
  const ul = $('asg-list');
  if (ul.dataset.html !== html) { ul.innerHTML = html; ul.dataset.html = html; }
}

$('asg-list').addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-act]');
  if (!b) return;
  const kind = b.dataset.act;
  const id = b.dataset.aid;
  b.disabled = true;
  try {
    const r = await fetch(`./api/v1/assignments/${encodeURIComponent(id)}/${kind}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const body = await r.json().catch(() => null);
    state.lastAction = { kind, id, status: r.status, body };
    if (!r.ok) showMsg('bad', `${kind === 'ack' ? '确认' : '拒绝'}失败（HTTP ${r.status}）：${body?.reason || body?.error || ''}`);
    else showMsg('ok', `派遣单 ${id} ${kind === 'ack' ? '已确认' : '已拒绝'}`);
  } catch (err) {
    showMsg('bad', `${kind === 'ack' ? '确认' : '拒绝'}失败：${err.message}`);
  } finally {
    if (b.isConnected) b.disabled = false;
  }
});

// ---------------------------------------------------------------- keyboard
document.addEventListener('keydown', (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const tag = e.target?.tagName;
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    if (!queueOrder.length) return;
    const i = queueOrder.findIndex((x) => String(x) === String(state.selectedId));
    const j = i < 0 ? 0 : Math.min(queueOrder.length - 1, Math.max(0, i + (e.key === 'ArrowDown' ? 1 : -1)));
    select(queueOrder[j], { fly: true });
  } else if (e.key === 'Enter') {
    if (tag === 'BUTTON' || tag === 'A') return; // the focused control handles its own Enter
    const top = state.candidates[0];
    if (top && String(state.candidatesFor) === String(state.selectedId)) {
      e.preventDefault();
      assign(state.selectedId, String(top.responder?.id), $('cand-list').querySelector('button[data-act="assign"]'));
    }
  } else if (e.key === 'Escape') {
    if (repeatLayer?.state.selected) repeatLayer.select(null); else clearSelection();
  }
});

// ---------------------------------------------------------------- connection / freshness (1 Hz panels)
let connInfo = { retryAt: 0, downSince: 0 };
function renderConn() {
  const c = state.connection;
  const now = Date.now();
  $('conn').className = `conn conn-${c}`;
  $('conn-text').textContent = c === 'open' ? '已连接'
    : c === 'reconnecting' ? `重连中 ${Math.max(0, Math.ceil((connInfo.retryAt - now) / 1000))}s`
      : `离线${connInfo.downSince ? ` 自 ${timeText(new Date(connInfo.downSince))}` : ''}`;
  document.body.classList.toggle('is-offline', c === 'offline');
  $('offline-banner').hidden = c !== 'offline';
  const fr = $('freshness');
  if (state.lastMessageAt) {
    const age = now - state.lastMessageAt;
    fr.textContent = ageText(age);
    fr.className = age > 30000 ? 'stale' : age > 15000 ? 'aging' : '';
  }
}
setInterval(() => {
  renderConn();
  tickAges();
  renderAssignments();
  const c = rsp.counts();
  $('foot-stats').textContent = `警力 在岗 ${c.total - c.off_duty}：空闲 ${c.available} · 已派 ${c.dispatched} · 赶赴 ${c.en_route} · 到场 ${c.on_scene} · 忙碌 ${c.busy}${c.stale ? ` · 定位过期 ${c.stale}` : ''}`;
}, PANEL_MS);

// ---------------------------------------------------------------- boot
let bbox = [120.79, 28.47, 121.37, 28.73];
const stream = new IncidentStream({
  url: streamUrl(),
  bbox,
  layers: ['incidents', 'responders', 'clusters'],
  handlers: {
    onMessage: () => { state.lastMessageAt = Date.now(); },
    onSnapshot: (seq, fc, msg) => {
      repeats.snapshot(msg.clusters || EMPTY);
      applySnapshot(seq, fc, msg);
      if (state.selectedId !== null) loadCandidates(state.selectedId, { keepMsg: true });
    },
    onIncident: (seq, f) => applyIncident(seq, f),
    onResponders: (seq, feats) => { state.lastSeq = seq; rsp.apply(feats); scheduleFlush(); },
    onAssignment: (seq, a) => applyAssignment(seq, a),
    onCluster: (seq, f) => { state.lastSeq = seq; repeats.apply(f); scheduleFlush(); },
    onReset: () => { state.incidents.clear(); rsp.clear(); book.clear(); repeats.clear(); state.lastSeq = null; pending.reset = true; queueDirty = true; scheduleFlush(); },
    onState: (s, info) => { state.connection = s; connInfo = info; renderConn(); },
    onError: (m) => { state.errors.push(`stream: ${m}`); console.warn('[stream]', m); },
  },
});

async function boot() {
  const errs = await fetchLayers(state.layers);
  if (errs.length) { const el = $('layer-errors'); el.hidden = false; el.textContent = errs.join('；'); }
  const bb = state.layers.boundary && bboxOf(state.layers.boundary);
  if (bb) { bbox = bb.map((v, i) => (i < 2 ? Math.floor(v * 1e4) : Math.ceil(v * 1e4)) / 1e4); stream.setBbox(bbox); }
  stream.start();
  if (!map.loaded()) await new Promise((res) => map.once('load', res));
  addStaticLayers(map, state.layers, px);
  addLiveLayers();
  mapReady = true;
  if (bb) map.fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: 30, duration: 0 });
  addLabels(state.layers);
  scheduleFlush();
  map.once('idle', () => {
    declutter();
    state.ready = true;
    document.body.dataset.ready = '1';
  });
  map.triggerRepaint();
}
boot().catch((e) => { state.errors.push(String(e?.message || e)); console.error(e); });
