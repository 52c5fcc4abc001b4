// Display aggregation (issue 7): dense incidents drawn as count bubbles up to AGG_MAX_ZOOM, points above.
// MapLibre's own GeoJSON clustering (supercluster in its worker), switched on and off with setClusterOptions.
// A different thing from repeat clusters (repeats.js): a bubble is "many incidents here", not "one event".
// The pages turn it on by themselves once they hold AGG_AUTO_MIN located incidents (fewer are always drawn one
// by one, so nothing hides in a bubble on a quiet day); `?agg=on|off` forces it.
import maplibregl from 'maplibre-gl';
import { EMPTY } from './basemap.js';
import {
  PALETTE, AGG_AUTO_MIN, AGG_RADIUS_PX, AGG_MIN_POINTS, AGG_MAX_ZOOM,
} from './config.js';

/** Filter for the point layers of an aggregated source: single incidents only. */
export const POINT = ['!', ['has', 'point_count']];

/** `?agg=` → 'on' | 'off' | 'auto'. */
export function aggModeFromUrl(loc = window.location) {
  const v = new URLSearchParams(loc.search).get('agg');
  if (v === 'on' || v === '1') return 'on';
  if (v === 'off' || v === '0') return 'off';
  return 'auto';
}

/**
 * The incidents source (call `addSource()` where the page adds it), bubble layers (`addLayers()` above the
 * points), count chips (DOM: no glyph server) rebuilt whenever the map settles, and `sync()` after each
 * flush. `held()` is how many located incidents the page holds. State: { mode, on, bubbles }.
 */
export function createAggregation(map, px, { held, sourceId = 'incidents', mode = aggModeFromUrl() } = {}) {
  const st = { mode, on: false, bubbles: [] };
  const wanted = () => st.mode === 'on' || (st.mode === 'auto' && held() >= AGG_AUTO_MIN);
  const radius = (extra) => ['+', ['step', ['get', 'point_count'], px(15), 10, px(19), 50, px(24), 200, px(30)], px(extra)];
  const chips = new Map(); // bubble id → { el, marker }

  function addSource() {
    st.on = wanted();
    map.addSource(sourceId, {
      type: 'geojson', data: EMPTY, promoteId: 'id',
      cluster: st.on, clusterRadius: AGG_RADIUS_PX, clusterMaxZoom: AGG_MAX_ZOOM, clusterMinPoints: AGG_MIN_POINTS,
      clusterProperties: {
        top: ['min', ['coalesce', ['get', 'priority'], 4]],
        p1: ['+', ['case', ['==', ['get', 'priority'], 1], 1, 0]],
      },
    });
  }

  function addLayers() {
    // coloured by the highest priority inside, haloed red when it holds a P1
    map.addLayer({
      id: `${sourceId}-agg-halo`, type: 'circle', source: sourceId,
      filter: ['all', ['has', 'point_count'], ['>', ['get', 'p1'], 0]],
      paint: { 'circle-color': PALETTE.priority[1], 'circle-radius': radius(8), 'circle-opacity': 0.3, 'circle-blur': 0.4 },
    });
    map.addLayer({
      id: `${sourceId}-agg`, type: 'circle', source: sourceId, filter: ['has', 'point_count'],
      paint: {
        'circle-color': ['match', ['get', 'top'], 1, PALETTE.priority[1], 2, PALETTE.priority[2], 3, PALETTE.priority[3], PALETTE.priorityNone],
        'circle-opacity': 0.82,
        'circle-radius': radius(0),
        'circle-stroke-color': '#FFFFFF', 'circle-stroke-width': px(2), 'circle-stroke-opacity': 0.9,
      },
    });
    map.on('idle', renderChips);
  }

  function renderChips() {
    const feats = st.on ? map.queryRenderedFeatures({ layers: [`${sourceId}-agg`] }) : [];
    const seen = new Set();
    const bubbles = [];
    for (const f of feats) {
      const p = f.properties;
      const key = String(p.cluster_id);
      if (seen.has(key)) continue; // a bubble on a tile edge is returned once per tile
      seen.add(key);
      const coords = f.geometry.coordinates;
      bubbles.push({ cluster_id: p.cluster_id, count: p.point_count, top: p.top, p1: p.p1, lngLat: coords });
      let c = chips.get(key);
      if (!c) {
        const el = document.createElement('div');
        el.className = 'agg-chip';
        c = { el, marker: new maplibregl.Marker({ element: el, anchor: 'center' }).setLngLat(coords).addTo(map) };
        chips.set(key, c);
      } else c.marker.setLngLat(coords);
      c.el.textContent = String(p.point_count_abbreviated ?? p.point_count);
      c.el.classList.toggle('dark', p.top === 3);
    }
    for (const [k, c] of chips) if (!seen.has(k)) { c.marker.remove(); chips.delete(k); }
    st.bubbles = bubbles;
  }

  /** After a flush: switch aggregation on or off as the number of incidents held crosses the threshold. */
  function sync() {
    const want = wanted();
    if (want === st.on) return;
    st.on = want;
    map.getSource(sourceId).setClusterOptions({ cluster: want, clusterRadius: AGG_RADIUS_PX, clusterMaxZoom: AGG_MAX_ZOOM });
    if (!want) renderChips();
  }

  /** The bubble under a screen box, if any. */
  function hit(box) {
    return st.on ? map.queryRenderedFeatures(box, { layers: [`${sourceId}-agg`] })[0] || null : null;
  }

  /** Zooms to where a bubble splits. */
  async function expand(bubble) {
    const zoom = await map.getSource(sourceId).getClusterExpansionZoom(bubble.properties.cluster_id);
    map.easeTo({ center: bubble.geometry.coordinates, zoom: Math.min(zoom, AGG_MAX_ZOOM + 1), duration: 500 });
  }

  return { state: st, addSource, addLayers, sync, hit, expand, pointZoom: AGG_MAX_ZOOM + 1 };
}
