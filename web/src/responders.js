// Responders (警力) and assignments, shared by the big screen and the console:
// a keyed store fed by the stream, a coalesced map writer (updateData diffs, setData only for snapshots)
// and the circle layers (colour = status; size/ring = type; desaturated + dashed ring = stale fix).
import {
  RESPONDER_STATUS, RESPONDER_STATUS_COLOR, RESPONDER_STALE_COLOR, RESPONDER_TYPES, OPEN_ASSIGNMENT, GLYPH_MINZOOM,
} from './config.js';
import { EMPTY } from './basemap.js';

const TYPE_SHAPE = Object.fromEntries(RESPONDER_TYPES.map(([k, , , s]) => [k, s]));
const TYPE_GLYPH = Object.fromEntries(RESPONDER_TYPES.map(([k, , g]) => [k, g]));

export function normalizeResponder(feature) {
  const props = feature?.properties || {};
  const id = props.id ?? feature?.id;
  if (id === undefined || id === null) return null;
  const geometry = feature.geometry && Array.isArray(feature.geometry.coordinates) ? feature.geometry : null;
  return { type: 'Feature', id: String(id), geometry, properties: { ...props, id: String(id) } };
}

const posTs = (f) => {
  const t = Date.parse(f?.properties?.position?.ts || '');
  return Number.isFinite(t) ? t : -Infinity;
};

/** What the map draws for one responder (small property set: cheap to diff and to style). */
export function renderFeature(f) {
  const p = f.properties;
  const status = RESPONDER_STATUS_COLOR[p.status] ? p.status : 'busy';
  const stale = p.position?.stale === true;
  const type = TYPE_SHAPE[p.type] ? p.type : 'other';
  return {
    type: 'Feature',
    id: f.id,
    geometry: f.geometry,
    properties: {
      id: f.id,
      name: p.name || f.id,
      type,
      status,
      _color: stale ? RESPONDER_STALE_COLOR[status] : RESPONDER_STATUS_COLOR[status],
      _stale: stale,
      _vis: status !== 'off_duty',
      _shape: TYPE_SHAPE[type],
      _icon: `rsp-g-${type}`,
      demo: p.demo === true,
    },
  };
}

export class ResponderStore {
  constructor() {
    this.features = new Map(); // id → Feature (as received, latest applied)
    this.onMap = new Set();    // ids currently in the map source
    this.pending = { add: new Map(), remove: new Set(), reset: true };
  }

  snapshot(fc) {
    this.features.clear();
    this.pending.add.clear(); this.pending.remove.clear(); this.pending.reset = true;
    for (const raw of fc?.features || []) {
      const f = normalizeResponder(raw);
      if (f) this.features.set(f.id, f);
    }
  }

  clear() { this.snapshot(EMPTY); }

  /** Applies changed responders; returns the ids whose status changed. */
  apply(features) {
    const changed = [];
    for (const raw of features || []) {
      let f = normalizeResponder(raw);
      if (!f) continue;
      const old = this.features.get(f.id);
      // A fix older than the one we hold never moves the marker backwards (status still applies).
      if (old && old.geometry && posTs(f) < posTs(old)) {
        f = { ...f, geometry: old.geometry, properties: { ...f.properties, position: old.properties.position } };
      }
      if (!old || old.properties.status !== f.properties.status) changed.push(f.id);
      this.features.set(f.id, f);
      this.pending.add.set(f.id, f);
      this.pending.remove.delete(f.id);
    }
    return changed;
  }

  get dirty() { return this.pending.reset || this.pending.add.size > 0 || this.pending.remove.size > 0; }

  /** Writes pending changes to the map source `sourceId`. */
  flush(map, sourceId = 'responders') {
    const src = map.getSource(sourceId);
    if (!src) return;
    const P = this.pending;
    if (P.reset) {
      const feats = [];
      this.onMap.clear();
      for (const f of this.features.values()) if (f.geometry) { feats.push(renderFeature(f)); this.onMap.add(f.id); }
      src.setData({ type: 'FeatureCollection', features: feats });
    } else if (P.add.size || P.remove.size) {
      const add = []; const remove = [...P.remove];
      for (const f of P.add.values()) {
        if (f.geometry) { add.push(renderFeature(f)); this.onMap.add(f.id); }
        else if (this.onMap.has(f.id)) { remove.push(f.id); this.onMap.delete(f.id); }
      }
      try {
        src.updateData({ add, remove });
      } catch (e) {
        console.warn('[responders] updateData failed, falling back to setData', e);
        P.reset = true; this.flush(map, sourceId); return;
      }
    }
    P.reset = false; P.add.clear(); P.remove.clear();
  }

  counts() {
    const c = Object.fromEntries(RESPONDER_STATUS.map(([k]) => [k, 0]));
    let stale = 0, total = 0, noFix = 0;
    for (const f of this.features.values()) {
      const s = f.properties.status;
      if (c[s] !== undefined) c[s] += 1;
      total += 1;
      if (s !== 'off_duty') {
        if (!f.geometry) noFix += 1;
        else if (f.properties.position?.stale === true) stale += 1;
      }
    }
    return { ...c, stale, noFix, total };
  }
}

/** Assignments keyed by id, with the open ones indexed by incident. */
export class AssignmentBook {
  constructor() {
    this.byId = new Map();
    this.openByIncident = new Map(); // incident id (string) → Set(assignment id)
  }

  snapshot(list) {
    this.byId.clear(); this.openByIncident.clear();
    for (const a of list || []) this.apply(a);
  }

  clear() { this.snapshot([]); }

  /** Merges one assignment message; returns { prev, cur, incidentIds: [touched incident ids] }. */
  apply(a) {
    if (!a || a.id === undefined || a.id === null) return null;
    const prev = this.byId.get(a.id) || null;
    const cur = { ...(prev || {}), ...a };
    this.byId.set(a.id, cur);
    const touched = new Set();
    if (prev) { this._unindex(prev); touched.add(String(prev.incident_id)); }
    if (OPEN_ASSIGNMENT.has(cur.status)) {
      const k = String(cur.incident_id);
      if (!this.openByIncident.has(k)) this.openByIncident.set(k, new Set());
      this.openByIncident.get(k).add(cur.id);
    }
    touched.add(String(cur.incident_id));
    // keep the book bounded: closed assignments older than the newest 2000 go
    if (this.byId.size > 4000) {
      for (const [id, x] of this.byId) {
        if (this.byId.size <= 3000) break;
        if (!OPEN_ASSIGNMENT.has(x.status)) this.byId.delete(id);
      }
    }
    return { prev, cur, incidentIds: [...touched] };
  }

  _unindex(a) {
    const k = String(a.incident_id);
    const s = this.openByIncident.get(k);
    if (s) { s.delete(a.id); if (!s.size) this.openByIncident.delete(k); }
  }

  openFor(incidentId) {
    const s = this.openByIncident.get(String(incidentId));
    return s ? [...s].map((id) => this.byId.get(id)).filter(Boolean) : [];
  }

  /** All assignments of one incident, newest first. */
  allFor(incidentId) {
    const k = String(incidentId);
    return [...this.byId.values()].filter((a) => String(a.incident_id) === k)
      .sort((x, y) => (Date.parse(y.created_at || '') || 0) - (Date.parse(x.created_at || '') || 0) || (y.id > x.id ? 1 : -1));
  }

  /** The assignment that was offered in place of `a` (server: `replaced_by` on the old one or `replaces` on the new one). */
  replacementOf(a) {
    if (a.replaced_by !== undefined && a.replaced_by !== null) return this.byId.get(a.replaced_by) || { id: a.replaced_by };
    for (const x of this.byId.values()) if (x.replaces === a.id) return x;
    return null;
  }
}

// ---------------------------------------------------------------- map layers
function glyphImage(ch, size, ratio) {
  const w = Math.round(size * ratio);
  const c = document.createElement('canvas');
  c.width = w; c.height = w;
  const g = c.getContext('2d');
  g.font = `700 ${Math.round(w * 0.62)}px "Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei","PingFang SC",sans-serif`;
  g.textAlign = 'center'; g.textBaseline = 'middle';
  g.lineJoin = 'round';
  g.lineWidth = Math.max(1.5, w * 0.08);
  g.strokeStyle = 'rgba(5,22,85,0.85)';
  g.strokeText(ch, w / 2, w / 2 + w * 0.04);
  g.fillStyle = '#FFFFFF';
  g.fillText(ch, w / 2, w / 2 + w * 0.04);
  return g.getImageData(0, 0, w, w);
}

function dashedRing(size, ratio) {
  const w = Math.round(size * ratio);
  const c = document.createElement('canvas');
  c.width = w; c.height = w;
  const g = c.getContext('2d');
  g.lineWidth = Math.max(2, w * 0.09);
  g.setLineDash([w * 0.16, w * 0.11]);
  g.strokeStyle = '#E2E8F0';
  g.beginPath();
  g.arc(w / 2, w / 2, w / 2 - g.lineWidth, 0, Math.PI * 2);
  g.stroke();
  return g.getImageData(0, 0, w, w);
}

/**
 * Adds source `responders` and its layers: `responders-circle` (status colour, type size/ring),
 * `responders-stale` (dashed ring icon for stale fixes), `responders-glyph` (type character, zoom ≥ GLYPH_MINZOOM).
 */
export function addResponderLayers(map, px, { sourceId = 'responders', before } = {}) {
  const ratio = Math.max(1, window.devicePixelRatio || 1) * Math.max(1, px(1));
  for (const [k, , ch] of RESPONDER_TYPES) {
    const name = `rsp-g-${k}`;
    if (!map.hasImage(name)) map.addImage(name, glyphImage(ch, 24, ratio), { pixelRatio: ratio });
  }
  if (!map.hasImage('rsp-stale-ring')) map.addImage('rsp-stale-ring', dashedRing(32, ratio), { pixelRatio: ratio });

  map.addSource(sourceId, { type: 'geojson', data: EMPTY, promoteId: 'id' });
  const vis = ['==', ['get', '_vis'], true];
  const size = (vehicle, person, small) => ['match', ['get', '_shape'], 'vehicle', px(vehicle), 'small', px(small), px(person)];
  map.addLayer({
    id: `${sourceId}-circle`, type: 'circle', source: sourceId, filter: vis,
    paint: {
      'circle-color': ['get', '_color'],
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, size(4.2, 3.4, 2.6), 12.9, size(7.5, 6.5, 5), 13, size(10, 9, 7.5), 16, size(15, 13, 11)],
      'circle-stroke-color': ['case', ['==', ['get', '_stale'], true], '#94A3B8', ['==', ['get', '_shape'], 'vehicle'], '#FFFFFF', '#061446'],
      'circle-stroke-width': ['case', ['==', ['get', '_shape'], 'vehicle'], px(2.2), px(1)],
      'circle-opacity': ['case', ['==', ['get', '_stale'], true], 0.7, 0.95],
      'circle-pitch-alignment': 'map',
    },
  }, before);
  map.addLayer({
    id: `${sourceId}-stale`, type: 'symbol', source: sourceId, filter: ['all', vis, ['==', ['get', '_stale'], true]],
    layout: {
      'icon-image': 'rsp-stale-ring', 'icon-allow-overlap': true, 'icon-ignore-placement': true,
      'icon-size': ['interpolate', ['linear'], ['zoom'], 9, 0.35, 12.9, 0.62, 13, 0.8, 16, 1.2],
    },
    paint: { 'icon-opacity': 0.9 },
  }, before);
  map.addLayer({
    id: `${sourceId}-glyph`, type: 'symbol', source: sourceId, filter: vis, minzoom: GLYPH_MINZOOM,
    layout: {
      'icon-image': ['get', '_icon'], 'icon-allow-overlap': true, 'icon-ignore-placement': true,
      'icon-size': ['interpolate', ['linear'], ['zoom'], GLYPH_MINZOOM, 0.72, 16, 1.0],
    },
  }, before);
}

export const RESPONDER_LAYER_IDS = (sourceId = 'responders') => [`${sourceId}-circle`, `${sourceId}-stale`, `${sourceId}-glyph`];
