// Small geometry helpers (no turf): bbox and a label point that lies inside a polygon.

export function bboxOf(fc) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      if (c[0] < w) w = c[0]; if (c[0] > e) e = c[0];
      if (c[1] < s) s = c[1]; if (c[1] > n) n = c[1];
    } else c.forEach(visit);
  };
  for (const f of fc.features || []) if (f.geometry) visit(f.geometry.coordinates);
  return Number.isFinite(w) ? [w, s, e, n] : null;
}

function ringArea(r) {
  let a = 0;
  for (let i = 0, j = r.length - 1; i < r.length; j = i++) a += (r[j][0] * r[i][1]) - (r[i][0] * r[j][1]);
  return a / 2;
}

function polygons(geom) {
  if (!geom) return [];
  if (geom.type === 'Polygon') return [geom.coordinates];
  if (geom.type === 'MultiPolygon') return geom.coordinates;
  return [];
}

/** Label point: on the largest polygon, the middle of the widest interior run of a few horizontal scan lines. */
export function labelPoint(geom) {
  if (geom && geom.type === 'Point') return geom.coordinates;
  const polys = polygons(geom);
  if (!polys.length) return null;
  let best = polys[0], bestA = -1;
  for (const p of polys) { const a = Math.abs(ringArea(p[0])); if (a > bestA) { bestA = a; best = p; } }
  let s = Infinity, n = -Infinity;
  for (const [, y] of best[0]) { if (y < s) s = y; if (y > n) n = y; }
  let pick = null, pickW = -1;
  for (const t of [0.5, 0.4, 0.6, 0.3, 0.7]) {
    const y = s + (n - s) * t;
    const xs = [];
    for (const ring of best) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [x1, y1] = ring[j], [x2, y2] = ring[i];
        if ((y1 > y) !== (y2 > y)) xs.push(x1 + ((y - y1) * (x2 - x1)) / (y2 - y1));
      }
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const w = xs[k + 1] - xs[k];
      // prefer central scan lines: small penalty for off-centre ones
      const score = w * (1 - Math.abs(t - 0.5) * 0.6);
      if (score > pickW) { pickW = score; pick = [(xs[k] + xs[k + 1]) / 2, y]; }
    }
  }
  return pick;
}
