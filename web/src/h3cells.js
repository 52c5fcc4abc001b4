// H3 cells → MapLibre polygons, shared by the wall's heat overlay and the hotspot review page.
// Boundaries come from the server when it sends them (`boundary=1`) and are otherwise computed here with
// h3-js (pure JS/asm.js, its memory image is an inline data: URI — it loads nothing from anywhere).
import { cellToBoundary, isValidCell } from 'h3-js';

const boundaryCache = new Map(); // h3 → closed ring [[lon,lat],…]

/** Remember a server-sent boundary ([[lon,lat],…], closed or not). */
export function rememberBoundary(h3, ring) {
  if (!h3 || !Array.isArray(ring) || ring.length < 3) return;
  const r = ring.map((p) => [Number(p[0]), Number(p[1])]);
  const [a, z] = [r[0], r[r.length - 1]];
  if (a[0] !== z[0] || a[1] !== z[1]) r.push([a[0], a[1]]);
  boundaryCache.set(h3, r);
}

/** The closed [lon,lat] ring of a cell, or null for an index h3-js does not accept. */
export function cellRing(h3) {
  let r = boundaryCache.get(h3);
  if (r) return r;
  try {
    if (!isValidCell(h3)) return null;
    r = cellToBoundary(h3, true); // GeoJSON order [lng, lat], closed
  } catch {
    return null;
  }
  boundaryCache.set(h3, r);
  return r;
}

export function hasBoundary(h3) { return boundaryCache.has(h3); }

/** A polygon Feature for a cell with the given properties (id = h3). */
export function cellFeature(h3, properties) {
  const ring = cellRing(h3);
  if (!ring) return null;
  return { type: 'Feature', id: h3, properties: { h3, ...properties }, geometry: { type: 'Polygon', coordinates: [ring] } };
}

/** Heat resolution for a zoom: 7 below z10, 8 for 10–11.5, 9 for 11.5–13, 10 above. */
export function heatResForZoom(z) {
  if (z < 10) return 7;
  if (z < 11.5) return 8;
  if (z < 13) return 9;
  return 10;
}

/** intensity · 2^(−(now − at)/half_life) */
export function decayed(intensity, atMs, halfLifeS, nowMs = Date.now()) {
  if (!Number.isFinite(intensity)) return 0;
  if (!Number.isFinite(atMs) || !(halfLifeS > 0)) return intensity;
  const dt = Math.max(0, (nowMs - atMs) / 1000);
  return intensity * 2 ** (-dt / halfLifeS);
}

// ---------------------------------------------------------------- colour ramps
function hex(c) { const n = parseInt(c.slice(1), 16); return [(n >> 16) & 255, (n >> 8) & 255, n & 255]; }
function toHex([r, g, b]) { return `#${[r, g, b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`; }
/** Piecewise-linear colour at t ∈ [0,1] over equally spaced stops. */
export function rampColor(stops, t) {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = hex(stops[i]), b = hex(stops[i + 1]);
  return toHex(a.map((v, k) => v + (b[k] - v) * f));
}

// Heat: magma-like, violet (quiet) → pale yellow (hot).
// The low end is still a clear violet: a single older incident must stay visible on the navy map.
export const HEAT_RAMP = ['#7B3FB0', '#B8338F', '#EE4B5A', '#FF9561', '#FFE8A3'];

/** Legend/scale for heat: six log-spaced stops ending at `top` (a power of two ≥ 8). */
export function heatScale(maxIntensity) {
  const m = Number.isFinite(maxIntensity) ? maxIntensity : 0;
  const top = Math.max(8, 2 ** Math.ceil(Math.log2(Math.max(1, m))));
  const stops = [top / 64, top / 16, top / 8, top / 4, top / 2, top].map((v) => +v.toPrecision(3));
  return { top, stops };
}

/** Colour for an intensity on a log scale between stops[0] and top. */
export function heatColor(v, scale) {
  const lo = Math.log2(scale.stops[0]);
  const hi = Math.log2(scale.top);
  const t = v <= scale.stops[0] ? 0 : (Math.log2(v) - lo) / (hi - lo);
  return rampColor(HEAT_RAMP, t);
}

export const fmtNum = (v) => {
  if (!Number.isFinite(v)) return '--';
  if (v >= 100) return String(Math.round(v));
  if (v >= 10) return v.toFixed(1).replace(/\.0$/, '');
  if (v >= 1) return v.toFixed(2).replace(/0$/, '').replace(/\.0$/, '');
  return String(+v.toPrecision(2));
};
