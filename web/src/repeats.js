// Repeat calls on the map (issue 7): the `clusters` stream layer holds one Feature per repeat cluster (≥ 2 calls
// about one event: centroid, members, categories, sources, first/last call, `extent` hull). Drawn as a pink ring
// with a ×N chip (DOM: no glyph server), the hull on hover, and on click a card listing the calls (GET
// /api/v1/clusters/{id}: members with the reason each joined, and the merge/split history).
import maplibregl from 'maplibre-gl';
import { EMPTY } from './basemap.js';
import {
  REPEAT_RING, REPEAT_MAX, SOURCE_SHORT, SOURCE_NAME, CLUSTER_FAMILY_NAME, CLUSTER_REASON_NAME, CLUSTER_LINK_NAME,
} from './config.js';

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

/** Repeat clusters held by a screen: id → Feature. A cluster merged away, closed or back under two calls leaves. */
export class RepeatBook {
  constructor() { this.byId = new Map(); this.alias = new Map(); this.dirty = true; }
  static shown(f) {
    const p = f?.properties || {};
    return (p.members ?? 0) >= 2 && (p.replaced_by === null || p.replaced_by === undefined) && p.open !== false;
  }
  snapshot(fc) {
    this.byId.clear();
    for (const f of fc?.features || []) this.apply(f);
    this.dirty = true;
  }
  apply(f) {
    const id = f?.properties?.id ?? f?.id;
    if (id === undefined || id === null) return;
    const feature = { ...f, id, properties: { ...f.properties, id } };
    const into = feature.properties.replaced_by;
    if (into !== null && into !== undefined) this.alias.set(String(id), String(into)); // merged away: follow it
    if (RepeatBook.shown(feature)) this.byId.set(String(id), feature);
    else this.byId.delete(String(id));
    while (this.byId.size > REPEAT_MAX) {
      // the one whose last call is oldest goes first
      let oldest = null;
      for (const [k, c] of this.byId) if (!oldest || c.properties.last_at < oldest[1].properties.last_at) oldest = [k, c];
      this.byId.delete(oldest[0]);
    }
    this.dirty = true;
  }
  clear() { this.byId.clear(); this.alias.clear(); this.dirty = true; }
  /** Closed clusters leave (the server sends nothing when a cluster's quiet period ends). */
  prune(nowMs = Date.now()) {
    for (const [k, f] of this.byId) {
      const t = Date.parse(f.properties.closes_at || '');
      if (Number.isFinite(t) && t <= nowMs) { this.byId.delete(k); this.dirty = true; }
    }
    if (this.alias.size > 5 * REPEAT_MAX) this.alias.clear(); // old merges: a resync brings what matters back
  }
  /** the cluster id an incident's (possibly merged-away) cluster id now means */
  resolve(id) {
    let k = String(id);
    for (let i = 0; i < 16 && this.alias.has(k); i += 1) k = this.alias.get(k);
    return k;
  }
  get(id) { return this.byId.get(this.resolve(id)) || null; }
  /** members of the cluster an incident belongs to (0 if it is not a repeat cluster held here) */
  callsOf(clusterId) {
    if (clusterId === undefined || clusterId === null) return 0;
    return this.get(clusterId)?.properties.members || 0;
  }
  /** { clusters, calls, repeats } over the clusters held */
  totals() {
    let calls = 0;
    for (const f of this.byId.values()) calls += f.properties.members || 0;
    return { clusters: this.byId.size, calls, repeats: calls - this.byId.size };
  }
}

const familyName = (k) => CLUSTER_FAMILY_NAME[k] || k || '';

/**
 * Adds the repeat layers (above the incidents) and returns { flush, select, hitTest, state }.
 * `onSelect(id|null)` is called when the selection changes; `fmtTime(date)` formats times.
 */
export function createRepeatLayer(map, px, book, { cardEl, fmtTime, onShowIncident } = {}) {
  const st = { selected: null, hover: null, card: null, chips: new Map() };
  map.addSource('repeats', { type: 'geojson', data: EMPTY, promoteId: 'id' });
  map.addSource('repeat-extent', { type: 'geojson', data: EMPTY });
  map.addLayer({
    id: 'repeat-extent-fill', type: 'fill', source: 'repeat-extent',
    paint: { 'fill-color': REPEAT_RING, 'fill-opacity': 0.14 },
  });
  map.addLayer({
    id: 'repeat-extent-line', type: 'line', source: 'repeat-extent',
    paint: { 'line-color': REPEAT_RING, 'line-width': px(1.5), 'line-dasharray': [2, 1.5] },
  });
  map.addLayer({
    id: 'repeat-ring', type: 'circle', source: 'repeats',
    paint: {
      'circle-color': 'rgba(0,0,0,0)',
      'circle-radius': ['interpolate', ['linear'], ['get', 'members'], 2, px(20), 8, px(26), 30, px(34)],
      'circle-stroke-color': REPEAT_RING,
      'circle-stroke-width': ['case', ['boolean', ['feature-state', 'selected'], false], px(4), px(2.5)],
      'circle-stroke-opacity': 0.95,
    },
  });

  function chipFor(f) {
    const id = String(f.id);
    let c = st.chips.get(id);
    if (!c) {
      const el = document.createElement('div');
      el.className = 'repeat-chip';
      el.dataset.cluster = id;
      el.addEventListener('click', (e) => { e.stopPropagation(); select(id); });
      el.addEventListener('mouseenter', () => hover(id));
      el.addEventListener('mouseleave', () => hover(null));
      const marker = new maplibregl.Marker({ element: el, anchor: 'bottom-left', offset: [8, -8] });
      c = { el, marker, text: '' };
      st.chips.set(id, c);
      marker.setLngLat(f.geometry.coordinates).addTo(map);
    } else {
      c.marker.setLngLat(f.geometry.coordinates);
    }
    const p = f.properties;
    const text = `×${Number(p.members)}`;
    if (c.text !== text) { c.el.textContent = text; c.text = text; }
    c.el.title = `重复来电 ${p.members} 次 · ${familyName(p.family)}`;
    c.el.classList.toggle('selected', st.selected === id);
    return c;
  }

  function flush() {
    if (!book.dirty) return;
    book.dirty = false;
    const feats = [...book.byId.values()].filter((f) => f.geometry && Array.isArray(f.geometry.coordinates));
    map.getSource('repeats').setData({ type: 'FeatureCollection', features: feats });
    const keep = new Set();
    for (const f of feats) { keep.add(String(f.id)); chipFor(f); }
    for (const [id, c] of st.chips) if (!keep.has(id)) { c.marker.remove(); st.chips.delete(id); }
    if (st.hover && !book.get(st.hover)) hover(null);
    else if (st.hover) drawExtent(book.get(st.hover));
    if (st.selected) {
      const now = book.get(st.selected);
      if (now && String(now.id) !== st.selected) {
        // merged into another cluster: follow it
        setSelectedState(st.selected, false);
        st.selected = String(now.id);
        setSelectedState(st.selected, true);
        st.cardVersion = null;
      }
      // re-read the card only when the cluster changed (not on every other cluster's message)
      if (now && now.properties.version !== st.cardVersion) { st.cardVersion = now.properties.version; refreshCard(); }
    }
  }

  function drawExtent(f) {
    const ext = f?.properties?.extent;
    const data = ext && ext.type ? { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: ext, properties: {} }] } : EMPTY;
    map.getSource('repeat-extent').setData(data);
  }

  function hover(id) {
    if (st.hover === id) return;
    st.hover = id;
    drawExtent(id ? book.get(id) : (st.selected ? book.get(st.selected) : null));
  }

  function setSelectedState(id, on) {
    if (id === null) return;
    try { map.setFeatureState({ source: 'repeats', id: Number(id) }, { selected: on }); } catch { /* not drawn */ }
    st.chips.get(String(id))?.el.classList.toggle('selected', on);
  }

  async function select(id) {
    id = id === null || id === undefined ? null : String(id);
    if (st.selected) setSelectedState(st.selected, false);
    st.selected = id ? book.resolve(id) : null;
    id = st.selected;
    st.cardVersion = id ? book.get(id)?.properties.version ?? null : null;
    if (!id) { st.card = null; if (cardEl) cardEl.hidden = true; drawExtent(null); return; }
    setSelectedState(id, true);
    drawExtent(book.get(id));
    renderCard(null);
    await refreshCard();
  }

  let fetching = null;
  let again = false; // the cluster changed while its card was being fetched
  async function refreshCard() {
    const id = st.selected;
    if (!id) return;
    if (fetching === id) { again = true; return; }
    fetching = id;
    again = false;
    try {
      const r = await fetch(`./api/v1/clusters/${encodeURIComponent(id)}`, { cache: 'no-store' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const body = await r.json();
      if (st.selected === id) { st.card = body; renderCard(body); }
    } catch (e) {
      if (st.selected === id) renderCard(null, `调取失败：${e.message || e}`);
    } finally {
      if (fetching === id) fetching = null;
    }
    if (again && st.selected === id) refreshCard();
  }

  function renderCard(body, error = '') {
    if (!cardEl) return;
    const id = st.selected;
    const f = body?.cluster || book.get(id);
    const p = f?.properties || {};
    const when = (t) => { const d = t ? new Date(t) : null; return d && !Number.isNaN(d.getTime()) ? fmtTime(d) : ''; };
    const members = Array.isArray(body?.members) ? [...body.members].sort((a, b) => Date.parse(a.reported_at) - Date.parse(b.reported_at)) : [];
    const history = Array.isArray(body?.history) ? body.history : [];
    const cats = Object.keys(p.categories || {}).length;
    const srcs = Object.entries(p.sources || {}).map(([k, n]) => `${esc(SOURCE_SHORT[k] || SOURCE_NAME[k] || k)}${Number(n) > 1 ? `×${Number(n)}` : ''}`).join(' ');
    cardEl.innerHTML = `<button class="detail-close rc-close" type="button" title="关闭" aria-label="关闭">×</button>
      <div class="rc-hd"><span class="rc-badge">重复来电</span><b class="rc-n">×${esc(Number(p.members) || '?')}</b>
        <span class="rc-fam">${esc(familyName(p.family))}</span><span class="rc-id">#${esc(id)}</span></div>
      <div class="rc-sub">${esc(when(p.first_at))} — ${esc(when(p.last_at))}${p.callers ? ` · 来电人 ${esc(p.callers)}` : ''}${cats > 1 ? ` · ${cats} 类` : ''}${srcs ? ` · ${srcs}` : ''}${p.replaced_by ? ` · 已并入 #${esc(p.replaced_by)}` : ''}</div>
      ${error ? `<div class="rc-err">${esc(error)}</div>` : ''}
      ${body ? '' : (error ? '' : '<div class="rc-muted">正在调取来电记录…</div>')}
      <ol class="rc-members">${members.map((m) => `<li class="rc-m" data-id="${esc(m.incident_id)}">
        <span class="rc-t">${esc(when(m.reported_at))}</span>
        <span class="badge src src-${esc(m.source)}">${esc(SOURCE_SHORT[m.source] || m.source)}</span>
        <span class="rc-why rc-why-${esc(m.reason)}">${esc(CLUSTER_REASON_NAME[m.reason] || m.reason)}${m.distance_m !== null && m.distance_m !== undefined && m.reason !== 'opened' ? ` ${Math.round(m.distance_m)}m` : ''}</span>
        <span class="rc-d">${esc(m.description || m.category || '')}${m.address ? ` <span class="rc-muted">· ${esc(m.address)}</span>` : ''}${m.caller_masked ? ` <span class="rc-muted">· ${esc(m.caller_masked)}</span>` : ''}</span>
      </li>`).join('')}</ol>
      ${history.length ? `<div class="rc-hist">${history.map((h) => `<div>${esc(when(h.at))} ${esc(CLUSTER_LINK_NAME[h.kind] || h.kind)} #${esc(h.other_id)}${h.manual ? `（人工${h.actor ? ` ${esc(h.actor)}` : ''}）` : ''}</div>`).join('')}</div>` : ''}`;
    cardEl.hidden = false;
    cardEl.querySelector('.rc-close').addEventListener('click', () => select(null));
    for (const li of cardEl.querySelectorAll('.rc-m')) li.addEventListener('click', () => onShowIncident?.(li.dataset.id));
  }

  /** the repeat ring under a screen point, if any */
  function hitTest(point, r = 8) {
    const hit = map.queryRenderedFeatures([[point.x - r, point.y - r], [point.x + r, point.y + r]], { layers: ['repeat-ring'] })[0];
    return hit ? String(hit.properties.id) : null;
  }

  map.on('mousemove', 'repeat-ring', (e) => { const f = e.features?.[0]; if (f) hover(String(f.properties.id)); });
  map.on('mouseleave', 'repeat-ring', () => hover(null));

  return { flush, select, hitTest, hover, state: st };
}
