//! # lianqin-geodata
//!
//! Reproducible generator of lianqin's Huangyan (黄岩区) layers. Only the district boundary is
//! real; township polygons, village points, grids, and most station/post points are generated
//! (see `geodata/README.md` and `geodata/src/PROVENANCE.md`).
//!
//! Layout:
//! - [`geom`]  local metric projection, power/Voronoi cells by half-plane clipping, rounding, PRNG
//! - [`csv`]   minimal reader for the source tables
//! - [`out`]   deterministic GeoJSON writer (fixed key order, one feature per line)
//! - [`check`] the invariants, run by the generator after writing and by the tests on the files
//! - this file: the pipeline ([`generate`])

pub mod check;
pub mod csv;
pub mod geom;
pub mod out;

use anyhow::{bail, Context, Result};
use geo::orient::Direction;
use geo::{BoundingRect, Contains, Coord, Distance, Euclidean, MultiPolygon, Orient, Point, Rect};
use geom::{fwd, inside_with_margin, power_cells, snap, to_published, Rng};
use out::Feature;
use serde_json::{json, Value};
use std::path::Path;

/// Master seed; every township draws from its own stream `SEED ^ (code * golden)`, so changing
/// one township's villages never reshuffles another's.
pub const SEED: u64 = 0x4C49_414E_5149_4E31; // "LIANQIN1"

/// Output file names, in the order [`generate`] returns them.
pub const FILES: [&str; 5] = [
    "boundary.geojson",
    "townships.geojson",
    "grids.geojson",
    "stations.geojson",
    "posts.geojson",
];

/// The four small urban subdistricts (power weight 0, so they stay compact).
pub const URBAN: [&str; 4] = ["东城街道", "西城街道", "南城街道", "北城街道"];

/// Power-diagram "radius" r (km) per township; weight = r². A larger r pushes the cell's
/// bisectors outward by ≈ r²/(2d). Rejected alternative: multiplicatively weighted Voronoi,
/// whose cells are bounded by circular arcs and are not convex (no exact half-plane clipping).
/// Mountain 镇 (seat west of [`WEST_MOUNTAIN_LON`]) are weighted like the 乡.
pub fn power_radius_km(name: &str, kind: &str, seat_lon: f64) -> f64 {
    if URBAN.contains(&name) {
        0.0
    } else {
        match kind {
            "街道" => 2.5,
            "镇" if seat_lon >= WEST_MOUNTAIN_LON => 3.5,
            _ => 4.5, // 乡 and mountain 镇
        }
    }
}

/// Township seats with longitude < this and kind 镇/乡 form the western mountain area served by
/// the 大寺基林场 ecological-policing station.
pub const WEST_MOUNTAIN_LON: f64 = 121.13;

pub struct Township {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub seat: Coord,
    pub seat_m: Coord,
    /// Published (rounded, lon/lat) polygon.
    pub poly: MultiPolygon,
    /// The published polygon projected to metres.
    pub poly_m: MultiPolygon,
}

pub struct Village {
    pub code: String,
    pub name: String,
    pub township: usize,
    pub community: bool,
    pub pt: Coord,
    pub pt_m: Coord,
}

fn f(row: &csv::Row, k: &str) -> Result<String> {
    row.get(k)
        .cloned()
        .with_context(|| format!("missing column {k}"))
}

fn num(row: &csv::Row, k: &str) -> Result<f64> {
    f(row, k)?
        .parse::<f64>()
        .with_context(|| format!("column {k} is not a number"))
}

fn expand(r: Rect, m: f64) -> Rect {
    Rect::new(
        Coord {
            x: r.min().x - m,
            y: r.min().y - m,
        },
        Coord {
            x: r.max().x + m,
            y: r.max().y + m,
        },
    )
}

/// "百花社区居委会" → "百花社区网格", "上渚村委会" → "上渚村网格", "嘉盛社区" → "嘉盛社区网格".
pub fn grid_name(village_name: &str) -> String {
    let base = village_name
        .strip_suffix("居委会")
        .or_else(|| village_name.strip_suffix("委会"))
        .unwrap_or(village_name);
    format!("{base}网格")
}

/// Read the district boundary, orient it (exterior CCW) and keep its provenance properties.
fn boundary(src: &Path) -> Result<(MultiPolygon, serde_json::Map<String, Value>)> {
    let text = std::fs::read_to_string(src.join("huangyan_boundary.geojson"))?;
    let fc: geojson::FeatureCollection = text.parse().context("boundary geojson")?;
    let feat = fc.features.first().context("boundary has no feature")?;
    let geom = feat.geometry.clone().context("boundary has no geometry")?;
    let mp: MultiPolygon = geom
        .value
        .try_into()
        .context("boundary is not a MultiPolygon")?;
    let mp = mp.orient(Direction::Default);
    Ok((mp, feat.properties.clone().unwrap_or_default()))
}

fn township_of(towns: &[Township], p: Coord) -> Option<usize> {
    towns.iter().position(|t| t.poly.contains(&Point::from(p)))
}

/// Generate every output layer in memory from the source directory. Returns `(file name, text)`
/// in [`FILES`] order. Pure function of the inputs: no clock, no environment, no network.
pub fn generate(src: &Path) -> Result<Vec<(String, String)>> {
    let (district, bprops) = boundary(src)?;
    let district_m = geom::mp_fwd(&district);
    let dbox = district_m.bounding_rect().context("empty boundary")?;

    // ---- townships: power diagram of the seats, clipped to the boundary ----
    let trows = csv::read(&src.join("townships.csv"))?;
    let mut seats_m = Vec::new();
    let mut weights = Vec::new();
    for r in &trows {
        let seat = Coord {
            x: num(r, "seat_lon")?,
            y: num(r, "seat_lat")?,
        };
        seats_m.push(fwd(seat));
        let rk = power_radius_km(&f(r, "name")?, &f(r, "kind")?, seat.x) * 1000.0;
        weights.push(rk * rk);
    }
    let cells = power_cells(&seats_m, &weights, expand(dbox, 10_000.0));
    let mut towns = Vec::new();
    for (i, r) in trows.iter().enumerate() {
        let name = f(r, "name")?;
        let clipped = geom::clip_to(&cells[i], &district_m);
        let poly = to_published(&clipped, 1.0, &name)?;
        let seat = Coord {
            x: num(r, "seat_lon")?,
            y: num(r, "seat_lat")?,
        };
        if !poly.contains(&Point::from(seat)) {
            bail!("township {name} does not contain its seat");
        }
        towns.push(Township {
            code: f(r, "code")?,
            name,
            kind: f(r, "kind")?,
            seat,
            seat_m: seats_m[i],
            poly_m: geom::mp_fwd(&poly),
            poly,
        });
    }

    // ---- village points: best-candidate sampling inside each township ----
    let vrows = csv::read(&src.join("villages.csv"))?;
    let mut villages: Vec<Village> = Vec::new();
    for (ti, t) in towns.iter().enumerate() {
        let code_num: u64 = t.code.parse()?;
        let mut rng = Rng::new(SEED ^ code_num.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let bbox = t.poly_m.bounding_rect().context("empty township")?;
        let mut mine: Vec<&csv::Row> = vrows.iter().filter(|r| r["streetCode"] == t.code).collect();
        // communities first (clustered near the seat), then villages, each in code order
        let is_comm = |r: &csv::Row| r["name"].contains("社区");
        mine.sort_by_key(|r| (!is_comm(r), r["code"].clone()));
        let mut placed: Vec<Coord> = Vec::new();
        for r in mine {
            let community = is_comm(r);
            let (k, margin) = if community { (12, 60.0) } else { (24, 150.0) };
            let mut best: Option<(f64, Coord)> = None;
            for _ in 0..k {
                let mut tries = 0;
                let cand = loop {
                    tries += 1;
                    if tries > 200_000 {
                        bail!("cannot place {} in {}", r["name"], t.name);
                    }
                    let c = if community {
                        let (dx, dy) = (rng.range(-1500.0, 1500.0), rng.range(-1500.0, 1500.0));
                        if dx * dx + dy * dy > 1500.0 * 1500.0 {
                            continue;
                        }
                        Coord {
                            x: t.seat_m.x + dx,
                            y: t.seat_m.y + dy,
                        }
                    } else {
                        Coord {
                            x: rng.range(bbox.min().x, bbox.max().x),
                            y: rng.range(bbox.min().y, bbox.max().y),
                        }
                    };
                    let c = snap(c).1;
                    if inside_with_margin(&t.poly_m, c, margin) {
                        break c;
                    }
                };
                let score = placed
                    .iter()
                    .map(|p| Euclidean.distance(Point::from(*p), Point::from(cand)))
                    .fold(f64::INFINITY, f64::min);
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, cand));
                }
            }
            let pm = best.expect("k > 0").1;
            placed.push(pm);
            villages.push(Village {
                code: r["code"].clone(),
                name: r["name"].clone(),
                township: ti,
                community,
                pt: geom::inv(pm),
                pt_m: pm,
            });
        }
    }
    // snap() already put pt on the 1e-6 grid; make pt exactly the rounded value
    for v in &mut villages {
        v.pt = Coord {
            x: geom::round6(v.pt.x),
            y: geom::round6(v.pt.y),
        };
    }

    // ---- grids: Voronoi of the village points inside each township ----
    let mut grid_feats = Vec::new();
    let mut grid_polys: Vec<(usize, MultiPolygon)> = Vec::new();
    for (ti, t) in towns.iter().enumerate() {
        let vs: Vec<&Village> = villages.iter().filter(|v| v.township == ti).collect();
        let sites: Vec<Coord> = vs.iter().map(|v| v.pt_m).collect();
        let frame = expand(t.poly_m.bounding_rect().context("empty")?, 2_000.0);
        let cells = power_cells(&sites, &vec![0.0; sites.len()], frame);
        for (v, cell) in vs.iter().zip(&cells) {
            let g = to_published(&geom::clip_to(cell, &t.poly_m), 1.0, &v.name)?;
            if !g.contains(&Point::from(v.pt)) {
                bail!("grid of {} does not contain its village point", v.name);
            }
            grid_polys.push((ti, g));
        }
    }
    let mut vi = 0;
    for (ti, t) in towns.iter().enumerate() {
        for v in villages.iter().filter(|v| v.township == ti) {
            let g = &grid_polys[vi].1;
            vi += 1;
            let kind = if v.community { "社区" } else { "村" };
            grid_feats.push(Feature {
                props: vec![
                    ("code", json!(v.code)),
                    ("name", json!(grid_name(&v.name))),
                    ("village_code", json!(v.code)),
                    ("village_name", json!(v.name)),
                    ("township_code", json!(t.code)),
                    ("township_name", json!(t.name)),
                    ("village_lon", json!(v.pt.x)),
                    ("village_lat", json!(v.pt.y)),
                    ("generated", json!(true)),
                    ("method", json!(format!(
                        "GENERATED, not a surveyed grid. Village point ({kind}) placed by seeded best-candidate \
                         sampling inside the generated township polygon (SplitMix64 seed {SEED:#x} xor township code*0x9E3779B97F4A7C15; \
                         社区 within 1.5 km of the township seat, 12 candidates, ≥60 m from the township edge; \
                         村 anywhere in the township, 24 candidates, ≥150 m from the edge; the candidate farthest from the points already placed wins); \
                         grid = Voronoi cell of the village point among the township's village points (half-plane clipping in an equirectangular \
                         projection about 121.08E 28.60N, metres) intersected with the township polygon; coordinates rounded to 1e-6°"
                    ))),
                ],
                geometry: out::polygonal(g),
            });
        }
    }

    // ---- stations ----
    let prows = csv::read(&src.join("places.csv"))?;
    let place = |name: &str| -> Result<&csv::Row> {
        prows
            .iter()
            .find(|r| r["name"] == name)
            .with_context(|| format!("places.csv has no {name}"))
    };
    let town = |name: &str| -> Result<usize> {
        towns
            .iter()
            .position(|t| t.name == name)
            .with_context(|| format!("no township {name}"))
    };
    // first point ≥ margin inside township `ti` at `dist` m from its seat, trying 8 compass
    // directions (E, NE, N, NW, W, SW, S, SE) and then shorter distances
    let near_seat = |ti: usize, dist: f64, margin: f64| -> Result<Coord> {
        let t = &towns[ti];
        const S: f64 = std::f64::consts::FRAC_1_SQRT_2;
        let dirs = [
            (1.0, 0.0),
            (S, S),
            (0.0, 1.0),
            (-S, S),
            (-1.0, 0.0),
            (-S, -S),
            (0.0, -1.0),
            (S, -S),
        ];
        for scale in [1.0, 0.75, 0.5, 0.25] {
            for (dx, dy) in dirs {
                let c = Coord {
                    x: t.seat_m.x + dx * dist * scale,
                    y: t.seat_m.y + dy * dist * scale,
                };
                let (d, m) = snap(c);
                if inside_with_margin(&t.poly_m, m, margin) {
                    return Ok(d);
                }
            }
        }
        bail!("no point near the seat of {}", t.name)
    };

    struct Station {
        code: &'static str,
        name: &'static str,
        kind: &'static str,
        pt: Coord,
        approximate: bool,
        generated: bool,
        method: String,
        note: String,
        source: String,
    }
    let xq = town("新前街道")?;
    let dc = town("东城街道")?;
    let wy = place("黄岩吾悦广场")?;
    let dsj = place("大寺基林场")?;
    let wy_pt = Coord {
        x: num(wy, "lon")?,
        y: num(wy, "lat")?,
    };
    // 大寺基: the source point is the Huangyan/Yongjia/Xianju tri-point, on the edge. Walk it in
    // 25 m steps toward the 上郑乡 seat until it is ≥ 300 m inside the district.
    let dsj_src = Coord {
        x: num(dsj, "lon")?,
        y: num(dsj, "lat")?,
    };
    let (dsj_pt, dsj_moved) = {
        let a = fwd(dsj_src);
        let b = towns[town("上郑乡")?].seat_m;
        let len = Euclidean.distance(Point::from(a), Point::from(b));
        let mut found = None;
        for step in 0..=((len / 25.0) as usize) {
            let t = step as f64 * 25.0 / len;
            let (d, m) = snap(Coord {
                x: a.x + t * (b.x - a.x),
                y: a.y + t * (b.y - a.y),
            });
            if inside_with_margin(&district_m, m, 300.0) {
                found = Some((d, step as f64 * 25.0));
                break;
            }
        }
        found.context("cannot move 大寺基 inside")?
    };
    let stations = [
        Station {
            code: "ST01",
            name: "智能模具小镇联勤工作站",
            kind: "联勤工作站",
            pt: near_seat(xq, 1000.0, 150.0)?,
            approximate: true,
            generated: true,
            method: "APPROXIMATE: no coordinate for 黄岩智能模具小镇 exists in any source (places.csv: NOT FOUND); \
                     placed 1 km from the 新前街道 seat (GeoNames) in the first of the directions E, NE, N, … that lies \
                     ≥150 m inside the generated 新前街道 polygon".into(),
            note: "stand-in point; replace with the real station address when known".into(),
            source: "geodata/src/places.csv (name only), geodata/src/townships.csv (seat)".into(),
        },
        Station {
            code: "ST02",
            name: "小东门联勤工作站",
            kind: "联勤工作站",
            pt: near_seat(dc, 300.0, 60.0)?,
            approximate: true,
            generated: true,
            method: "APPROXIMATE: no coordinate for 小东门 exists in any source (places.csv: NOT FOUND); placed \
                     300 m from the 东城街道 seat (GeoNames) in the first of the directions E, NE, N, … that lies ≥60 m \
                     inside the generated 东城街道 polygon".into(),
            note: "stand-in point; replace with the real station address when known".into(),
            source: "geodata/src/places.csv (name only), geodata/src/townships.csv (seat)".into(),
        },
        Station {
            code: "ST03",
            name: "吾悦广场联勤工作站",
            kind: "联勤工作站",
            pt: wy_pt,
            approximate: true,
            generated: false,
            method: "APPROXIMATE: 黄岩吾悦广场 point from places.csv used as-is; its datum is UNKNOWN (third-party \
                     list, possibly GCJ-02: if so the WGS-84 point is ≈ 121.2562, 28.6568, about 500 m away)".into(),
            note: "datum unknown; the mall's address is 西城街道大桥路1号".into(),
            source: f(wy, "source")?,
        },
        Station {
            code: "ST04",
            name: "大寺基林场生态警务站",
            kind: "生态警务站",
            pt: dsj_pt,
            approximate: true,
            generated: false,
            method: format!(
                "APPROXIMATE: places.csv point for 大寺基林场 is the Huangyan/Yongjia/Xianju tri-point on the district \
                 edge ({}, {}); moved {dsj_moved:.0} m toward the 上郑乡 seat so it lies ≥300 m inside the district boundary",
                dsj_src.x, dsj_src.y
            ),
            note: "the forest farm (1563 ha) straddles the county border; the station's real site is unknown".into(),
            source: f(dsj, "source")?,
        },
    ];
    // serves: partition of all townships
    let mut serves: Vec<Vec<String>> = vec![Vec::new(); stations.len()];
    for t in &towns {
        let candidates: Vec<usize> =
            if (t.kind == "镇" || t.kind == "乡") && t.seat.x < WEST_MOUNTAIN_LON {
                vec![3]
            } else if URBAN.contains(&t.name.as_str()) {
                vec![1, 2]
            } else {
                vec![0, 1, 2, 3]
            };
        let best = candidates
            .iter()
            .copied()
            .min_by(|&a, &b| {
                let da =
                    Euclidean.distance(Point::from(t.seat_m), Point::from(fwd(stations[a].pt)));
                let db =
                    Euclidean.distance(Point::from(t.seat_m), Point::from(fwd(stations[b].pt)));
                da.total_cmp(&db).then(a.cmp(&b))
            })
            .expect("non-empty");
        serves[best].push(t.code.clone());
    }
    let serves_rule = format!(
        " Responsibility (serves): every township is assigned to exactly one station: 镇/乡 with seat west of \
         {WEST_MOUNTAIN_LON}°E → 大寺基林场生态警务站; the urban 东城/西城/南城/北城 → the nearer of 小东门/吾悦广场; every \
         other township → the station nearest its seat (metres in the local projection)."
    );
    let mut station_feats = Vec::new();
    for (i, s) in stations.iter().enumerate() {
        let ti =
            township_of(&towns, s.pt).with_context(|| format!("{} is in no township", s.name))?;
        station_feats.push(Feature {
            props: vec![
                ("code", json!(s.code)),
                ("name", json!(s.name)),
                ("kind", json!(s.kind)),
                ("township_code", json!(towns[ti].code)),
                ("serves", json!(serves[i])),
                ("approximate", json!(s.approximate)),
                ("generated", json!(s.generated)),
                ("method", json!(format!("{}.{serves_rule}", s.method))),
                ("note", json!(s.note)),
                ("source", json!(s.source)),
            ],
            geometry: out::point(s.pt),
        });
    }

    // ---- posts: one 警务室 per township near its seat + the two located 派出所 ----
    let mut post_feats = Vec::new();
    for (ti, t) in towns.iter().enumerate() {
        let code_num: u64 = t.code.parse()?;
        let mut rng = Rng::new(SEED ^ 0x0050_5354 ^ code_num.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut pt = None;
        for _ in 0..100_000 {
            let (dx, dy) = (rng.range(-400.0, 400.0), rng.range(-400.0, 400.0));
            let r2 = dx * dx + dy * dy;
            if !(150.0 * 150.0..=400.0 * 400.0).contains(&r2) {
                continue;
            }
            let (d, m) = snap(Coord {
                x: t.seat_m.x + dx,
                y: t.seat_m.y + dy,
            });
            if inside_with_margin(&t.poly_m, m, 30.0) {
                pt = Some(d);
                break;
            }
        }
        let pt = pt.with_context(|| format!("cannot place post in {}", t.name))?;
        debug_assert_eq!(township_of(&towns, pt), Some(ti));
        post_feats.push(Feature {
            props: vec![
                ("code", json!(format!("PP{:03}", ti + 1))),
                ("name", json!(format!("{}警务室", t.name))),
                ("kind", json!("警务室")),
                ("township_code", json!(t.code)),
                ("generated", json!(true)),
                ("approximate", json!(false)),
                ("method", json!(format!(
                    "GENERATED: a hypothetical township police office; point drawn 150–400 m from the township seat \
                     (GeoNames) with SplitMix64 (seed {SEED:#x} xor 0x505354 xor township code*0xD1B54A32D192ED03), \
                     ≥30 m inside the generated township polygon"
                ))),
                ("source", json!("generated (geodata/generator)")),
            ],
            geometry: out::point(pt),
        });
    }
    for name in ["城南派出所", "院桥派出所"] {
        let r = place(name)?;
        let pt = Coord {
            x: num(r, "lon")?,
            y: num(r, "lat")?,
        };
        let ti = township_of(&towns, pt).with_context(|| format!("{name} is in no township"))?;
        let conf = f(r, "confidence")?;
        let n = post_feats.len() + 1;
        post_feats.push(Feature {
            props: vec![
                ("code", json!(format!("PP{n:03}"))),
                ("name", json!(name)),
                ("kind", json!("派出所")),
                ("township_code", json!(towns[ti].code)),
                ("generated", json!(false)),
                ("approximate", json!(conf != "high")),
                ("method", json!(format!(
                    "point from geodata/src/places.csv used as-is (crs {}; confidence {conf}){}",
                    f(r, "crs")?,
                    if conf == "high" { "" } else { "; the point is a landmark near the station, not the station itself" }
                ))),
                ("source", json!(f(r, "source")?)),
            ],
            geometry: out::point(pt),
        });
    }

    // ---- townships + boundary features ----
    let town_method = {
        let mut w: Vec<String> = Vec::new();
        for (label, r) in [
            ("东城/西城/南城/北城", 0.0),
            ("other 街道", 2.5),
            ("镇 east of 121.13°E", 3.5),
            ("乡 and 镇 west of 121.13°E", 4.5),
        ] {
            w.push(format!("{label} r={r} km"));
        }
        format!(
            "GENERATED, not an official boundary. Power diagram (weighted Voronoi, weight = r², {}) of the 19 seats \
             (GeoNames, ±1 km) in an equirectangular projection about 121.08E 28.60N (metres); each cell = a \
             rectangle clipped by the half-planes of its power bisectors, intersected with the real district \
             boundary (geo BooleanOps); coordinates rounded to 1e-6°",
            w.join(", ")
        )
    };
    let town_feats: Vec<Feature> = towns
        .iter()
        .map(|t| Feature {
            props: vec![
                ("code", json!(t.code)),
                ("name", json!(t.name)),
                ("kind", json!(t.kind)),
                ("seat_lon", json!(t.seat.x)),
                ("seat_lat", json!(t.seat.y)),
                ("generated", json!(true)),
                ("method", json!(town_method)),
            ],
            geometry: out::polygonal(&t.poly),
        })
        .collect();
    let carry = |k: &str| bprops.get(k).cloned().unwrap_or(Value::Null);
    let boundary_feats = vec![Feature {
        props: vec![
            ("code", json!("331003")),
            ("name", json!("黄岩区")),
            ("name_en", carry("name_en")),
            ("generated", json!(false)),
            ("approximate", json!(false)),
            ("method", json!("real boundary copied from geodata/src/huangyan_boundary.geojson; exterior ring re-oriented counter-clockwise (RFC 7946), coordinates unchanged")),
            ("crs", carry("crs")),
            ("source", carry("source")),
            ("processing", carry("processing")),
            ("license_note", carry("license_note")),
        ],
        geometry: out::multipolygon(&district),
    }];

    Ok(vec![
        (FILES[0].into(), out::collection(&boundary_feats)),
        (FILES[1].into(), out::collection(&town_feats)),
        (FILES[2].into(), out::collection(&grid_feats)),
        (FILES[3].into(), out::collection(&station_feats)),
        (FILES[4].into(), out::collection(&post_feats)),
    ])
}
