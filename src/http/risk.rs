//! Heat, hotspot, emerging-hotspot and forecast handlers (H3 cells).

use std::collections::{HashMap, HashSet};

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use geo::BoundingRect;
use h3o::{CellIndex, LatLng, Resolution};
use serde_json::{json, Value};

use super::schemas;
use super::{ApiError, AppState};
use crate::domain::{Bbox, Position};
use crate::live::{heat_body, HeatOut, HeatWant};
use crate::risk::heat::{Heat, Surface};
use crate::risk::hotspots::{self, EmergingParams, Weighting};

/// Most sample points one study-area enumeration may take (≈ 2 s of CPU at worst).
const MAX_SAMPLES: usize = 2_000_000;
/// Most periods of an emerging-hotspot series.
const MAX_PERIODS: i64 = 104;
/// Prior strength of the forecast's empirical-Bayes shrinkage (k = 1 was
/// chosen by validation on real police.uk data; docs/FORECAST.md).
const FORECAST_PRIOR_K: f64 = 1.0;

fn only(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::field(
            k.clone(),
            format!("unknown query parameter; expected {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn time(q: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    q.get(name)
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| ApiError::field(name, format!("must be an RFC 3339 timestamp ({e})")))
        })
        .transpose()
}

fn res(q: &HashMap<String, String>, default: u8, lo: u8) -> Result<u8, ApiError> {
    match q.get("res") {
        None => Ok(default),
        Some(s) => s
            .parse::<u8>()
            .ok()
            .filter(|r| (lo..=10).contains(r))
            .ok_or_else(|| {
                ApiError::field(
                    "res",
                    format!("must be an integer from {lo} to 10, got {s:?}"),
                )
            }),
    }
}

fn category(q: &HashMap<String, String>) -> Option<String> {
    q.get("category")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `area=township:CODE|station:CODE|grid:CODE`.
#[derive(Debug, Clone)]
enum Area {
    Township(String),
    Station(String),
    Grid(String),
}

fn area(st: &AppState, q: &HashMap<String, String>) -> Result<Option<Area>, ApiError> {
    let Some(raw) = q.get("area") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::field(
            "area",
            format!("must be township:CODE, station:CODE or grid:CODE, got {raw:?}"),
        )
    };
    let (kind, code) = raw.split_once(':').ok_or_else(bad)?;
    let snap = st.world.snapshot();
    let l = &snap.layers;
    let (a, known) = match kind {
        "township" => (
            Area::Township(code.into()),
            l.townships.iter().any(|t| t.code == code),
        ),
        "grid" => (
            Area::Grid(code.into()),
            l.grids.iter().any(|t| t.code == code),
        ),
        "station" => (
            Area::Station(code.into()),
            l.stations.iter().any(|t| t.code == code),
        ),
        _ => return Err(bad()),
    };
    if !known {
        return Err(ApiError::field(
            "area",
            format!("no {kind} with code {code:?}"),
        ));
    }
    Ok(Some(a))
}

/// The box asked for, else the district's.
fn bbox(st: &AppState, q: &HashMap<String, String>) -> Result<Bbox, ApiError> {
    if let Some(b) = q.get("bbox") {
        return Bbox::parse(b).map_err(|e| ApiError::field("bbox", e.to_string()));
    }
    let snap = st.world.snapshot();
    let r = snap
        .layers
        .boundary
        .first()
        .and_then(|d| d.geometry.bounding_rect());
    Ok(match r {
        Some(r) => {
            Bbox::new(r.min().x, r.min().y, r.max().x, r.max().y).unwrap_or_else(|_| Bbox::world())
        }
        None => Bbox::world(),
    })
}

/// Whether a cell centre belongs to the study region (inside the district, and the area).
fn in_region(index: &crate::spatial::JurisdictionIndex, area: &Option<Area>, p: Position) -> bool {
    let j = index.locate(p);
    if !j.inside {
        return false;
    }
    match area {
        None => true,
        Some(Area::Township(c)) => j.township.as_ref().is_some_and(|t| &t.code == c),
        Some(Area::Grid(c)) => j.grid.as_ref().is_some_and(|t| &t.code == c),
        Some(Area::Station(c)) => j.station.as_ref().is_some_and(|t| &t.code == c),
    }
}

fn centre(c: CellIndex) -> Position {
    let ll = LatLng::from(c);
    Position::new(ll.lng(), ll.lat()).expect("H3 centres are valid positions")
}

/// Every cell of `res` whose centre lies in the box and the study region:
/// a lattice of sample points one edge length apart hits every such cell
/// (a hexagon's inscribed circle, radius 0.87 edge, always holds a point of a
/// square lattice of spacing ≤ 1.22 edge).
fn study_cells(
    st: &AppState,
    b: Bbox,
    res: u8,
    area: &Option<Area>,
) -> Result<Vec<CellIndex>, ApiError> {
    let r = Resolution::try_from(res).map_err(|_| ApiError::field("res", "invalid resolution"))?;
    let edge_m = r.edge_length_m();
    let mid = (b.south + b.north) / 2.0;
    let dlat = edge_m / 111_320.0;
    let dlon = edge_m / (111_320.0 * mid.to_radians().cos().max(0.01));
    let nx = ((b.east - b.west) / dlon).ceil() as usize + 1;
    let ny = ((b.north - b.south) / dlat).ceil() as usize + 1;
    if nx.saturating_mul(ny) > MAX_SAMPLES {
        return Err(ApiError::field(
            "bbox",
            format!("too large for res {res} (≈ {} cells); choose a smaller box, an area or a coarser res", nx * ny),
        ));
    }
    let mut set = HashSet::new();
    for iy in 0..ny {
        let lat = (b.south + iy as f64 * dlat).min(b.north);
        for ix in 0..nx {
            let lon = (b.west + ix as f64 * dlon).min(b.east);
            if let Ok(ll) = LatLng::new(lat, lon) {
                set.insert(ll.to_cell(r));
            }
        }
    }
    let snap = st.world.snapshot();
    let mut cells: Vec<CellIndex> = set
        .into_iter()
        .filter(|c| {
            let p = centre(*c);
            b.contains(p) && in_region(&snap.index, area, p)
        })
        .collect();
    cells.sort_unstable();
    Ok(cells)
}

/// `b` grown by two edge lengths of `res`: a cell whose centre is in `b`
/// lies wholly inside, so counting incidents there counts each kept cell whole.
fn grown(b: Bbox, res: u8) -> Bbox {
    let edge = Resolution::try_from(res).map_or(1500.0, |r| r.edge_length_m());
    let dlat = 2.0 * edge / 111_320.0;
    let dlon = dlat / ((b.south + b.north) / 2.0).to_radians().cos().max(0.01);
    Bbox::new(
        (b.west - dlon).max(-180.0),
        (b.south - dlat).max(-90.0),
        (b.east + dlon).min(180.0),
        (b.north + dlat).min(90.0),
    )
    .unwrap_or(b)
}

fn parent(cell: i64, res: u8) -> Option<CellIndex> {
    CellIndex::try_from(cell as u64)
        .ok()?
        .parent(Resolution::try_from(res).ok()?)
}

/// `GET /api/v1/heat?bbox=&res=&category=&surface=&at=&area=&boundary=1`.
/// From the live surface; an `at` more than a minute in the past is
/// computed exactly from PostGIS instead (incidents reported by then).
#[utoipa::path(
    get,
    path = "/api/v1/heat",
    tag = "risk",
    summary = "Decayed incident intensity on H3 cells (res 7–10)",
    description = "Live surface (24 h half-life) or risk surface (30 days), per category or overall; updated per incident in the live world. An `at` more than a minute in the past is computed exactly from PostGIS. Unknown query parameters are refused.",
    params(
        ("bbox" = Option<String>, Query, description = "w,s,e,n WGS-84 (default: the district's box)"),
        ("res" = Option<u8>, Query, description = "H3 resolution 7 to 10, default 8"),
        ("category" = Option<String>, Query, description = "Only this category (default: all)"),
        ("surface" = Option<String>, Query, description = "`live` (default) or `risk`"),
        ("at" = Option<DateTime<Utc>>, Query, description = "RFC 3339, at most a year ahead (default now)"),
        ("area" = Option<String>, Query, description = "`township:CODE`, `station:CODE` or `grid:CODE`: only cells whose centre is in that area"),
        ("boundary" = Option<String>, Query, description = "`1` or `true`: include each cell's hexagon"),
    ),
    responses(
        (status = 200, description = "The surface in the box", body = HeatOut),
        (status = 400, description = "Invalid or unknown query parameter (field names it)", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable (past `at`); retry", body = schemas::ErrorBody),
    )
)]
pub async fn heat(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    only(
        &q,
        &[
            "bbox", "res", "category", "surface", "at", "area", "boundary",
        ],
    )?;
    let b = bbox(&st, &q)?;
    let want = HeatWant {
        res: res(&q, 8, 7)?,
        surface: match q.get("surface") {
            None => Surface::Live,
            Some(s) => Surface::parse(s)
                .ok_or_else(|| ApiError::field("surface", "must be live or risk"))?,
        },
        category: category(&q),
    };
    let area = area(&st, &q)?;
    let boundary = matches!(q.get("boundary").map(String::as_str), Some("1" | "true"));
    let now = Utc::now();
    let at = time(&q, "at")?.unwrap_or(now);
    if at > now + Duration::days(366) {
        return Err(ApiError::field("at", "at most a year ahead"));
    }
    let mut body = if at < now - Duration::minutes(1) {
        // the past, exactly: only incidents reported by `at`
        let since = at - Duration::days(crate::app::HEAT_WINDOW_DAYS);
        let rows = crate::store::incidents::cell_counts(
            &st.pool,
            grown(b, want.res),
            since,
            at,
            want.category.as_deref(),
        )
        .await?;
        let mut h = Heat::new(Default::default(), since);
        for (cell, t) in rows {
            if let Ok(c) = CellIndex::try_from(cell as u64) {
                h.add(c, t, want.category.as_deref());
            }
        }
        heat_body(&h, b, &want, at, boundary)
    } else {
        st.world
            .heat()
            .read(|h| heat_body(h, b, &want, at, boundary))
    };
    if let Some(a) = area {
        let snap = st.world.snapshot();
        let a = Some(a);
        body.retain(|c| Position::new(c.lon, c.lat).is_ok_and(|p| in_region(&snap.index, &a, p)));
    }
    let bytes = serde_json::to_vec(&body).expect("heat serialises");
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

struct Period {
    b: Bbox,
    res: u8,
    area: Option<Area>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    category: Option<String>,
    k: u32,
    all: bool,
}

fn period(
    st: &AppState,
    q: &HashMap<String, String>,
    default_days: i64,
) -> Result<Period, ApiError> {
    let now = Utc::now();
    let to = time(q, "to")?.unwrap_or(now);
    let from = time(q, "from")?.unwrap_or(to - Duration::days(default_days));
    if from >= to {
        return Err(ApiError::field("from", "must be before to"));
    }
    if to - from > Duration::days(3 * 366) {
        return Err(ApiError::field(
            "from",
            "the period may span at most three years",
        ));
    }
    let k = match q.get("k") {
        None => 1,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|k| (1..=3).contains(k))
            .ok_or_else(|| ApiError::field("k", format!("must be 1, 2 or 3 rings, got {s:?}")))?,
    };
    Ok(Period {
        b: bbox(st, q)?,
        res: res(q, 9, 7)?,
        area: area(st, q)?,
        from,
        to,
        category: category(q),
        k,
        all: matches!(q.get("all").map(String::as_str), Some("1" | "true")),
    })
}

/// Counts per study cell over [from, to), and the res-10 rows for places.
async fn counts(
    st: &AppState,
    p: &Period,
    cells: &[CellIndex],
) -> Result<(Vec<f64>, Vec<(i64, DateTime<Utc>)>), ApiError> {
    let rows = crate::store::incidents::cell_counts(
        &st.pool,
        grown(p.b, p.res),
        p.from,
        p.to,
        p.category.as_deref(),
    )
    .await?;
    let pos: HashMap<CellIndex, usize> = cells.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let mut x = vec![0.0; cells.len()];
    for (c, _) in &rows {
        if let Some(i) = parent(*c, p.res).and_then(|pc| pos.get(&pc)) {
            x[*i] += 1.0;
        }
    }
    Ok((x, rows))
}

/// `GET /api/v1/hotspots?bbox=&area=&res=&from=&to=&category=&k=&all=`:
/// Getis-Ord Gi* over the study cells (every cell of the area, zeros
/// included), binary k-ring weights with the cell itself, BH-FDR bins.
#[utoipa::path(
    get,
    path = "/api/v1/hotspots",
    tag = "risk",
    summary = "Getis-Ord Gi* hot and cold spots over H3 cells",
    description = "Every H3 cell of the study area (zeros included), binary k-ring weights with the cell itself, two-sided p, Benjamini-Hochberg FDR, bins ±1/±2/±3 (90/95/99 %), and the top repeat places. `from` defaults to 30 days before `to`. Unknown query parameters are refused.",
    params(
        ("bbox" = Option<String>, Query, description = "w,s,e,n WGS-84 (default: the district's box)"),
        ("area" = Option<String>, Query, description = "`township:CODE`, `station:CODE` or `grid:CODE`: only cells whose centre is in that area"),
        ("res" = Option<u8>, Query, description = "H3 resolution 7 to 10, default 9"),
        ("from" = Option<DateTime<Utc>>, Query, description = "RFC 3339, before `to`; the period spans at most three years"),
        ("to" = Option<DateTime<Utc>>, Query, description = "RFC 3339, default now"),
        ("category" = Option<String>, Query, description = "Only this category (default: all)"),
        ("k" = Option<u32>, Query, description = "k-ring weights: 1 (default), 2 or 3 rings"),
        ("all" = Option<String>, Query, description = "`1` or `true`: list every study cell"),
    ),
    responses(
        (status = 200, description = "The Gi* statistics", body = schemas::Hotspots),
        (status = 400, description = "Invalid or unknown query parameter, or a box too large for the resolution (field names it)", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable, or the computation failed; retry", body = schemas::ErrorBody),
    )
)]
pub async fn hotspots(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(
        &q,
        &["bbox", "area", "res", "from", "to", "category", "k", "all"],
    )?;
    let p = period(&st, &q, 30)?;
    let cells = study_cells(&st, p.b, p.res, &p.area)?;
    let (x, rows) = counts(&st, &p, &cells).await?;
    let input: Vec<(CellIndex, f64)> = cells.iter().copied().zip(x.iter().copied()).collect();
    let stats =
        tokio::task::spawn_blocking(move || hotspots::gi_star(&input, p.k, Weighting::Binary))
            .await
            .map_err(|_| ApiError::Unavailable("hotspot computation failed"))?
            .map_err(|e| ApiError::field("query", e.to_string()))?;
    let mut summary = serde_json::Map::new();
    for bin in -3..=3i8 {
        summary.insert(
            bin.to_string(),
            json!(stats.iter().filter(|g| g.bin == bin).count()),
        );
    }
    let list: Vec<Value> = stats
        .iter()
        .filter(|g| p.all || g.value > 0.0 || g.bin != 0)
        .map(|g| {
            let c = centre(g.cell);
            json!({"h3": g.cell.to_string(), "lon": c.lon(), "lat": c.lat(), "count": g.value as u64,
                   "z": g.z, "p": g.p, "p_fdr": g.p_fdr, "bin": g.bin})
        })
        .collect();
    // top places: the res-10 cells with most incidents (≥ 2) in the study region
    let in_study: HashSet<CellIndex> = cells.iter().copied().collect();
    let mut per10: HashMap<i64, u32> = HashMap::new();
    for (c, _) in &rows {
        if parent(*c, p.res).is_some_and(|pc| in_study.contains(&pc)) {
            *per10.entry(*c).or_default() += 1;
        }
    }
    let mut top: Vec<(i64, u32)> = per10.into_iter().filter(|(_, n)| *n >= 2).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(20);
    let ids: Vec<i64> = top.iter().map(|(c, _)| *c).collect();
    let detail =
        crate::store::incidents::places(&st.pool, &ids, p.from, p.to, p.category.as_deref())
            .await?;
    let top_places: Vec<Value> = top
        .iter()
        .filter_map(|(c, n)| {
            let cell = CellIndex::try_from(*c as u64).ok()?;
            let ctr = centre(cell);
            let mine: Vec<&(i64, Option<String>, Option<String>)> =
                detail.iter().filter(|d| d.0 == *c).collect();
            let address = mine.iter().find_map(|d| d.1.clone());
            let mut cats: Vec<String> = mine.iter().filter_map(|d| d.2.clone()).collect();
            cats.sort();
            cats.dedup();
            Some(
                json!({"h3": cell.to_string(), "lon": ctr.lon(), "lat": ctr.lat(), "count": n,
                        "address": address, "categories": cats}),
            )
        })
        .collect();
    Ok(Json(json!({
        "res": p.res, "k": p.k,
        "weights": "binary k-ring, cell itself included (Getis-Ord Gi*); p two-sided normal; bins from Benjamini-Hochberg adjusted p: ±3 < 0.01, ±2 < 0.05, ±1 < 0.10",
        "from": p.from, "to": p.to, "category": p.category,
        "n_cells": cells.len(), "n_incidents": x.iter().sum::<f64>() as u64,
        "bins": summary,
        "cells": list,
        "top_places": top_places,
    })))
}

/// `GET /api/v1/hotspots/emerging?…&step=day|week`: Gi* per period and an
/// emerging-hotspot class per cell (Mann-Kendall trend of its z-scores).
#[utoipa::path(
    get,
    path = "/api/v1/hotspots/emerging",
    tag = "risk",
    summary = "Emerging-hotspot classes over a series of periods",
    description = "New, consecutive, intensifying, persistent, diminishing, sporadic, oscillating, historical; hot and cold; with a Mann-Kendall trend test per cell. Whole steps laid back from `to` (2 to 104); `from` defaults to 12 weeks before `to`. Unknown query parameters are refused.",
    params(
        ("bbox" = Option<String>, Query, description = "w,s,e,n WGS-84 (default: the district's box)"),
        ("area" = Option<String>, Query, description = "`township:CODE`, `station:CODE` or `grid:CODE`: only cells whose centre is in that area"),
        ("res" = Option<u8>, Query, description = "H3 resolution 7 to 10, default 9"),
        ("from" = Option<DateTime<Utc>>, Query, description = "RFC 3339, before `to`; the period spans at most three years"),
        ("to" = Option<DateTime<Utc>>, Query, description = "RFC 3339, default now"),
        ("category" = Option<String>, Query, description = "Only this category (default: all)"),
        ("k" = Option<u32>, Query, description = "k-ring weights: 1 (default), 2 or 3 rings"),
        ("all" = Option<String>, Query, description = "`1` or `true`: list every study cell"),
        ("step" = Option<String>, Query, description = "`week` (default) or `day`"),
    ),
    responses(
        (status = 200, description = "Periods, class counts and classified cells", body = schemas::Emerging),
        (status = 400, description = "Invalid or unknown query parameter (field names it)", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable, or the computation failed; retry", body = schemas::ErrorBody),
    )
)]
pub async fn emerging(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(
        &q,
        &[
            "bbox", "area", "res", "from", "to", "category", "k", "all", "step",
        ],
    )?;
    let p = period(&st, &q, 12 * 7)?;
    let step = match q.get("step").map(String::as_str) {
        None | Some("week") => Duration::days(7),
        Some("day") => Duration::days(1),
        Some(other) => {
            return Err(ApiError::field(
                "step",
                format!("must be day or week, got {other:?}"),
            ))
        }
    };
    // whole periods laid back from `to` (the final period decides the class,
    // so it must be a full one); a partial remainder at the start is dropped
    let n = (p.to - p.from).num_seconds() / step.num_seconds();
    if !(2..=MAX_PERIODS).contains(&n) {
        return Err(ApiError::field(
            "step",
            format!("the period holds {n} whole steps; between 2 and {MAX_PERIODS} are needed"),
        ));
    }
    let mut p = p;
    p.from = p.to - step * n as i32;
    let cells = study_cells(&st, p.b, p.res, &p.area)?;
    let rows = crate::store::incidents::cell_counts(
        &st.pool,
        grown(p.b, p.res),
        p.from,
        p.to,
        p.category.as_deref(),
    )
    .await?;
    let pos: HashMap<CellIndex, usize> = cells.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let mut series = vec![vec![0.0; cells.len()]; n as usize];
    for (c, t) in &rows {
        let k = ((*t - p.from).num_seconds() / step.num_seconds()) as usize;
        if let (Some(i), true) = (
            parent(*c, p.res).and_then(|pc| pos.get(&pc)),
            k < n as usize,
        ) {
            series[k][*i] += 1.0;
        }
    }
    let periods: Vec<Value> = (0..n)
        .map(|i| json!({"from": p.from + step * i as i32, "to": (p.from + step * (i as i32 + 1)).min(p.to)}))
        .collect();
    let cells2 = cells.clone();
    let series2 = series.clone();
    let k = p.k;
    let out = tokio::task::spawn_blocking(move || {
        hotspots::emerging_hotspots(
            &cells2,
            &series2,
            k,
            Weighting::Binary,
            &EmergingParams::default(),
        )
    })
    .await
    .map_err(|_| ApiError::Unavailable("emerging-hotspot computation failed"))?
    .map_err(|e| ApiError::field("query", e.to_string()))?;
    let mut classes = serde_json::Map::new();
    let list: Vec<Value> = out
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let n = classes.get(e.class.as_str()).and_then(Value::as_u64).unwrap_or(0);
            classes.insert(e.class.as_str().to_string(), json!(n + 1));
            if !p.all && e.class == hotspots::EmergingClass::NoPattern {
                return None;
            }
            let c = centre(e.cell);
            Some(json!({"h3": e.cell.to_string(), "lon": c.lon(), "lat": c.lat(), "class": e.class.as_str(),
                        "trend_z": e.trend.z, "trend_p": e.trend.p, "bins": e.bins,
                        "counts": series.iter().map(|s| s[i] as u64).collect::<Vec<_>>()}))
        })
        .collect();
    Ok(Json(json!({
        "res": p.res, "k": p.k, "step_days": step.num_days(), "from": p.from, "to": p.to,
        "rules": "ArcGIS Pro emerging hot spot classes: hot = FDR bin ≥ +1; 'mostly' = ≥ 90 % of periods; trend = Mann-Kendall (α 0.05) of the cell's Gi* z over the periods",
        "periods": periods, "classes": classes, "cells": list,
    })))
}

/// `GET /api/v1/forecast?bbox=&area=&res=&category=&days=28`: expected
/// incidents per cell in the next `days`, by empirical-Bayes shrinkage of
/// the last `days` counts towards the k-ring neighbourhood mean
/// ((n + k·m)/(1 + k), k = 1) — the model that beat naive counts and KDE on
/// real police data (docs/FORECAST.md), on H3 cells here.
#[utoipa::path(
    get,
    path = "/api/v1/forecast",
    tag = "risk",
    summary = "Expected incidents per H3 cell in the next `days`",
    description = "Empirical-Bayes shrinkage of the last `days` counts towards the cell's first-ring mean, k = 1 (the model that beat naive counts and KDE on police.uk data, docs/FORECAST.md). Unknown query parameters are refused.",
    params(
        ("bbox" = Option<String>, Query, description = "w,s,e,n WGS-84 (default: the district's box)"),
        ("area" = Option<String>, Query, description = "`township:CODE`, `station:CODE` or `grid:CODE`: only cells whose centre is in that area"),
        ("res" = Option<u8>, Query, description = "H3 resolution 7 to 10, default 9"),
        ("category" = Option<String>, Query, description = "Only this category (default: all)"),
        ("days" = Option<i64>, Query, description = "1 to 365, default 28"),
        ("all" = Option<String>, Query, description = "`1` or `true`: list every study cell, also those scoring 0"),
    ),
    responses(
        (status = 200, description = "Scores, highest first", body = schemas::Forecast),
        (status = 400, description = "Invalid or unknown query parameter (field names it)", body = schemas::ErrorBody),
        (status = 503, description = "Database busy or unreachable; retry", body = schemas::ErrorBody),
    )
)]
pub async fn forecast(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(&q, &["bbox", "area", "res", "category", "days", "all"])?;
    let days = match q.get("days") {
        None => 28,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=365).contains(d))
            .ok_or_else(|| ApiError::field("days", format!("must be 1 to 365, got {s:?}")))?,
    };
    let mut q2 = q.clone();
    q2.remove("days");
    let now = Utc::now();
    q2.insert("to".into(), now.to_rfc3339());
    q2.insert("from".into(), (now - Duration::days(days)).to_rfc3339());
    let p = period(&st, &q2, days)?;
    let cells = study_cells(&st, p.b, p.res, &p.area)?;
    let (x, _) = counts(&st, &p, &cells).await?;
    let nbs = hotspots::kring_neighbours(&cells, 1)
        .map_err(|e| ApiError::field("query", e.to_string()))?;
    let scores: Vec<f64> = nbs
        .iter()
        .enumerate()
        .map(|(i, nb)| {
            let m = nb.iter().map(|(j, _)| x[*j]).sum::<f64>() / nb.len().max(1) as f64;
            (x[i] + FORECAST_PRIOR_K * m) / (1.0 + FORECAST_PRIOR_K)
        })
        .collect();
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    let list: Vec<Value> = order
        .iter()
        .filter(|i| p.all || scores[**i] > 0.0)
        .map(|&i| {
            let c = centre(cells[i]);
            json!({"h3": cells[i].to_string(), "lon": c.lon(), "lat": c.lat(), "score": scores[i], "count": x[i] as u64})
        })
        .collect();
    Ok(Json(json!({
        "model": format!("empirical Bayes: (n + k·m)/(1 + k), n = incidents in the cell in the last {days} days, m = mean over the cell and its first ring, k = {FORECAST_PRIOR_K}"),
        "res": p.res, "days": days, "from": p.from, "to": p.to, "n_cells": cells.len(),
        "cells": list,
    })))
}
