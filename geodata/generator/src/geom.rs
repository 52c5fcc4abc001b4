//! Geometry helpers: the local metric projection, convex half-plane clipping (power/Voronoi cells),
//! rounding to the published 1e-6° grid, and a deterministic PRNG.
//!
//! Everything metric happens in one equirectangular projection about the district centre. Its
//! scale factors are written out as literals (not `cos()` at run time) so the output bytes cannot
//! depend on a platform's libm.

use anyhow::{bail, Result};
use geo::orient::Direction;
use geo::{
    Area, BooleanOps, Contains, Coord, Distance, Euclidean, LineString, MultiPolygon, Orient,
    Point, Polygon, Rect, RemoveRepeatedPoints, Validation,
};

/// Projection centre (≈ the district's bounding-box centre).
pub const LON0: f64 = 121.08;
pub const LAT0: f64 = 28.60;
/// Metres per degree of latitude on the 6,371,008.8 m mean sphere.
pub const M_PER_DEG_LAT: f64 = 111_195.080_233_532_92;
/// Metres per degree of longitude at `LAT0` (= `M_PER_DEG_LAT * cos(28.6°)`).
pub const M_PER_DEG_LON: f64 = 97_627.387_396_390_26;

/// WGS-84 lon/lat (degrees) → local metres.
pub fn fwd(c: Coord) -> Coord {
    Coord {
        x: (c.x - LON0) * M_PER_DEG_LON,
        y: (c.y - LAT0) * M_PER_DEG_LAT,
    }
}

/// Local metres → WGS-84 lon/lat (degrees).
pub fn inv(c: Coord) -> Coord {
    Coord {
        x: c.x / M_PER_DEG_LON + LON0,
        y: c.y / M_PER_DEG_LAT + LAT0,
    }
}

pub fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Round a metric point to the published 1e-6° grid, returning (degrees, metres of the rounded point).
pub fn snap(m: Coord) -> (Coord, Coord) {
    let d = inv(m);
    let d = Coord {
        x: round6(d.x),
        y: round6(d.y),
    };
    (d, fwd(d))
}

pub fn mp_fwd(mp: &MultiPolygon) -> MultiPolygon {
    use geo::MapCoords;
    mp.map_coords(fwd)
}

/// Area in km² of a lon/lat geometry measured in the local projection.
pub fn area_km2(mp_deg: &MultiPolygon) -> f64 {
    mp_fwd(mp_deg).unsigned_area() / 1e6
}

/// Distance (m) from a metric point to the nearest ring of a metric multipolygon.
pub fn dist_to_edge(mp: &MultiPolygon, p: Coord) -> f64 {
    let pt = Point::from(p);
    let mut best = f64::INFINITY;
    for poly in mp {
        for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
            best = best.min(Euclidean.distance(&pt, ring));
        }
    }
    best
}

/// `true` if `p` (metres) lies inside `mp` at least `margin` metres from every edge.
pub fn inside_with_margin(mp: &MultiPolygon, p: Coord, margin: f64) -> bool {
    mp.contains(&Point::from(p)) && dist_to_edge(mp, p) >= margin
}

/// Clip a convex polygon (open ring, any orientation) by the half-plane `f(p) <= 0` where
/// `f(p) = a·(p - o) - b`. Sutherland–Hodgman for one plane: exact enough for convex input.
fn clip(poly: &[Coord], a: Coord, o: Coord, b: f64) -> Vec<Coord> {
    let f = |p: Coord| a.x * (p.x - o.x) + a.y * (p.y - o.y) - b;
    let n = poly.len();
    let mut out = Vec::with_capacity(n + 1);
    for i in 0..n {
        let p = poly[i];
        let q = poly[(i + 1) % n];
        let (fp, fq) = (f(p), f(q));
        if fp <= 0.0 {
            out.push(p);
        }
        if (fp <= 0.0) != (fq <= 0.0) {
            let t = fp / (fp - fq);
            out.push(Coord {
                x: p.x + t * (q.x - p.x),
                y: p.y + t * (q.y - p.y),
            });
        }
    }
    out
}

/// Power-diagram (weighted Voronoi) cells of `sites` (metres) with weights `w` (m²), each
/// cell = `frame` clipped by the half-planes `|p-s_i|² - w_i <= |p-s_j|² - w_j` for all j ≠ i.
/// With all weights equal this is the ordinary Voronoi diagram. Cells are convex; an empty cell
/// is returned as an empty polygon (callers treat that as an error).
pub fn power_cells(sites: &[Coord], w: &[f64], frame: Rect) -> Vec<Polygon> {
    let (mn, mx) = (frame.min(), frame.max());
    let rect = vec![
        Coord { x: mn.x, y: mn.y },
        Coord { x: mx.x, y: mn.y },
        Coord { x: mx.x, y: mx.y },
        Coord { x: mn.x, y: mx.y },
    ];
    (0..sites.len())
        .map(|i| {
            let si = sites[i];
            let mut cell = rect.clone();
            for j in 0..sites.len() {
                if i == j || cell.is_empty() {
                    continue;
                }
                let d = sites[j] - si;
                // 2 d·(p - s_i) <= |d|² + w_i - w_j
                let a = Coord {
                    x: 2.0 * d.x,
                    y: 2.0 * d.y,
                };
                let b = d.x * d.x + d.y * d.y + w[i] - w[j];
                cell = clip(&cell, a, si, b);
            }
            if cell.len() < 3 {
                return Polygon::new(LineString::new(vec![]), vec![]);
            }
            Polygon::new(LineString::new(cell), vec![])
        })
        .collect()
}

/// Convert a metric multipolygon to lon/lat rounded to 1e-6°, dropping parts smaller than
/// `min_part_m2`, removing repeated points, orienting exteriors counter-clockwise (RFC 7946) and
/// refusing to return invalid geometry.
pub fn to_published(mp_m: &MultiPolygon, min_part_m2: f64, what: &str) -> Result<MultiPolygon> {
    let conv = |ls: &LineString| -> LineString {
        let mut l = LineString::new(
            ls.coords()
                .map(|c| {
                    let d = inv(*c);
                    Coord {
                        x: round6(d.x),
                        y: round6(d.y),
                    }
                })
                .collect(),
        );
        l.remove_repeated_points_mut();
        l.close();
        l
    };
    let mut polys = Vec::new();
    for p in mp_m {
        if p.unsigned_area() < min_part_m2 {
            continue;
        }
        let ext = conv(p.exterior());
        if ext.0.len() < 4 {
            continue;
        }
        let ints: Vec<LineString> = p
            .interiors()
            .iter()
            .filter(|r| Polygon::new((*r).clone(), vec![]).unsigned_area() >= min_part_m2)
            .map(conv)
            .filter(|r| r.0.len() >= 4)
            .collect();
        polys.push(Polygon::new(ext, ints).orient(Direction::Default));
    }
    let mp = MultiPolygon::new(polys);
    if mp.0.is_empty() {
        bail!("{what}: geometry is empty after clipping");
    }
    if let Err(e) = mp.check_validation() {
        bail!("{what}: invalid geometry after rounding: {e}");
    }
    Ok(mp)
}

/// Intersection of a convex cell with a multipolygon (both metric).
pub fn clip_to(cell: &Polygon, region: &MultiPolygon) -> MultiPolygon {
    MultiPolygon::new(vec![cell.clone()]).intersection(region)
}

/// SplitMix64: a tiny PRNG whose output is fixed by its definition (unlike `rand`'s `SmallRng`,
/// which is documented as not portable across versions/platforms), so seeds reproduce forever.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}
