// The wall's live heat overlay (?heat=1, key H): H3 cells as fill layers under responders and incidents
// (labels are DOM markers, so they stay on top). Cells come from GET /api/v1/heat?…&boundary=1 once, then the
// stream snapshot's `heat` and `heat` messages (changed cells only); between messages every cell decays locally,
// intensity·2^(−(now−at)/half_life_s), so the map fades smoothly instead of stepping once per message.
import { latLngToCell, cellToParent } from 'h3-js';
import { EMPTY } from './basemap.js';
import {
  cellFeature, rememberBoundary, decayed, heatScale, heatColor, fmtNum, HEAT_RAMP,
} from './h3cells.js';

export const HEAT_LAYER_IDS = ['heat-fill', 'heat-line'];
const TICK_MS = 2000;     // local decay redraw
const MIN_SHOWN = 0.02;   // a cell that has decayed below this is not drawn

export function createHeatOverlay(map, px, { legendEl, res, surface = 'live', category = null, onChange } = {}) {
  const st = {
    on: false,
    res,
    surface,
    category,
    halfLifeS: surface === 'risk' ? 30 * 86400 : 86400,
    cells: new Map(),   // h3 → { h3, lon, lat, intensity, count, atMs, halfLifeS }
    scale: heatScale(0),
    messages: 0,
    fetched: null,      // { status, n } of the initial GET
    lastAt: null,
    error: null,
  };
  let timer = null;
  let layersAdded = false;

  function addLayers(before) {
    if (layersAdded) return;
    map.addSource('heat', { type: 'geojson', data: EMPTY, promoteId: 'h3' });
    map.addLayer({
      id: 'heat-fill', type: 'fill', source: 'heat',
      layout: { visibility: 'none' },
      paint: { 'fill-color': ['get', '_c'], 'fill-opacity': ['get', '_o'], 'fill-antialias': true },
    }, before);
    map.addLayer({
      id: 'heat-line', type: 'line', source: 'heat',
      layout: { visibility: 'none' },
      paint: { 'line-color': ['get', '_c'], 'line-width': px(0.8), 'line-opacity': ['*', ['get', '_o'], 0.9] },
    }, before);
    layersAdded = true;
  }

  const value = (c, now) => decayed(c.intensity, c.atMs, c.halfLifeS, now);

  function upsert(c, atMs, halfLifeS) {
    if (!c || typeof c.h3 !== 'string') return;
    if (c.boundary) rememberBoundary(c.h3, c.boundary);
    const intensity = Number(c.intensity);
    const prev = st.cells.get(c.h3);
    if (!(intensity > 0)) { st.cells.delete(c.h3); return; }
    st.cells.set(c.h3, {
      h3: c.h3, lon: c.lon ?? prev?.lon, lat: c.lat ?? prev?.lat, intensity,
      count: c.count ?? prev?.count ?? null, atMs, halfLifeS,
    });
  }

  function meta(m) {
    const hl = Number(m?.half_life_s);
    if (hl > 0) st.halfLifeS = hl;
    const at = Date.parse(m?.at || '');
    if (m?.at) st.lastAt = m.at;
    return Number.isFinite(at) ? at : Date.now();
  }

  /** Replace all cells (GET answer or snapshot). */
  function replace(m) {
    if (!m || !Array.isArray(m.cells)) return;
    if (m.res !== undefined && Number(m.res) !== Number(st.res)) return; // an answer for another resolution
    const at = meta(m);
    st.cells.clear();
    for (const c of m.cells) upsert(c, at, st.halfLifeS);
    redraw(true);
  }

  /** A `heat` message: changed cells only. */
  function apply(m) {
    if (!m || !Array.isArray(m.cells)) return;
    if (m.res !== undefined && Number(m.res) !== Number(st.res)) return;
    if (m.surface && m.surface !== st.surface) return;
    st.messages += 1;
    const at = meta(m);
    for (const c of m.cells) upsert(c, at, st.halfLifeS);
    redraw(true);
  }

  function redraw(rescale = false) {
    const now = Date.now();
    let max = 0;
    const vals = [];
    for (const c of st.cells.values()) {
      const v = value(c, now);
      if (v > max) max = v;
      vals.push([c, v]);
    }
    if (rescale) {
      const s = heatScale(max);
      if (s.top !== st.scale.top) { st.scale = s; renderLegend(); }
    }
    if (!layersAdded) return;
    const feats = [];
    for (const [c, v] of vals) {
      if (v < MIN_SHOWN) continue;
      const t = Math.min(1, Math.max(0, (Math.log2(v) - Math.log2(st.scale.stops[0])) / (Math.log2(st.scale.top) - Math.log2(st.scale.stops[0]))));
      const f = cellFeature(c.h3, {
        intensity: +v.toFixed(4), count: c.count, _c: heatColor(v, st.scale), _o: +(0.5 + 0.35 * t).toFixed(3),
      });
      if (f) feats.push(f);
    }
    map.getSource('heat')?.setData({ type: 'FeatureCollection', features: feats });
    onChange?.(st);
  }

  function renderLegend() {
    if (!legendEl) return;
    const { stops } = st.scale;
    const sw = stops.map((v) => `<span class="hl-sw" style="background:${heatColor(v, st.scale)}"></span>`).join('');
    const nums = stops.map((v, i) => `<span class="hl-n">${i === stops.length - 1 ? '≥' : ''}${fmtNum(v)}</span>`).join('');
    const hl = st.halfLifeS >= 86400 ? `${fmtNum(st.halfLifeS / 86400)}天` : `${fmtNum(st.halfLifeS / 3600)}小时`;
    legendEl.innerHTML = `<div class="hl-title">警情热力 <span class="hl-sub">H3 ${st.res} 级 · 半衰期 ${hl}</span></div>
      <div class="hl-bar" style="--ramp:linear-gradient(90deg,${HEAT_RAMP.join(',')})">${sw}</div>
      <div class="hl-nums">${nums}</div>
      <div class="hl-note">强度 1 ≈ 刚发生的 1 起警情，随时间按半衰期衰减${st.error ? `<br><b class="hl-err">${st.error}</b>` : ''}</div>`;
  }

  async function fetchInitial(bbox) {
    const q = new URLSearchParams({ bbox: bbox.join(','), res: String(st.res), surface: st.surface, boundary: '1' });
    if (st.category) q.set('category', st.category);
    try {
      const r = await fetch(`./api/v1/heat?${q}`, { cache: 'no-store' });
      if (!r.ok) {
        st.fetched = { status: r.status, n: 0 };
        st.error = `热力接口 HTTP ${r.status}`;
        renderLegend();
        return;
      }
      const j = await r.json();
      st.fetched = { status: r.status, n: j.cells?.length ?? 0, max_intensity: j.max_intensity };
      // boundaries are kept even if the snapshot (which has none) already replaced the cells
      for (const c of j.cells || []) if (c.boundary) rememberBoundary(c.h3, c.boundary);
      if (!st.snapshotSeen) replace(j);
      else redraw(true);
    } catch (e) {
      st.fetched = { status: 0, n: 0 };
      st.error = `热力接口不可用: ${e.message}`;
      renderLegend();
    }
  }

  function setOn(on) {
    st.on = !!on;
    for (const id of HEAT_LAYER_IDS) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', st.on ? 'visible' : 'none');
    if (legendEl) legendEl.hidden = !st.on;
    clearInterval(timer);
    timer = null;
    if (st.on) {
      renderLegend();
      timer = setInterval(() => redraw(false), TICK_MS);
    } else {
      st.cells.clear();
      st.snapshotSeen = false;
      redraw(false);
    }
  }

  function onSnapshot(heat) {
    if (!heat) return;
    st.snapshotSeen = true;
    replace(heat);
  }

  /** Displayed (decayed) intensity of a cell now; for tests and debugging. */
  const displayed = (h3) => { const c = st.cells.get(h3); return c ? value(c, Date.now()) : 0; };

  return {
    state: st, addLayers, setOn, fetchInitial, onSnapshot, apply, redraw, displayed,
    // the server's convention: the parent of the point's res-10 cell (docs/RISK.md)
    cellOf: (lon, lat) => cellToParent(latLngToCell(lat, lon, 10), st.res),
    subscription: () => ({ res: st.res, surface: st.surface, category: st.category }),
  };
}
