// The offline base map shared by the big screen and the console: our own layers only
// (/api/v1/layers/...), no internet tiles, no glyph server (labels are DOM markers, icons are drawn
// client-side into canvases).
import maplibregl from 'maplibre-gl';
import { PALETTE, TOWNSHIP_FILLS, DISTRICT_BBOX, LAYERS } from './config.js';
import { labelPoint } from './geo.js';

export const EMPTY = { type: 'FeatureCollection', features: [] };

export function emptyStyle(name) {
  return {
    version: 8,
    name,
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': PALETTE.background } }],
  };
}

export const DISTRICT_BOUNDS = [[DISTRICT_BBOX[0], DISTRICT_BBOX[1]], [DISTRICT_BBOX[2], DISTRICT_BBOX[3]]];

// Map paint sizes follow the page's rem (1rem = 16 px at 1920 wide, 32 px at 3840), so symbols on a 4K wall
// are as big relative to the screen as on a 1080p one, while the canvas keeps real device pixels.
export function uiScale() {
  return Math.max(0.75, (parseFloat(getComputedStyle(document.documentElement).fontSize) || 16) / 16);
}
export function pxFn(scale = uiScale()) {
  return (n) => Math.round(n * scale * 100) / 100;
}

export async function fetchLayer(name) {
  const r = await fetch(`./api/v1/layers/${name}`, { headers: { Accept: 'application/geo+json, application/json' } });
  if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
  const fc = await r.json();
  if (!fc || fc.type !== 'FeatureCollection') throw new Error(`${name}: 不是 FeatureCollection`);
  return fc;
}

/** Fetches all base layers into `into`; returns the list of error texts. */
export async function fetchLayers(into) {
  const results = await Promise.allSettled(LAYERS.map(fetchLayer));
  const errs = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') into[LAYERS[i]] = r.value;
    else errs.push(`${LAYERS[i]} 图层加载失败`);
  });
  return errs;
}

/** Boundary, townships, grids, posts, stations (below everything live). */
export function addStaticLayers(map, layerData, px) {
  const townships = layerData.townships || EMPTY;
  townships.features.forEach((f, i) => { f.properties = { ...(f.properties || {}), _fill: TOWNSHIP_FILLS[i % TOWNSHIP_FILLS.length] }; });

  map.addSource('boundary', { type: 'geojson', data: layerData.boundary || EMPTY });
  map.addSource('townships', { type: 'geojson', data: townships, promoteId: 'code' });
  map.addSource('grids', { type: 'geojson', data: layerData.grids || EMPTY, promoteId: 'code' });
  map.addSource('stations', { type: 'geojson', data: layerData.stations || EMPTY, promoteId: 'code' });
  map.addSource('posts', { type: 'geojson', data: layerData.posts || EMPTY, promoteId: 'code' });

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
}

export const prioColorOf = (p) => PALETTE.priority[p] || PALETTE.priorityNone;
export const PRIO_COLOR_EXPR = ['match', ['coalesce', ['get', 'priority'], 0],
  1, PALETTE.priority[1], 2, PALETTE.priority[2], 3, PALETTE.priority[3], 4, PALETTE.priority[4], PALETTE.priorityNone];

// ---------------------------------------------------------------- HTML labels (no glyph server: DOM markers)
// MapLibre symbol text needs a glyphs URL (PBF ranges) that nothing on our origin serves, so names are DOM
// markers: the browser's own CJK fonts render them crisply at device pixels. A greedy collision pass hides
// what does not fit; point labels try four placements around their symbol first.
const POINT_PLACEMENTS = ['pl-r', 'pl-l', 'pl-t', 'pl-b'];
const AREA_PLACEMENTS = ['pl-c', 'pl-c pl-sm', 'pl-cu pl-sm', 'pl-cd pl-sm'];
const ALL_PL = ['pl-r', 'pl-l', 'pl-t', 'pl-b', 'pl-c', 'pl-cu', 'pl-cd', 'pl-sm'];

/** obstacles(): elements (e.g. the legend) over the map that labels must not hide under. */
export function createLabels(map, { obstacles = () => [] } = {}) {
  const labels = []; // { wrap, el, prio, placements }
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

  function declutter() {
    const placed = [];
    for (const el of obstacles()) {
      const r = el.getBoundingClientRect();
      if (r.width && r.height) placed.push({ l: r.left, r: r.right, t: r.top, b: r.bottom });
    }
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

  function addLabels(layerData) {
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

  return { addLabels, declutter, labels };
}
