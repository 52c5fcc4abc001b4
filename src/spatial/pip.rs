//! Prepared point-in-polygon: the edges of a (multi)polygon bucketed into
//! horizontal bands, so a ray-casting test looks only at the few edges that
//! cross the point's latitude instead of all of them. The district boundary
//! has 1,627 vertices; a plain `geo::Contains` walks every edge per query.
//!
//! Semantics are even-odd ray casting over all rings, which equals "inside
//! the exterior and outside every hole" for valid polygons. Points exactly on
//! an edge may go either way; callers that tile space (townships, grids)
//! resolve that by taking the first match.

use geo::{BoundingRect, MultiPolygon, Rect};

#[derive(Debug, Clone)]
pub struct PreparedArea {
    bbox: Rect<f64>,
    y0: f64,
    band_h: f64,
    /// For each band, the edges (x1, y1, x2, y2) that overlap it in y.
    bands: Vec<Vec<[f64; 4]>>,
}

impl PreparedArea {
    pub fn new(mp: &MultiPolygon<f64>) -> Option<Self> {
        let bbox = mp.bounding_rect()?;
        let mut edges = Vec::new();
        for poly in &mp.0 {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for l in ring.lines() {
                    if l.start.y != l.end.y {
                        edges.push([l.start.x, l.start.y, l.end.x, l.end.y]);
                    }
                }
            }
        }
        // about four edges per band on average, at most 4096 bands
        let n_bands = (edges.len() / 4).clamp(1, 4096);
        let height = bbox.height().max(f64::MIN_POSITIVE);
        let band_h = height / n_bands as f64;
        let y0 = bbox.min().y;
        let mut bands = vec![Vec::new(); n_bands];
        let band_of = |y: f64| (((y - y0) / band_h) as usize).min(n_bands - 1);
        for e in edges {
            let (lo, hi) = if e[1] < e[3] {
                (e[1], e[3])
            } else {
                (e[3], e[1])
            };
            for band in &mut bands[band_of(lo)..=band_of(hi)] {
                band.push(e);
            }
        }
        Some(Self {
            bbox,
            y0,
            band_h,
            bands,
        })
    }

    pub fn bbox(&self) -> Rect<f64> {
        self.bbox
    }

    pub fn contains(&self, x: f64, y: f64) -> bool {
        let (min, max) = (self.bbox.min(), self.bbox.max());
        if x < min.x || x > max.x || y < min.y || y > max.y {
            return false;
        }
        let band = (((y - self.y0) / self.band_h) as usize).min(self.bands.len() - 1);
        let mut inside = false;
        for &[x1, y1, x2, y2] in &self.bands[band] {
            if (y1 > y) != (y2 > y) {
                let xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1);
                if x < xi {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Point};
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn boundary() -> MultiPolygon<f64> {
        let text = include_str!("../../geodata/src/huangyan_boundary.geojson");
        let fc: geojson::FeatureCollection = text.parse().unwrap();
        let g: geo::Geometry<f64> = fc.features[0].geometry.clone().unwrap().try_into().unwrap();
        match g {
            geo::Geometry::MultiPolygon(mp) => mp,
            geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Differential test against geo's reference `Contains` on the real
    /// 1,627-vertex district boundary with seeded random points.
    #[test]
    fn agrees_with_geo_contains_on_real_boundary() {
        let mp = boundary();
        let prepared = PreparedArea::new(&mp).unwrap();
        let bb = prepared.bbox();
        let mut rng = SmallRng::seed_from_u64(7);
        let (mut inside, mut disagree) = (0, 0);
        for _ in 0..20_000 {
            let x = rng.gen_range(bb.min().x - 0.01..bb.max().x + 0.01);
            let y = rng.gen_range(bb.min().y - 0.01..bb.max().y + 0.01);
            let want = mp.contains(&Point::new(x, y));
            inside += usize::from(want);
            disagree += usize::from(want != prepared.contains(x, y));
        }
        assert_eq!(disagree, 0);
        // sanity: the sample really straddles the boundary
        assert!(inside > 5_000 && inside < 18_000, "{inside}");
    }

    #[test]
    fn holes_are_outside() {
        let outer =
            geo::LineString::from(vec![(0., 0.), (10., 0.), (10., 10.), (0., 10.), (0., 0.)]);
        let hole = geo::LineString::from(vec![(4., 4.), (6., 4.), (6., 6.), (4., 6.), (4., 4.)]);
        let mp = MultiPolygon(vec![geo::Polygon::new(outer, vec![hole])]);
        let p = PreparedArea::new(&mp).unwrap();
        assert!(p.contains(2.0, 2.0));
        assert!(!p.contains(5.0, 5.0));
        assert!(!p.contains(11.0, 5.0));
    }
}
