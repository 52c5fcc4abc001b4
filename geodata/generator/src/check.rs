//! The invariants of the published layers. The generator runs [`check_all`] on what it just
//! wrote; the tests run it on the checked-in files, and feed each check broken input to prove it
//! can fail.
//!
//! Areas are planar areas in the generator's local equirectangular projection (metres, see
//! [`crate::geom`]); the report also gives Chamberlain–Duquette (spherical) areas for reference.

use crate::geom::area_km2;
use anyhow::{bail, Context, Result};
use geo::{
    BooleanOps, BoundingRect, ChamberlainDuquetteArea, Contains, Coord, Intersects, MultiPolygon,
    Point, Validation,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Relative area tolerance for tiling (0.1 %).
pub const AREA_TOL: f64 = 0.001;
/// Largest acceptable total pairwise overlap (km²).
pub const OVERLAP_TOL_KM2: f64 = 0.01;

pub struct Feat {
    pub index: usize,
    pub props: Map<String, Value>,
    pub geometry: geojson::Value,
}

impl Feat {
    pub fn s(&self, k: &str) -> Option<&str> {
        self.props.get(k).and_then(Value::as_str)
    }
    pub fn f(&self, k: &str) -> Option<f64> {
        self.props.get(k).and_then(Value::as_f64)
    }
    pub fn label(&self) -> String {
        format!("#{} {}", self.index, self.s("code").unwrap_or("?"))
    }
    pub fn polygons(&self) -> Option<MultiPolygon> {
        let g: geo::Geometry = self.geometry.clone().try_into().ok()?;
        match g {
            geo::Geometry::Polygon(p) => Some(MultiPolygon::new(vec![p])),
            geo::Geometry::MultiPolygon(mp) => Some(mp),
            _ => None,
        }
    }
    pub fn point(&self) -> Option<Coord> {
        match &self.geometry {
            geojson::Value::Point(p) if p.len() == 2 => Some(Coord { x: p[0], y: p[1] }),
            _ => None,
        }
    }
}

pub fn parse(text: &str) -> Result<Vec<Feat>> {
    let fc: geojson::FeatureCollection = text.parse().context("not a GeoJSON FeatureCollection")?;
    fc.features
        .into_iter()
        .enumerate()
        .map(|(index, f)| {
            Ok(Feat {
                index,
                props: f
                    .properties
                    .with_context(|| format!("feature #{index} has no properties"))?,
                geometry: f
                    .geometry
                    .with_context(|| format!("feature #{index} has no geometry"))?
                    .value,
            })
        })
        .collect()
}

fn signed_area(ring: &[Vec<f64>]) -> f64 {
    ring.windows(2)
        .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
        .sum::<f64>()
        / 2.0
}

/// Raw-geometry rules the `geo` types cannot see (they auto-close rings): positions are finite
/// 2-D lon/lat in range, rings closed with ≥ 4 positions, exteriors CCW and holes CW, and the
/// geometry is valid per `geo::Validation`.
pub fn check_geometry(layer: &str, feats: &[Feat], errs: &mut Vec<String>) {
    for ft in feats {
        let polys: Vec<&geojson::PolygonType> = match &ft.geometry {
            geojson::Value::Polygon(p) => vec![p],
            geojson::Value::MultiPolygon(mp) => mp.iter().collect(),
            geojson::Value::Point(p) => {
                if !(p.len() == 2
                    && p[0].is_finite()
                    && p[1].is_finite()
                    && p[0].abs() <= 180.0
                    && p[1].abs() <= 90.0)
                {
                    errs.push(format!("{layer} {}: bad point {p:?}", ft.label()));
                }
                continue;
            }
            other => {
                errs.push(format!(
                    "{layer} {}: unexpected geometry type {}",
                    ft.label(),
                    other.type_name()
                ));
                continue;
            }
        };
        if polys.is_empty() {
            errs.push(format!("{layer} {}: empty geometry", ft.label()));
        }
        for poly in polys {
            for (ri, ring) in poly.iter().enumerate() {
                let ok_pos = ring.iter().all(|p| {
                    p.len() == 2
                        && p[0].is_finite()
                        && p[1].is_finite()
                        && p[0].abs() <= 180.0
                        && p[1].abs() <= 90.0
                });
                if !ok_pos {
                    errs.push(format!(
                        "{layer} {}: ring {ri} has a bad position",
                        ft.label()
                    ));
                    continue;
                }
                if ring.len() < 4 || ring.first() != ring.last() {
                    errs.push(format!(
                        "{layer} {}: ring {ri} is not closed or has < 4 positions",
                        ft.label()
                    ));
                    continue;
                }
                let a = signed_area(ring);
                if (ri == 0 && a <= 0.0) || (ri > 0 && a >= 0.0) {
                    errs.push(format!(
                        "{layer} {}: ring {ri} has the wrong winding (RFC 7946: exterior CCW)",
                        ft.label()
                    ));
                }
            }
        }
        match ft.polygons() {
            Some(mp) => {
                if let Err(e) = mp.check_validation() {
                    errs.push(format!("{layer} {}: invalid geometry: {e}", ft.label()));
                }
            }
            None => errs.push(format!(
                "{layer} {}: not convertible to a polygon",
                ft.label()
            )),
        }
    }
}

/// Every feature says what it is: `method` (non-empty string), `generated` (bool); generated
/// features are marked `generated: true`, and `approximate` when present is a bool.
pub fn check_marking(
    layer: &str,
    feats: &[Feat],
    must_be_generated: Option<bool>,
    errs: &mut Vec<String>,
) {
    for ft in feats {
        if ft.s("method").is_none_or(|m| m.trim().is_empty()) {
            errs.push(format!("{layer} {}: missing method", ft.label()));
        }
        match (
            ft.props.get("generated").and_then(Value::as_bool),
            must_be_generated,
        ) {
            (None, _) => errs.push(format!("{layer} {}: missing boolean generated", ft.label())),
            (Some(g), Some(want)) if g != want => errs.push(format!(
                "{layer} {}: generated should be {want}",
                ft.label()
            )),
            _ => {}
        }
        if let Some(a) = ft.props.get("approximate") {
            if !a.is_boolean() {
                errs.push(format!("{layer} {}: approximate is not a bool", ft.label()));
            }
        }
        if ft.s("code").is_none_or(str::is_empty) || ft.s("name").is_none_or(str::is_empty) {
            errs.push(format!("{layer} {}: missing code or name", ft.label()));
        }
    }
    let codes: BTreeSet<&str> = feats.iter().filter_map(|f| f.s("code")).collect();
    if codes.len() != feats.len() {
        errs.push(format!("{layer}: codes are not unique"));
    }
}

fn overlap_km2(a: &MultiPolygon, b: &MultiPolygon) -> f64 {
    let (ra, rb) = (a.bounding_rect(), b.bounding_rect());
    match (ra, rb) {
        (Some(ra), Some(rb)) if ra.intersects(&rb) => area_km2(&a.intersection(b)),
        _ => 0.0,
    }
}

/// `parts` tile `whole`: each part lies in `whole` (≥ 99.9 % of its area), part areas sum to the
/// area of `whole` within 0.1 %, and the total pairwise overlap is below [`OVERLAP_TOL_KM2`].
/// Returns the total overlap (km²).
pub fn check_tiling(
    what: &str,
    whole: &MultiPolygon,
    parts: &[(String, MultiPolygon)],
    errs: &mut Vec<String>,
) -> f64 {
    let whole_km2 = area_km2(whole);
    let mut sum = 0.0;
    for (label, p) in parts {
        let a = area_km2(p);
        sum += a;
        let inside = area_km2(&p.intersection(whole));
        if a <= 0.0 || inside < a * (1.0 - AREA_TOL) {
            errs.push(format!(
                "{what}: {label} lies {:.4}% inside",
                100.0 * inside / a.max(1e-12)
            ));
        }
    }
    if (sum - whole_km2).abs() > whole_km2 * AREA_TOL {
        errs.push(format!(
            "{what}: parts sum to {sum:.4} km², whole is {whole_km2:.4} km²"
        ));
    }
    let mut overlap = 0.0;
    for i in 0..parts.len() {
        for j in i + 1..parts.len() {
            overlap += overlap_km2(&parts[i].1, &parts[j].1);
        }
    }
    if overlap >= OVERLAP_TOL_KM2 {
        errs.push(format!("{what}: parts overlap by {overlap:.5} km²"));
    }
    overlap
}

/// Every station's `serves` list together assigns each township code exactly once.
pub fn check_serves(stations: &[Feat], township_codes: &BTreeSet<String>, errs: &mut Vec<String>) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for st in stations {
        match st.props.get("serves").and_then(Value::as_array) {
            Some(a) => {
                for c in a {
                    *seen
                        .entry(c.as_str().unwrap_or("?").to_string())
                        .or_default() += 1;
                }
            }
            None => errs.push(format!("stations {}: serves is not an array", st.label())),
        }
    }
    for c in township_codes {
        match seen.get(c) {
            Some(1) => {}
            n => errs.push(format!(
                "stations: township {c} served {} times",
                n.copied().unwrap_or(0)
            )),
        }
    }
    for c in seen.keys() {
        if !township_codes.contains(c) {
            errs.push(format!("stations: serves unknown township {c}"));
        }
    }
}

fn point_layer(
    layer: &str,
    feats: &[Feat],
    district: &MultiPolygon,
    towns: &[(String, MultiPolygon)],
    errs: &mut Vec<String>,
) {
    for ft in feats {
        let Some(p) = ft.point() else {
            errs.push(format!("{layer} {}: not a Point", ft.label()));
            continue;
        };
        if !district.contains(&Point::from(p)) {
            errs.push(format!(
                "{layer} {}: outside the district boundary",
                ft.label()
            ));
        }
        let inside: Vec<&str> = towns
            .iter()
            .filter(|(_, t)| t.contains(&Point::from(p)))
            .map(|(c, _)| c.as_str())
            .collect();
        if inside.len() != 1 || ft.s("township_code") != Some(inside[0]) {
            errs.push(format!(
                "{layer} {}: township_code {:?} but point is in {inside:?}",
                ft.label(),
                ft.s("township_code")
            ));
        }
    }
}

/// Check every layer. `files` are `(name, text)` as returned by [`crate::generate`] (or read
/// from disk); `src` is the source directory (for the expected township and village codes).
/// Returns a human-readable report, or an error listing every violation.
pub fn check_all(files: &[(String, String)], src: &Path) -> Result<String> {
    let get = |n: &str| -> Result<Vec<Feat>> {
        let (_, text) = files
            .iter()
            .find(|(name, _)| name == n)
            .with_context(|| format!("missing {n}"))?;
        parse(text).with_context(|| n.to_string())
    };
    let (boundary, towns, grids, stations, posts) = (
        get("boundary.geojson")?,
        get("townships.geojson")?,
        get("grids.geojson")?,
        get("stations.geojson")?,
        get("posts.geojson")?,
    );
    let mut errs = Vec::new();
    let mut rep = String::new();

    for (layer, feats) in [
        ("boundary", &boundary),
        ("townships", &towns),
        ("grids", &grids),
        ("stations", &stations),
        ("posts", &posts),
    ] {
        check_geometry(layer, feats, &mut errs);
    }
    check_marking("boundary", &boundary, Some(false), &mut errs);
    check_marking("townships", &towns, Some(true), &mut errs);
    check_marking("grids", &grids, Some(true), &mut errs);
    check_marking("stations", &stations, None, &mut errs);
    check_marking("posts", &posts, None, &mut errs);
    for ft in stations.iter().chain(&posts) {
        if !ft.props.get("approximate").is_some_and(Value::is_boolean) {
            errs.push(format!(
                "{} {}: missing boolean approximate",
                ft.s("kind").unwrap_or("?"),
                ft.label()
            ));
        }
        if ft.s("source").is_none_or(str::is_empty) {
            errs.push(format!("{}: missing source", ft.label()));
        }
    }
    if !errs.is_empty() {
        bail!("{}", errs.join("\n"));
    }

    // counts and codes
    let expected_towns: BTreeSet<String> = crate::csv::read(&src.join("townships.csv"))?
        .into_iter()
        .map(|r| r["code"].clone())
        .collect();
    let expected_villages: BTreeSet<String> = crate::csv::read(&src.join("villages.csv"))?
        .into_iter()
        .map(|r| r["code"].clone())
        .collect();
    if boundary.len() != 1
        || boundary[0].s("code") != Some("331003")
        || boundary[0].s("name") != Some("黄岩区")
    {
        errs.push("boundary: expected one feature 331003 黄岩区".into());
    }
    let town_codes: BTreeSet<String> = towns
        .iter()
        .filter_map(|f| f.s("code").map(String::from))
        .collect();
    if towns.len() != 19 || town_codes != expected_towns {
        errs.push(format!(
            "townships: {} features, codes match townships.csv: {}",
            towns.len(),
            town_codes == expected_towns
        ));
    }
    let grid_villages: BTreeSet<String> = grids
        .iter()
        .filter_map(|f| f.s("village_code").map(String::from))
        .collect();
    if grids.len() < 348 || grid_villages != expected_villages {
        errs.push(format!(
            "grids: {} features covering {} of {} village codes",
            grids.len(),
            grid_villages.intersection(&expected_villages).count(),
            expected_villages.len()
        ));
    }
    if stations.len() != 4 {
        errs.push(format!("stations: {} features, expected 4", stations.len()));
    }
    if posts.len() != 21 {
        errs.push(format!("posts: {} features, expected 21", posts.len()));
    }
    for ft in &towns {
        if ft
            .s("code")
            .is_none_or(|c| c.len() != 9 || !c.bytes().all(|b| b.is_ascii_digit()))
        {
            errs.push(format!("townships {}: code is not 9 digits", ft.label()));
        }
    }
    if !errs.is_empty() {
        bail!("{}", errs.join("\n"));
    }

    // townships tile the district and contain their seats
    let district = boundary[0].polygons().context("boundary")?;
    let town_polys: Vec<(String, MultiPolygon)> = towns
        .iter()
        .map(|f| (f.s("code").unwrap().to_string(), f.polygons().unwrap()))
        .collect();
    let overlap = check_tiling("townships", &district, &town_polys, &mut errs);
    let union = geo::unary_union(town_polys.iter().map(|(_, p)| p));
    let (ua, da) = (area_km2(&union), area_km2(&district));
    if (ua - da).abs() > da * AREA_TOL {
        errs.push(format!(
            "townships: union {ua:.4} km² vs district {da:.4} km²"
        ));
    }
    for ft in &towns {
        let seat = Coord {
            x: ft.f("seat_lon").unwrap_or(f64::NAN),
            y: ft.f("seat_lat").unwrap_or(f64::NAN),
        };
        if !ft.polygons().unwrap().contains(&Point::from(seat)) {
            errs.push(format!(
                "townships {}: does not contain its seat",
                ft.label()
            ));
        }
    }
    writeln!(rep, "district {da:.3} km² (projected), {:.3} km² (Chamberlain–Duquette); township union {ua:.3} km², pairwise overlap {overlap:.6} km²",
        district.chamberlain_duquette_unsigned_area() / 1e6)?;

    // grids tile their township and contain their village point
    let mut grid_overlap = 0.0;
    writeln!(
        rep,
        "code       name        grids  area_km2(proj)  area_km2(C-D)"
    )?;
    for (ft, (code, tp)) in towns.iter().zip(&town_polys) {
        let mine: Vec<&Feat> = grids
            .iter()
            .filter(|g| g.s("township_code") == Some(code.as_str()))
            .collect();
        let parts: Vec<(String, MultiPolygon)> = mine
            .iter()
            .map(|g| (g.label(), g.polygons().unwrap()))
            .collect();
        grid_overlap += check_tiling(&format!("grids of {code}"), tp, &parts, &mut errs);
        for g in &mine {
            let p = Coord {
                x: g.f("village_lon").unwrap_or(f64::NAN),
                y: g.f("village_lat").unwrap_or(f64::NAN),
            };
            if !g.polygons().unwrap().contains(&Point::from(p)) {
                errs.push(format!(
                    "grids {}: does not contain its village point",
                    g.label()
                ));
            }
            if g.s("township_name") != ft.s("name") {
                errs.push(format!("grids {}: township_name mismatch", g.label()));
            }
        }
        writeln!(
            rep,
            "{code}  {:<8}  {:>5}  {:>14.3}  {:>13.3}",
            ft.s("name").unwrap_or("?"),
            mine.len(),
            area_km2(tp),
            tp.chamberlain_duquette_unsigned_area() / 1e6
        )?;
    }
    if grid_overlap >= OVERLAP_TOL_KM2 {
        errs.push(format!("grids: total overlap {grid_overlap:.5} km²"));
    }
    for g in &grids {
        if !g.s("township_code").is_some_and(|c| town_codes.contains(c)) {
            errs.push(format!("grids {}: unknown township_code", g.label()));
        }
    }
    writeln!(
        rep,
        "grids: {} features, total pairwise overlap {grid_overlap:.6} km²",
        grids.len()
    )?;

    // points
    point_layer("stations", &stations, &district, &town_polys, &mut errs);
    point_layer("posts", &posts, &district, &town_polys, &mut errs);
    check_serves(&stations, &town_codes, &mut errs);
    let offices: Vec<&str> = posts
        .iter()
        .filter(|p| p.s("kind") == Some("警务室"))
        .filter_map(|p| p.s("township_code"))
        .collect();
    if offices.iter().copied().collect::<BTreeSet<_>>().len() != 19 || offices.len() != 19 {
        errs.push("posts: expected exactly one 警务室 per township".into());
    }
    if posts
        .iter()
        .filter(|p| p.s("kind") == Some("派出所"))
        .count()
        != 2
    {
        errs.push("posts: expected the two located 派出所".into());
    }
    for st in &stations {
        writeln!(
            rep,
            "station {} {} in {} serves {}",
            st.s("code").unwrap_or("?"),
            st.s("name").unwrap_or("?"),
            st.s("township_code").unwrap_or("?"),
            st.props["serves"]
        )?;
    }
    if !errs.is_empty() {
        bail!("{}", errs.join("\n"));
    }
    writeln!(rep, "all invariants hold")?;
    Ok(rep)
}
