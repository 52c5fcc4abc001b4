//! The jurisdiction index: R-trees over the governance layers answering
//! "which district / township / grid / station / post is this point's?".
//!
//! Areas: an R-tree of bounding boxes finds candidates, then an exact
//! prepared point-in-polygon test decides. Posts: an R-tree of points in a
//! local metric projection finds the few nearest candidates, then haversine
//! picks and reports the true distance in metres (rstar's own distances are
//! squared coordinate distances: degrees would be wrong east–west).

use std::collections::HashMap;

use rstar::{primitives::GeomWithData, primitives::Rectangle, RTree, AABB};

use super::geodesy::{haversine_m, LocalProjection};
use super::pip::PreparedArea;
use crate::domain::{Area, AreaRef, Jurisdiction, Layers, Position, Site, SiteRef};

type BoxEntry = GeomWithData<Rectangle<[f64; 2]>, usize>;
type PointEntry = GeomWithData<[f64; 2], usize>;

/// Huangyan's centre: the default projection origin when no boundary is loaded.
const DEFAULT_ORIGIN: (f64, f64) = (121.08, 28.60);

#[derive(Debug, Clone)]
struct IndexedArea {
    r: AreaRef,
    /// The area's declared parent (a grid's township), if any.
    parent: Option<String>,
    prepared: PreparedArea,
}

#[derive(Debug, Clone, Default)]
struct AreaIndex {
    tree: RTree<BoxEntry>,
    areas: Vec<IndexedArea>,
    by_code: HashMap<String, usize>,
}

impl AreaIndex {
    fn build(areas: &[Area]) -> Self {
        let mut out = Vec::with_capacity(areas.len());
        let mut entries = Vec::with_capacity(areas.len());
        for a in areas {
            let Some(prepared) = PreparedArea::new(&a.geometry) else {
                continue; // empty geometry: nothing can be inside it
            };
            let bb = prepared.bbox();
            entries.push(GeomWithData::new(
                Rectangle::from_corners([bb.min().x, bb.min().y], [bb.max().x, bb.max().y]),
                out.len(),
            ));
            out.push(IndexedArea {
                r: area_ref(a),
                parent: a.parent_code.clone(),
                prepared,
            });
        }
        let by_code = out
            .iter()
            .enumerate()
            .map(|(i, a)| (a.r.code.clone(), i))
            .collect();
        Self {
            // bulk load: rstar's trees are best built in one go
            tree: RTree::bulk_load(entries),
            areas: out,
            by_code,
        }
    }

    /// The first area (in layer order) containing the point.
    fn find(&self, x: f64, y: f64) -> Option<&AreaRef> {
        self.find_area(x, y).map(|a| &a.r)
    }

    fn find_area(&self, x: f64, y: f64) -> Option<&IndexedArea> {
        self.tree
            .locate_all_at_point(&[x, y])
            .map(|e| e.data)
            .filter(|&i| self.areas[i].prepared.contains(x, y))
            .min()
            .map(|i| &self.areas[i])
    }

    fn by_code(&self, code: &str) -> Option<&AreaRef> {
        self.by_code.get(code).map(|&i| &self.areas[i].r)
    }
}

fn area_ref(a: &Area) -> AreaRef {
    AreaRef {
        code: a.code.clone(),
        name: a.name.clone(),
        generated: a
            .props
            .get("generated")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    }
}

#[derive(Debug, Clone)]
struct SiteInfo {
    code: String,
    name: String,
    lon: f64,
    lat: f64,
}

impl SiteInfo {
    fn of(s: &Site) -> Self {
        Self {
            code: s.code.clone(),
            name: s.name.clone(),
            lon: s.point.x(),
            lat: s.point.y(),
        }
    }

    fn distance_m(&self, p: Position) -> f64 {
        haversine_m(p.lon(), p.lat(), self.lon, self.lat)
    }

    fn site_ref(&self, distance_m: f64) -> SiteRef {
        SiteRef {
            code: self.code.clone(),
            name: self.name.clone(),
            distance_m,
        }
    }

    fn at_distance_from(&self, p: Position) -> SiteRef {
        self.site_ref(self.distance_m(p))
    }
}

/// Immutable once built; the live world swaps in a new one when layers change.
#[derive(Debug, Clone, Default)]
pub struct JurisdictionIndex {
    district: AreaIndex,
    townships: AreaIndex,
    grids: AreaIndex,
    stations: Vec<SiteInfo>,
    station_of_township: HashMap<String, usize>,
    posts: Vec<SiteInfo>,
    post_tree: RTree<PointEntry>,
    proj: Option<LocalProjection>,
}

impl JurisdictionIndex {
    pub fn build(layers: &Layers) -> Self {
        let district = AreaIndex::build(&layers.boundary);
        let (lon0, lat0) = district
            .areas
            .first()
            .map(|a| {
                let c = a.prepared.bbox().center();
                (c.x, c.y)
            })
            .unwrap_or(DEFAULT_ORIGIN);
        let proj = LocalProjection::new(lon0, lat0);
        let stations: Vec<SiteInfo> = layers.stations.iter().map(SiteInfo::of).collect();
        let mut station_of_township = HashMap::new();
        for (i, s) in layers.stations.iter().enumerate() {
            for t in &s.serves {
                // first station (by code) listing a township wins
                station_of_township.entry(t.clone()).or_insert(i);
            }
        }
        let posts: Vec<SiteInfo> = layers.posts.iter().map(SiteInfo::of).collect();
        let post_tree = RTree::bulk_load(
            posts
                .iter()
                .enumerate()
                .map(|(i, s)| GeomWithData::new(proj.project(s.lon, s.lat), i))
                .collect(),
        );
        Self {
            district,
            townships: AreaIndex::build(&layers.townships),
            grids: AreaIndex::build(&layers.grids),
            stations,
            station_of_township,
            posts,
            post_tree,
            proj: Some(proj),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.district.areas.is_empty() && self.townships.areas.is_empty()
    }

    /// The full jurisdiction of a point.
    pub fn locate(&self, p: Position) -> Jurisdiction {
        let (x, y) = (p.lon(), p.lat());
        let district = self.district.find(x, y).cloned();
        let inside = district.is_some();
        let grid = if inside {
            self.grids.find_area(x, y)
        } else {
            None
        };
        // A grid belongs to one township (its declared parent). When a user's
        // grid file does not nest exactly inside the township polygons, the
        // grid's township wins, so township, grid and station always agree.
        let township = if inside {
            grid.and_then(|g| g.parent.as_deref())
                .and_then(|code| self.townships.by_code(code))
                .or_else(|| self.townships.find(x, y))
                .cloned()
        } else {
            None
        };
        let grid = grid.map(|g| g.r.clone());
        let station = if inside {
            township
                .as_ref()
                .and_then(|t| self.station_of_township.get(&t.code))
                .map(|&i| self.stations[i].at_distance_from(p))
                .or_else(|| self.nearest_station(p))
        } else {
            None
        };
        Jurisdiction {
            inside,
            district,
            township,
            grid,
            station,
            nearest_post: self.nearest_post(p),
        }
    }

    fn nearest_station(&self, p: Position) -> Option<SiteRef> {
        self.stations
            .iter()
            .map(|s| (s.distance_m(p), s))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(d, s)| s.site_ref(d))
    }

    /// Nearest post by great-circle distance. The projected R-tree yields
    /// candidates; the four nearest in projection are re-ranked by haversine
    /// so projection error can never pick the wrong post.
    pub fn nearest_post(&self, p: Position) -> Option<SiteRef> {
        let proj = self.proj?;
        let q = proj.project(p.lon(), p.lat());
        self.post_tree
            .nearest_neighbor_iter(&q)
            .take(4)
            .map(|e| {
                let s = &self.posts[e.data];
                (s.distance_m(p), s)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(d, s)| s.site_ref(d))
    }

    /// Bounding box of the district, if loaded.
    pub fn district_bbox(&self) -> Option<[f64; 4]> {
        let env: AABB<[f64; 2]> = self.district.tree.root().envelope();
        if self.district.areas.is_empty() {
            return None;
        }
        let (lo, hi) = (env.lower(), env.upper());
        Some([lo[0], lo[1], hi[0], hi[1]])
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
