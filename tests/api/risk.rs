//! Risk: the decayed H3 heat surface (`GET /api/v1/heat`, the stream's
//! `heat` layer, rebuild after a restart, H3 backfill), Gi* hotspots,
//! emerging hotspots and the forecast — against a real PostGIS, with every
//! expected value computed here from what the test posted (cells with h3o,
//! decay with 2^(−age/h)).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Duration as CDuration, Utc};
use h3o::{CellIndex, LatLng, Resolution};
use serde_json::{json, Value};

use crate::helpers::{
    assert_field_error, next_json_within, offset, rfc3339, send_json, spawn_app, townships,
    two_separate_townships, TestApp, WsStream,
};

const LIVE_H_S: f64 = 24.0 * 3600.0;
const RISK_H_S: f64 = 30.0 * 24.0 * 3600.0;

/// `t` rounded to what the wire carries (milliseconds).
fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    ts(&json!(rfc3339(t)))
}

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// The server's convention (docs/RISK.md): the parent of the point's
/// resolution-10 cell (H3 is not geometrically nested, so near a border this
/// can differ from the point's own coarser cell).
fn cell(p: (f64, f64), r: Resolution) -> CellIndex {
    let c10 = LatLng::new(p.1, p.0)
        .expect("valid point")
        .to_cell(Resolution::Ten);
    c10.parent(r).expect("res ≤ 10")
}

fn cell9(p: (f64, f64)) -> CellIndex {
    cell(p, Resolution::Nine)
}

fn centre(c: CellIndex) -> (f64, f64) {
    let ll = LatLng::from(c);
    (ll.lng(), ll.lat())
}

/// An incident body at `p` reported at `at` (exact, ms precision).
fn incident_at(source_id: &str, p: (f64, f64), at: DateTime<Utc>, category: &str) -> Value {
    json!({
        "source": "110",
        "source_id": source_id,
        "reported_at": rfc3339(at),
        "lon": p.0,
        "lat": p.1,
        "category": category,
        "description": "风险测试",
        "address": format!("测试地址{source_id}"),
        "priority": 2,
    })
}

/// Σ 2^(−(at − tᵢ)/h) over the given times.
fn decayed(at: DateTime<Utc>, times: &[DateTime<Utc>], half_life_s: f64) -> f64 {
    times
        .iter()
        .map(|t| (-((at - *t).num_milliseconds() as f64 / 1000.0) / half_life_s).exp2())
        .sum()
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

fn bbox_q(b: [f64; 4]) -> String {
    format!("{},{},{},{}", b[0], b[1], b[2], b[3])
}

/// A box of ± `m` metres around `p`, as [w, s, e, n].
fn around(p: (f64, f64), m: f64) -> [f64; 4] {
    let sw = offset(p, -m, -m);
    let ne = offset(p, m, m);
    [sw.0, sw.1, ne.0, ne.1]
}

/// The body's cells by H3 id.
fn by_h3(body: &Value) -> HashMap<String, Value> {
    body["cells"]
        .as_array()
        .unwrap_or_else(|| panic!("no cells in {body}"))
        .iter()
        .map(|c| (c["h3"].as_str().expect("h3 id").to_string(), c.clone()))
        .collect()
}

async fn heat(app: &TestApp, query: &str) -> Value {
    app.get_json(&format!("/api/v1/heat?{query}"), 200).await
}

/// (inside the district, township code) of a point, from `/api/v1/locate`.
async fn township_of(app: &TestApp, p: (f64, f64)) -> Option<String> {
    let v = app
        .get_json(&format!("/api/v1/locate?lon={}&lat={}", p.0, p.1), 200)
        .await;
    if v["inside"] != true {
        return None;
    }
    v["township"]["code"].as_str().map(String::from)
}

/// Asserts the cells of `body` are exactly `want` (h3 → times), with counts
/// and intensities Σ 2^(−age/h) at the body's `at`, and centres from h3o.
fn assert_cells(body: &Value, want: &HashMap<CellIndex, Vec<DateTime<Utc>>>, h_s: f64, ctx: &str) {
    let at = ts(&body["at"]);
    let got = by_h3(body);
    let want_ids: HashSet<String> = want.keys().map(|c| c.to_string()).collect();
    let got_ids: HashSet<String> = got.keys().cloned().collect();
    assert_eq!(got_ids, want_ids, "{ctx}: cells of {body}");
    let mut max = 0.0f64;
    for (c, times) in want {
        let v = &got[&c.to_string()];
        assert_eq!(v["count"], times.len() as u64, "{ctx}: count of {c} in {v}");
        let want_i = decayed(at, times, h_s);
        let got_i = v["intensity"].as_f64().expect("intensity");
        assert!(
            rel_close(got_i, want_i, 1e-6),
            "{ctx}: intensity of {c}: got {got_i}, want {want_i}"
        );
        let (lon, lat) = centre(*c);
        assert!(
            (v["lon"].as_f64().unwrap() - lon).abs() < 1e-9,
            "{ctx}: {v}"
        );
        assert!(
            (v["lat"].as_f64().unwrap() - lat).abs() < 1e-9,
            "{ctx}: {v}"
        );
        max = max.max(want_i);
    }
    let got_max = body["max_intensity"].as_f64().expect("max_intensity");
    assert!(
        rel_close(got_max, max, 1e-6),
        "{ctx}: max_intensity {got_max}, want {max}"
    );
}

/// A point in township 2 and two more 600 m / 700 m away, in distinct res-9 cells.
fn three_places() -> [(f64, f64); 3] {
    let t = &townships()[2];
    let p0 = (t.seat_lon, t.seat_lat);
    let p1 = offset(p0, 600.0, 0.0);
    let p2 = offset(p0, 0.0, 700.0);
    let cs: HashSet<CellIndex> = [p0, p1, p2].iter().map(|p| cell9(*p)).collect();
    assert_eq!(cs.len(), 3, "the three places share a res-9 cell");
    [p0, p1, p2]
}

// ---- heat ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_cells_counts_decay_surfaces_categories_and_the_past() {
    let app = spawn_app().await;
    let [p0, p1, p2] = three_places();
    let now = ms(Utc::now());
    let h = CDuration::hours;
    // p0: 30 min, 6 h and 30 h ago; p1: 2 days; p2: 3 days, another category
    let t0 = [now - CDuration::minutes(30), now - h(6), now - h(30)];
    let t1 = now - h(48);
    let t2 = now - h(72);
    let mut body: Vec<Value> = t0
        .iter()
        .enumerate()
        .map(|(i, t)| incident_at(&format!("HEAT-A{i}"), p0, *t, "治安"))
        .collect();
    body.push(incident_at("HEAT-B", p1, t1, "治安"));
    body.push(incident_at("HEAT-C", p2, t2, "盗窃"));
    app.post_created(&json!(body)).await;

    let (c0, c1, c2) = (cell9(p0), cell9(p1), cell9(p2));
    let bq = bbox_q(around(p0, 2000.0));
    let all: HashMap<CellIndex, Vec<DateTime<Utc>>> =
        HashMap::from([(c0, t0.to_vec()), (c1, vec![t1]), (c2, vec![t2])]);

    // live surface (default), res 9
    let v = heat(&app, &format!("res=9&bbox={bq}")).await;
    assert_eq!(v["res"], 9, "{v}");
    assert_eq!(v["surface"], "live", "{v}");
    assert_eq!(v["half_life_s"], 86_400, "{v}");
    assert!(v["category"].is_null(), "{v}");
    assert!(
        (ts(&v["at"]) - Utc::now()).num_seconds().abs() < 60,
        "at defaults to now: {v}"
    );
    assert_cells(&v, &all, LIVE_H_S, "live res 9");

    // risk surface: 30-day half-life
    let v = heat(&app, &format!("res=9&bbox={bq}&surface=risk")).await;
    assert_eq!(v["surface"], "risk", "{v}");
    assert_eq!(v["half_life_s"], 30 * 86_400, "{v}");
    assert_cells(&v, &all, RISK_H_S, "risk res 9");

    // res 8: the parents, counts aggregated
    let mut parents: HashMap<CellIndex, Vec<DateTime<Utc>>> = HashMap::new();
    for (c, times) in &all {
        parents
            .entry(c.parent(Resolution::Eight).unwrap())
            .or_default()
            .extend(times);
    }
    let v = heat(&app, &format!("res=8&bbox={bq}")).await;
    assert_cells(&v, &parents, LIVE_H_S, "live res 8");

    // category filter
    let v = heat(&app, &format!("res=9&bbox={bq}&category=盗窃")).await;
    assert_eq!(v["category"], "盗窃", "{v}");
    assert_cells(
        &v,
        &HashMap::from([(c2, vec![t2])]),
        LIVE_H_S,
        "category 盗窃",
    );
    let v = heat(&app, &format!("res=9&bbox={bq}&category=治安&surface=risk")).await;
    assert_cells(
        &v,
        &HashMap::from([(c0, t0.to_vec()), (c1, vec![t1])]),
        RISK_H_S,
        "category 治安",
    );
    let v = heat(&app, &format!("res=9&bbox={bq}&category=没有这类")).await;
    assert_cells(&v, &HashMap::new(), LIVE_H_S, "unknown category");

    // a box elsewhere holds none of them
    let far = around(offset(p0, 20_000.0, 0.0), 1000.0);
    let v = heat(&app, &format!("res=9&bbox={}", bbox_q(far))).await;
    assert_cells(&v, &HashMap::new(), LIVE_H_S, "far box");

    // an explicit `at` in the past (PostGIS path): 20 h ago excludes the
    // incidents of 30 min and 6 h ago; values are at that instant
    let past = now - h(20);
    let v = heat(&app, &format!("res=9&bbox={bq}&at={}", rfc3339(past))).await;
    assert_eq!(ts(&v["at"]), past, "{v}");
    let then: HashMap<CellIndex, Vec<DateTime<Utc>>> =
        HashMap::from([(c0, vec![t0[2]]), (c1, vec![t1]), (c2, vec![t2])]);
    assert_cells(&v, &then, LIVE_H_S, "at 20 h ago");
    let v = heat(
        &app,
        &format!("res=9&bbox={bq}&surface=risk&at={}", rfc3339(past)),
    )
    .await;
    assert_cells(&v, &then, RISK_H_S, "risk at 20 h ago");
    // 2.5 days ago only the 3-day-old one existed
    let v = heat(
        &app,
        &format!("res=9&bbox={bq}&at={}", rfc3339(now - h(60))),
    )
    .await;
    assert_cells(
        &v,
        &HashMap::from([(c2, vec![t2])]),
        LIVE_H_S,
        "at 60 h ago",
    );
    // the past, per category
    let v = heat(
        &app,
        &format!("res=9&bbox={bq}&category=治安&at={}", rfc3339(past)),
    )
    .await;
    assert_cells(
        &v,
        &HashMap::from([(c0, vec![t0[2]]), (c1, vec![t1])]),
        LIVE_H_S,
        "治安 at 20 h ago",
    );

    // an explicit `at` in the future (live surface): decayed further
    let soon = ms(Utc::now() + h(12));
    let v = heat(&app, &format!("res=9&bbox={bq}&at={}", rfc3339(soon))).await;
    assert_eq!(ts(&v["at"]), soon, "{v}");
    assert_cells(&v, &all, LIVE_H_S, "at +12 h");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_boundaries_are_the_h3_cell_rings() {
    let app = spawn_app().await;
    let [p0, p1, _] = three_places();
    let now = ms(Utc::now());
    app.post_created(&json!([
        incident_at("RING-1", p0, now - CDuration::hours(1), "治安"),
        incident_at("RING-2", p1, now - CDuration::hours(2), "治安"),
    ]))
    .await;
    let bq = bbox_q(around(p0, 2000.0));
    for res in [7u8, 9, 10] {
        let v = heat(&app, &format!("res={res}&bbox={bq}&boundary=1")).await;
        let cells = v["cells"].as_array().unwrap();
        assert!(!cells.is_empty(), "{v}");
        for c in cells {
            let id: CellIndex = c["h3"].as_str().unwrap().parse().expect("h3 id");
            assert_eq!(u8::from(id.resolution()), res, "{c}");
            let ring: Vec<(f64, f64)> = c["boundary"]
                .as_array()
                .unwrap_or_else(|| panic!("no boundary in {c}"))
                .iter()
                .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                .collect();
            // 6 vertices, or 7 with the first repeated to close the ring
            let open: Vec<(f64, f64)> = if ring.len() == 7 {
                assert!(
                    (ring[0].0 - ring[6].0).abs() < 1e-12 && (ring[0].1 - ring[6].1).abs() < 1e-12,
                    "a 7-point ring must be closed: {c}"
                );
                ring[..6].to_vec()
            } else {
                assert_eq!(ring.len(), 6, "hexagon ring: {c}");
                ring
            };
            let want: Vec<(f64, f64)> = id.boundary().iter().map(|p| (p.lng(), p.lat())).collect();
            assert_eq!(open.len(), want.len(), "{c}");
            for (a, b) in open.iter().zip(&want) {
                assert!((a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9, "{c}");
            }
        }
        // without boundary=1 there is none
        let v = heat(&app, &format!("res={res}&bbox={bq}")).await;
        assert!(
            v["cells"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c.get("boundary").is_none()),
            "{v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_area_keeps_only_cells_centred_in_the_township() {
    let app = spawn_app().await;
    let (a, b) = two_separate_townships();
    let pa = (a.seat_lon, a.seat_lat);
    let pb = (b.seat_lon, b.seat_lat);
    let now = ms(Utc::now());
    app.post_created(&json!([
        incident_at("AREA-A1", pa, now - CDuration::hours(1), "治安"),
        incident_at(
            "AREA-A2",
            offset(pa, 300.0, 300.0),
            now - CDuration::hours(2),
            "治安"
        ),
        incident_at("AREA-B1", pb, now - CDuration::hours(1), "治安"),
    ]))
    .await;
    for query in [
        format!("res=9&area=township:{}", a.code),
        format!("res=10&area=township:{}&surface=risk", a.code),
        format!(
            "res=9&area=township:{}&at={}",
            a.code,
            rfc3339(now - CDuration::minutes(2))
        ),
    ] {
        let v = heat(&app, &query).await;
        let cells = by_h3(&v);
        assert!(!cells.is_empty(), "{query}: {v}");
        let b_cell = cell(
            pb,
            Resolution::try_from(v["res"].as_u64().unwrap() as u8).unwrap(),
        );
        assert!(
            !cells.contains_key(&b_cell.to_string()),
            "{query}: township {}'s cell is in {v}",
            b.code
        );
        for c in cells.values() {
            let p = (c["lon"].as_f64().unwrap(), c["lat"].as_f64().unwrap());
            assert_eq!(
                township_of(&app, p).await.as_deref(),
                Some(a.code.as_str()),
                "{query}: cell centre {p:?} not in township {}: {c}",
                a.code
            );
        }
    }
    // the seat of A is kept (its cell centre is in A)
    let ca = cell9(pa);
    if township_of(&app, centre(ca)).await.as_deref() == Some(a.code.as_str()) {
        let v = heat(&app, &format!("res=9&area=township:{}", a.code)).await;
        assert!(by_h3(&v).contains_key(&ca.to_string()), "{v}");
    }
    // without an area, both (default box = the district)
    let v = heat(&app, "res=9").await;
    let cells = by_h3(&v);
    assert!(cells.contains_key(&cell9(pb).to_string()), "{v}");
    assert!(cells.contains_key(&ca.to_string()), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_max_intensity_is_over_the_returned_cells_with_an_area() {
    let app = spawn_app().await;
    let (a, b) = two_separate_townships();
    let now = ms(Utc::now());
    let mut body = vec![incident_at("MAX-A", (a.seat_lon, a.seat_lat), now, "治安")];
    for i in 0..5 {
        body.push(incident_at(
            &format!("MAX-B{i}"),
            (b.seat_lon, b.seat_lat),
            now,
            "治安",
        ));
    }
    app.post_created(&json!(body)).await;
    let v = heat(&app, &format!("res=9&area=township:{}", a.code)).await;
    let max_cells = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["intensity"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(max_cells > 0.5, "{v}");
    assert!(
        rel_close(v["max_intensity"].as_f64().unwrap(), max_cells, 1e-9),
        "max_intensity {} but the returned cells' maximum is {max_cells}: {v}",
        v["max_intensity"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_in_the_past_counts_whole_cells_at_the_box_edge() {
    let app = spawn_app().await;
    let p0 = three_places()[0];
    let c0 = cell9(p0);
    let ctr = centre(c0);
    // a point 100 m east of the centre is in the same cell (inscribed radius ≈ 150 m)
    let east = offset(ctr, 0.0, 100.0);
    assert_eq!(cell9(east), c0);
    let now = ms(Utc::now());
    app.post_created(&json!([
        incident_at("EDGE-1", ctr, now - CDuration::minutes(10), "治安"),
        incident_at("EDGE-2", east, now - CDuration::minutes(10), "治安"),
    ]))
    .await;
    // the box ends 50 m east of the centre: the centre is in, EDGE-2 is out
    let mut b = around(ctr, 1000.0);
    b[2] = offset(ctr, 0.0, 50.0).0;
    let bq = bbox_q(b);
    let live = heat(&app, &format!("res=9&bbox={bq}")).await;
    assert_eq!(by_h3(&live)[&c0.to_string()]["count"], 2, "{live}");
    let past = heat(
        &app,
        &format!(
            "res=9&bbox={bq}&at={}",
            rfc3339(now - CDuration::minutes(2))
        ),
    )
    .await;
    assert_eq!(
        by_h3(&past)[&c0.to_string()]["count"],
        2,
        "the same cell two minutes ago: {past}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_rejects_bad_parameters() {
    let app = spawn_app().await;
    let code = &townships()[2].code;
    for (query, field) in [
        ("res=6", "res"),
        ("res=11", "res"),
        ("res=nine", "res"),
        ("surface=hot", "surface"),
        ("area=township", "area"),
        ("area=county:331003", "area"),
        ("area=township:999999999", "area"),
        ("bbox=1,2,3", "bbox"),
        ("at=yesterday", "at"),
        ("colour=red", "colour"),
    ] {
        let r = app.get(&format!("/api/v1/heat?{query}")).await;
        assert_field_error(r, 400, field).await;
    }
    // the valid forms of the same parameters
    for query in [
        "res=7".to_string(),
        "res=10&surface=risk".into(),
        format!("area=township:{code}"),
    ] {
        heat(&app, &query).await;
    }
}

// ---- restart and backfill -----------------------------------------------

/// The heat at `at` for every (res, surface) compared: (query, body).
async fn heat_views(app: &TestApp, bq: &str, at: DateTime<Utc>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for res in [7, 9, 10] {
        for surface in ["live", "risk"] {
            for cat in ["", "&category=盗窃"] {
                let q = format!(
                    "res={res}&bbox={bq}&surface={surface}&at={}{cat}",
                    rfc3339(at)
                );
                let v = heat(app, &q).await;
                out.push((q, v));
            }
        }
    }
    out
}

fn assert_same_heat(before: &[(String, Value)], after: &[(String, Value)], ctx: &str) {
    assert_eq!(before.len(), after.len());
    for ((q, b), (_, a)) in before.iter().zip(after) {
        assert_eq!(a["at"], b["at"], "{ctx} {q}");
        let (bc, ac) = (by_h3(b), by_h3(a));
        let mut bk: Vec<&String> = bc.keys().collect();
        let mut ak: Vec<&String> = ac.keys().collect();
        bk.sort();
        ak.sort();
        assert_eq!(ak, bk, "{ctx} {q}: cells before {b} after {a}");
        assert!(!bk.is_empty(), "{ctx} {q}: no cells");
        for (id, x) in &bc {
            let y = &ac[id];
            assert_eq!(y["count"], x["count"], "{ctx} {q} {id}");
            let (xi, yi) = (
                x["intensity"].as_f64().unwrap(),
                y["intensity"].as_f64().unwrap(),
            );
            assert!(
                rel_close(xi, yi, 1e-9),
                "{ctx} {q} {id}: before {xi} after {yi}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_after_a_restart_equals_heat_before_and_old_rows_are_backfilled() {
    let mut app = spawn_app().await;
    let [p0, p1, p2] = three_places();
    let now = ms(Utc::now());
    let mut body = Vec::new();
    for (i, (p, hours, cat)) in [
        (p0, 1, "治安"),
        (p0, 5, "盗窃"),
        (p0, 26, "治安"),
        (p1, 50, "盗窃"),
        (p2, 24 * 20, "治安"),
        (p2, 24 * 45, "盗窃"),
        (offset(p1, 40.0, 40.0), 3, "治安"),
    ]
    .into_iter()
    .enumerate()
    {
        body.push(incident_at(
            &format!("RST-{i}"),
            p,
            now - CDuration::hours(hours),
            cat,
        ));
    }
    app.post_created(&json!(body)).await;
    let bq = bbox_q(around(p0, 3000.0));
    // `at` a minute ahead: the live surface on both sides of the restart
    let at = ms(Utc::now() + CDuration::minutes(1));
    let before = heat_views(&app, &bq, at).await;

    app.restart().await;
    let after = heat_views(&app, &bq, at).await;
    assert_same_heat(&before, &after, "after restart");

    // rows from before migration 0004 have no H3 cell: filled at start-up
    let n = sqlx::query("update incident set h3_r10 = null")
        .execute(&app.pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 7);
    app.restart().await;
    let rows: Vec<(Option<i64>, f64, f64)> =
        sqlx::query_as("select h3_r10, ST_X(geom), ST_Y(geom) from incident order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 7);
    for (h3, lon, lat) in rows {
        let want = u64::from(cell((lon, lat), Resolution::Ten)) as i64;
        assert_eq!(h3, Some(want), "h3_r10 of ({lon}, {lat})");
    }
    let backfilled = heat_views(&app, &bq, at).await;
    assert_same_heat(&before, &backfilled, "after the H3 backfill");
    // the PostGIS path sees them too (a past `at`)
    let past = heat(
        &app,
        &format!("res=9&bbox={bq}&at={}", rfc3339(now - CDuration::hours(2))),
    )
    .await;
    let counts: u64 = past["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counts, 6, "incidents reported by 2 h ago: {past}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_of_a_backfilled_old_incident_is_the_same_after_a_restart() {
    let mut app = spawn_app().await;
    let p0 = three_places()[0];
    let now = ms(Utc::now());
    app.post_created(&json!([
        incident_at("OLD-1", p0, now - CDuration::days(100), "盗窃"),
        incident_at("OLD-2", p0, now - CDuration::hours(1), "盗窃"),
    ]))
    .await;
    let bq = bbox_q(around(p0, 2000.0));
    let at = ms(Utc::now() + CDuration::minutes(1));
    let before = heat_views(&app, &bq, at).await;
    app.restart().await;
    let after = heat_views(&app, &bq, at).await;
    assert_same_heat(&before, &after, "after restart");
}

// ---- stream heat layer --------------------------------------------------

async fn ws_heat(app: &TestApp, bbox: [f64; 4], heat: Value) -> (WsStream, Value) {
    let mut ws = app.ws_connect().await;
    send_json(
        &mut ws,
        json!({"type": "subscribe", "bbox": bbox, "layers": ["heat"], "heat": heat}),
    )
    .await;
    let snap = next_json_within(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    (ws, snap)
}

/// Reads messages until a `heat` one holds `cell` with `count`; panics after `wait`.
async fn heat_with(
    ws: &mut WsStream,
    cell: CellIndex,
    count: u64,
    wait: Duration,
) -> (Value, Value) {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + wait;
    let mut seen = Vec::new();
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(other) => panic!("socket ended ({other:?}); saw {seen:?}"),
            Err(_) => {
                panic!("no heat message with {cell} count {count} within {wait:?}; saw {seen:?}")
            }
        };
        let tokio_tungstenite::tungstenite::Message::Text(t) = msg else {
            continue;
        };
        let m: Value = serde_json::from_str(&t).expect("json");
        if m["type"] == "heat" {
            if let Some(c) = by_h3(&m).get(&cell.to_string()) {
                if c["count"] == count {
                    return (m.clone(), c.clone());
                }
            }
        }
        seen.push(m);
    }
}

/// Every message within `wait` (none expected to close the socket).
async fn drain(ws: &mut WsStream, wait: Duration) -> Vec<Value> {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            out.push(serde_json::from_str(&t).expect("json"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_heat_layer_snapshot_and_deltas() {
    let app = spawn_app().await;
    let p0 = three_places()[0];
    let (c9, c8) = (cell9(p0), cell(p0, Resolution::Eight));
    let now = ms(Utc::now());
    let t1 = now - CDuration::hours(3);
    app.post_created(&json!([incident_at("WS-1", p0, t1, "治安")]))
        .await;
    let b = around(p0, 2000.0);

    let (mut ws9, snap) = ws_heat(
        &app,
        b,
        json!({"res": 9, "surface": "live", "category": null}),
    )
    .await;
    let h = &snap["heat"];
    assert_eq!(h["res"], 9, "{snap}");
    assert_eq!(h["surface"], "live", "{snap}");
    assert!(h["cells"].is_array(), "{snap}");
    assert_cells(
        h,
        &HashMap::from([(c9, vec![t1])]),
        LIVE_H_S,
        "snapshot heat",
    );
    assert_eq!(
        snap["incidents"]["features"].as_array().map(Vec::len),
        Some(0),
        "heat-only subscriber got incidents: {snap}"
    );
    let (mut ws8, snap8) = ws_heat(&app, b, json!({"res": 8, "surface": "risk"})).await;
    assert_cells(
        &snap8["heat"],
        &HashMap::from([(c8, vec![t1])]),
        RISK_H_S,
        "res-8 risk snapshot",
    );
    let (mut wsi, snapi) = app.ws_subscribe_layers(b, &["incidents"]).await;
    assert!(
        snapi.get("heat").is_none(),
        "incidents-only snapshot has heat: {snapi}"
    );
    // a heat subscriber elsewhere sees nothing of it
    let (mut wsfar, _) = ws_heat(
        &app,
        around(offset(p0, 20_000.0, 0.0), 1000.0),
        json!({"res": 9}),
    )
    .await;

    let t2 = ms(Utc::now() - CDuration::minutes(1));
    app.post_created(&json!([incident_at("WS-2", p0, t2, "治安")]))
        .await;
    let (m, c) = heat_with(&mut ws9, c9, 2, Duration::from_secs(3)).await;
    assert_eq!(m["res"], 9, "{m}");
    assert_eq!(m["surface"], "live", "{m}");
    assert_eq!(m["half_life_s"], 86_400, "{m}");
    assert!(
        m["seq"].as_u64().unwrap() > snap["seq"].as_u64().unwrap(),
        "{m}"
    );
    let want = decayed(ts(&m["at"]), &[t1, t2], LIVE_H_S);
    assert!(
        rel_close(c["intensity"].as_f64().unwrap(), want, 1e-6),
        "{c} want {want}"
    );
    for other in m["cells"].as_array().unwrap() {
        let id: CellIndex = other["h3"].as_str().unwrap().parse().unwrap();
        assert_eq!(u8::from(id.resolution()), 9, "{m}");
    }
    let (m8, c8v) = heat_with(&mut ws8, c8, 2, Duration::from_secs(3)).await;
    assert_eq!(m8["res"], 8, "{m8}");
    assert_eq!(m8["surface"], "risk", "{m8}");
    let want = decayed(ts(&m8["at"]), &[t1, t2], RISK_H_S);
    assert!(
        rel_close(c8v["intensity"].as_f64().unwrap(), want, 1e-6),
        "{c8v}"
    );

    let got = drain(&mut wsi, Duration::from_millis(2500)).await;
    assert!(got.iter().any(|m| m["type"] == "incident"), "{got:?}");
    assert!(
        got.iter().all(|m| m["type"] != "heat"),
        "incidents-only subscriber got heat: {got:?}"
    );
    let got = drain(&mut wsfar, Duration::from_millis(500)).await;
    assert!(
        got.iter().all(|m| m["type"] != "heat"),
        "subscriber of another box got heat: {got:?}"
    );

    // bad heat options
    for (heat, field) in [
        (json!({"res": 6}), "heat.res"),
        (json!({"res": 11}), "heat.res"),
        (json!({"surface": "hot"}), "heat.surface"),
        (json!({"category": 3}), "heat.category"),
        (json!("res 8"), "heat"),
    ] {
        let mut ws = app.ws_connect().await;
        send_json(
            &mut ws,
            json!({"type": "subscribe", "bbox": b, "layers": ["heat"], "heat": heat}),
        )
        .await;
        let e = next_json_within(&mut ws, Duration::from_secs(5)).await;
        assert_eq!(e["type"], "error", "{heat}: {e}");
        assert_eq!(e["field"], field, "{heat}: {e}");
    }
}

// ---- hotspots and forecast ----------------------------------------------

struct Seeded {
    code: String,
    cluster: CellIndex,
    cluster_r10: CellIndex,
    address: String,
    /// Posted incidents whose res-9 cell centre is in the township.
    in_area: usize,
    /// res-9 cell → incidents posted there (all of them).
    per_cell: HashMap<CellIndex, usize>,
}

/// 30 incidents within 40 m of one res-9 cell centre in township 2, 20
/// scattered 0.7–1.8 km around it, 5 in another township; all in the last
/// 10 days.
async fn seed_cluster(app: &TestApp, tag: &str) -> Seeded {
    let t = &townships()[2];
    let cluster = cell9((t.seat_lon, t.seat_lat));
    let ctr = centre(cluster);
    assert_eq!(
        township_of(app, ctr).await.as_deref(),
        Some(t.code.as_str()),
        "the seat's cell centre is in its township"
    );
    let now = ms(Utc::now());
    let mut body = Vec::new();
    let mut points = Vec::new();
    let address = "西城街道测试路1号".to_string();
    for i in 0..30 {
        let a = i as f64 * 0.7;
        let r = 40.0 * (i as f64 / 30.0);
        let p = offset(ctr, r * a.cos(), r * a.sin());
        let mut b = incident_at(
            &format!("{tag}-C{i}"),
            p,
            now - CDuration::hours(5 * i + 1),
            "盗窃",
        );
        b["address"] = json!(address);
        body.push(b);
        points.push(p);
    }
    for i in 0..20 {
        let a = i as f64 * 2.399_963; // golden angle
        let r = 700.0 + 1100.0 * (i as f64 / 19.0);
        let p = offset(ctr, r * a.cos(), r * a.sin());
        body.push(incident_at(
            &format!("{tag}-S{i}"),
            p,
            now - CDuration::hours(11 * i + 2),
            "治安",
        ));
        points.push(p);
    }
    let other = townships()
        .iter()
        .find(|o| o.code != t.code && !o.seat_in_bbox(t.bbox) && !t.seat_in_bbox(o.bbox))
        .expect("another township");
    for i in 0..5 {
        let p = offset((other.seat_lon, other.seat_lat), 30.0 * i as f64, 0.0);
        body.push(incident_at(
            &format!("{tag}-O{i}"),
            p,
            now - CDuration::hours(3 * i + 1),
            "治安",
        ));
        points.push(p);
    }
    app.post_created(&json!(body)).await;
    let mut per_cell: HashMap<CellIndex, usize> = HashMap::new();
    for p in &points {
        *per_cell.entry(cell9(*p)).or_default() += 1;
    }
    assert_eq!(per_cell[&cluster], 30, "the cluster spans one res-9 cell");
    let mut in_area = 0;
    for (c, n) in &per_cell {
        if township_of(app, centre(*c)).await.as_deref() == Some(t.code.as_str()) {
            in_area += n;
        }
    }
    assert!(in_area > 30 && in_area <= 50, "{in_area}");
    Seeded {
        code: t.code.clone(),
        cluster,
        cluster_r10: cell(ctr, Resolution::Ten),
        address,
        in_area,
        per_cell,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotspots_find_the_cluster_with_fdr_and_top_places() {
    let app = spawn_app().await;
    let s = seed_cluster(&app, "HOT").await;
    let area = format!("area=township:{}", s.code);
    let v = app
        .get_json(&format!("/api/v1/hotspots?res=9&{area}"), 200)
        .await;
    assert_eq!(v["res"], 9, "{v}");
    assert_eq!(v["k"], 1, "{v}");
    assert_eq!(v["n_incidents"].as_f64(), Some(s.in_area as f64), "{v}");
    let n_cells = v["n_cells"].as_u64().unwrap();
    assert!(n_cells > 100, "{v}");
    let bins_total: u64 = (-3..=3)
        .map(|b| v["bins"][b.to_string()].as_u64().unwrap())
        .sum();
    assert_eq!(bins_total, n_cells, "{v}");
    let cells = by_h3(&v);
    let c = cells
        .get(&s.cluster.to_string())
        .unwrap_or_else(|| panic!("cluster cell missing: {v}"));
    assert_eq!(c["count"].as_f64(), Some(30.0), "{c}");
    assert_eq!(c["bin"], 3, "{c}");
    assert!(c["z"].as_f64().unwrap() > 3.0, "{c}");
    assert!(c["p_fdr"].as_f64().unwrap() < 0.01, "{c}");
    assert!(
        c["p"].as_f64().unwrap() <= c["p_fdr"].as_f64().unwrap(),
        "{c}"
    );
    // the cluster's z is the largest
    let zmax = cells
        .values()
        .map(|c| c["z"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert!(c["z"].as_f64().unwrap() >= zmax - 1e-9, "{c} vs max {zmax}");
    // every listed cell lies in the township
    for c in cells.values() {
        let p = (c["lon"].as_f64().unwrap(), c["lat"].as_f64().unwrap());
        assert_eq!(
            township_of(&app, p).await.as_deref(),
            Some(s.code.as_str()),
            "hotspot cell outside the area: {c}"
        );
        let id: CellIndex = c["h3"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            c["count"].as_f64().unwrap(),
            s.per_cell.get(&id).copied().unwrap_or(0) as f64,
            "{c}"
        );
    }
    // Gi* z of the cluster cell, recomputed from the all=1 counts
    let all = app
        .get_json(&format!("/api/v1/hotspots?res=9&{area}&all=1"), 200)
        .await;
    let counts: HashMap<CellIndex, f64> = all["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["h3"].as_str().unwrap().parse().unwrap(),
                c["count"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts.len() as u64, n_cells, "all=1 lists every study cell");
    let n = counts.len() as f64;
    let mean = counts.values().sum::<f64>() / n;
    let sd = (counts.values().map(|x| x * x).sum::<f64>() / n - mean * mean).sqrt();
    let disk: Vec<CellIndex> = s
        .cluster
        .grid_disk::<Vec<_>>(1)
        .into_iter()
        .filter(|c| counts.contains_key(c))
        .collect();
    let w = disk.len() as f64;
    let sum: f64 = disk.iter().map(|c| counts[c]).sum();
    let z = (sum - mean * w) / (sd * ((n * w - w * w) / (n - 1.0)).sqrt());
    assert!(
        rel_close(c["z"].as_f64().unwrap(), z, 1e-9),
        "z {} want {z}",
        c["z"]
    );

    // top places: the cluster's res-10 cell first, with the posted address
    let top = v["top_places"].as_array().expect("top_places");
    assert!(!top.is_empty(), "{v}");
    assert_eq!(top[0]["h3"], s.cluster_r10.to_string(), "{v}");
    assert_eq!(top[0]["count"], 30, "{v}");
    assert_eq!(top[0]["address"], s.address.as_str(), "{v}");
    assert_eq!(top[0]["categories"], json!(["盗窃"]), "{v}");
    assert!(top.iter().all(|t| t["count"].as_u64().unwrap() >= 2), "{v}");

    // a bbox study region around the cluster finds it too
    let bq = bbox_q(around(centre(s.cluster), 1500.0));
    let v = app
        .get_json(&format!("/api/v1/hotspots?res=9&bbox={bq}"), 200)
        .await;
    assert_eq!(by_h3(&v)[&s.cluster.to_string()]["bin"], 3, "{v}");

    // a period before them: nothing hot, nothing counted
    let now = Utc::now();
    let (from, to) = (
        rfc3339(now - CDuration::days(60)),
        rfc3339(now - CDuration::days(20)),
    );
    let v = app
        .get_json(
            &format!("/api/v1/hotspots?res=9&{area}&from={from}&to={to}"),
            200,
        )
        .await;
    assert_eq!(v["n_incidents"].as_f64(), Some(0.0), "{v}");
    for b in ["1", "2", "3"] {
        assert_eq!(v["bins"][b], 0, "{v}");
    }
    assert!(v["top_places"].as_array().unwrap().is_empty(), "{v}");
    // category filter: the scattered 治安 ones make no hotspot
    let v = app
        .get_json(&format!("/api/v1/hotspots?res=9&{area}&category=治安"), 200)
        .await;
    assert_eq!(
        v["n_incidents"].as_f64(),
        Some((s.in_area - 30) as f64),
        "{v}"
    );
    assert!(
        !by_h3(&v).contains_key(&s.cluster.to_string())
            || by_h3(&v)[&s.cluster.to_string()]["bin"] != 3,
        "{v}"
    );

    // bad parameters
    let to = rfc3339(now - CDuration::days(2));
    for (query, field) in [
        ("k=0".to_string(), "k"),
        ("k=4".into(), "k"),
        ("k=x".into(), "k"),
        (format!("from={to}&to={to}"), "from"),
        (format!("from={}&to={to}", rfc3339(now)), "from"),
        ("res=6".into(), "res"),
        ("area=township:nope".into(), "area"),
        ("step=day".into(), "step"),
    ] {
        let r = app.get(&format!("/api/v1/hotspots?{query}")).await;
        assert_field_error(r, 400, field).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_ranks_the_cluster_first_with_the_empirical_bayes_score() {
    let app = spawn_app().await;
    let s = seed_cluster(&app, "FC").await;
    let area = format!("area=township:{}", s.code);
    let v = app
        .get_json(&format!("/api/v1/forecast?res=9&days=28&{area}"), 200)
        .await;
    assert_eq!(v["days"], 28, "{v}");
    assert_eq!(v["res"], 9, "{v}");
    let list = v["cells"].as_array().unwrap();
    assert!(!list.is_empty(), "{v}");
    assert_eq!(list[0]["h3"], s.cluster.to_string(), "{v}");
    for w in list.windows(2) {
        assert!(
            w[0]["score"].as_f64().unwrap() >= w[1]["score"].as_f64().unwrap(),
            "not sorted by score: {} then {}",
            w[0],
            w[1]
        );
    }
    // study cells and counts from the hotspots endpoint over the same days
    let all = app
        .get_json(
            &format!(
                "/api/v1/hotspots?res=9&{area}&all=1&from={}",
                rfc3339(Utc::now() - CDuration::days(28))
            ),
            200,
        )
        .await;
    let counts: HashMap<CellIndex, f64> = all["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["h3"].as_str().unwrap().parse().unwrap(),
                c["count"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(v["n_cells"].as_u64(), Some(counts.len() as u64), "{v}");
    let score = |c: CellIndex| {
        let disk: Vec<CellIndex> = c
            .grid_disk::<Vec<_>>(1)
            .into_iter()
            .filter(|d| counts.contains_key(d))
            .collect();
        let m = disk.iter().map(|d| counts[d]).sum::<f64>() / disk.len() as f64;
        (counts[&c] + m) / 2.0
    };
    // the top cell by hand: 30 in the cell, its ring from what was posted
    let ring_n: usize = s
        .cluster
        .grid_disk::<Vec<_>>(1)
        .iter()
        .map(|d| s.per_cell.get(d).copied().unwrap_or(0))
        .sum();
    let top = list[0]["score"].as_f64().unwrap();
    assert!(
        rel_close(top, (30.0 + ring_n as f64 / 7.0) / 2.0, 1e-12),
        "{}",
        list[0]
    );
    for c in list {
        let id: CellIndex = c["h3"].as_str().unwrap().parse().unwrap();
        assert!(
            counts.contains_key(&id),
            "forecast cell outside the study area: {c}"
        );
        assert!(
            rel_close(c["score"].as_f64().unwrap(), score(id), 1e-12),
            "{c} want {}",
            score(id)
        );
        assert_eq!(c["count"].as_f64(), Some(counts[&id]), "{c}");
        assert!(c["score"].as_f64().unwrap() > 0.0, "{c}");
    }
    // every cell with a positive score is listed (without all=1)
    let positive = counts.keys().filter(|c| score(**c) > 0.0).count();
    assert_eq!(list.len(), positive, "{v}");

    for (query, field) in [
        ("days=0", "days"),
        ("days=366", "days"),
        ("days=x", "days"),
        ("res=11", "res"),
        ("from=2026-01-01T00:00:00Z", "from"),
    ] {
        let r = app.get(&format!("/api/v1/forecast?{query}")).await;
        assert_field_error(r, 400, field).await;
    }
}

// ---- emerging hotspots --------------------------------------------------

/// One place with 1..=8 incidents on each of the last 8 days (period i of
/// [from + i days, from + i + 1 days) gets i + 1), 4 scattered singles.
async fn seed_daily(app: &TestApp, from: DateTime<Utc>) -> CellIndex {
    let t = &townships()[2];
    let c = cell9((t.seat_lon, t.seat_lat));
    let ctr = centre(c);
    let mut body = Vec::new();
    for day in 0..8i64 {
        for j in 0..=day {
            let at = from + CDuration::days(day) + CDuration::hours(2 + j);
            let p = offset(ctr, 5.0 * j as f64, 0.0);
            body.push(incident_at(&format!("EM-{day}-{j}"), p, at, "治安"));
        }
    }
    for i in 0..4 {
        let p = offset(ctr, 1200.0, 0.0);
        let p = offset(p, 0.0, 200.0 * i as f64);
        body.push(incident_at(
            &format!("EM-S{i}"),
            p,
            from + CDuration::days(2 * i) + CDuration::hours(5),
            "治安",
        ));
    }
    app.post_created(&json!(body)).await;
    c
}

fn check_emerging(v: &Value, c: CellIndex, periods: usize) {
    assert_eq!(v["step_days"], 1, "{v}");
    assert_eq!(v["periods"].as_array().map(Vec::len), Some(periods), "{v}");
    let cells = by_h3(v);
    let e = cells
        .get(&c.to_string())
        .unwrap_or_else(|| panic!("the growing cell is not classified: {v}"));
    let class = e["class"].as_str().unwrap();
    assert!(class.ends_with("_hot"), "{e}");
    assert_eq!(e["counts"], json!((1..=8).collect::<Vec<u64>>()), "{e}");
    assert_eq!(e["bins"].as_array().map(Vec::len), Some(periods), "{e}");
    assert!(v["classes"][class].as_u64().unwrap() >= 1, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emerging_hotspots_classify_a_growing_place_as_hot() {
    let app = spawn_app().await;
    let to = ms(Utc::now());
    let from = to - CDuration::days(8);
    let c = seed_daily(&app, from).await;
    let area = format!("area=township:{}", townships()[2].code);
    let v = app
        .get_json(
            &format!(
                "/api/v1/hotspots/emerging?res=9&step=day&from={}&to={}&{area}",
                rfc3339(from),
                rfc3339(to)
            ),
            200,
        )
        .await;
    check_emerging(&v, c, 8);
    let p = v["periods"].as_array().unwrap();
    assert_eq!(ts(&p[0]["from"]), from, "{v}");
    assert_eq!(ts(&p[7]["to"]), to, "{v}");
    // all=1 lists every study cell; the classes add up
    let all = app
        .get_json(
            &format!(
                "/api/v1/hotspots/emerging?res=9&step=day&from={}&to={}&{area}&all=1",
                rfc3339(from),
                rfc3339(to)
            ),
            200,
        )
        .await;
    let n: u64 = all["classes"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(all["cells"].as_array().unwrap().len() as u64, n, "{all}");

    // the step must give 2–104 periods
    let end = rfc3339(to);
    for q in [
        format!(
            "step=day&from={}&to={end}",
            rfc3339(to - CDuration::days(1))
        ),
        format!(
            "step=week&from={}&to={end}",
            rfc3339(to - CDuration::days(7))
        ),
        format!(
            "step=day&from={}&to={end}",
            rfc3339(to - CDuration::days(105))
        ),
        format!(
            "step=week&from={}&to={end}",
            rfc3339(to - CDuration::days(7 * 105))
        ),
        "step=month".to_string(),
    ] {
        let r = app
            .get(&format!("/api/v1/hotspots/emerging?{q}&{area}"))
            .await;
        assert_field_error(r, 400, "step").await;
    }
    for q in [
        format!(
            "step=day&from={}&to={end}",
            rfc3339(to - CDuration::days(2))
        ),
        format!(
            "step=day&from={}&to={end}",
            rfc3339(to - CDuration::days(104))
        ),
    ] {
        app.get_json(&format!("/api/v1/hotspots/emerging?{q}&{area}"), 200)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emerging_hotspots_with_only_from_take_whole_days_up_to_now() {
    let app = spawn_app().await;
    let from = ms(Utc::now() - CDuration::days(8));
    let c = seed_daily(&app, from).await;
    // `to` is the server's now: take `from` just before asking (the data sit
    // hours inside their days, so the few ms of seeding do not matter)
    let from = ms(Utc::now() - CDuration::days(8));
    let v = app
        .get_json(
            &format!(
                "/api/v1/hotspots/emerging?res=9&step=day&from={}&area=township:{}",
                rfc3339(from),
                townships()[2].code
            ),
            200,
        )
        .await;
    check_emerging(&v, c, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emerging_hotspots_with_a_ragged_span_are_classified_by_whole_periods() {
    let app = spawn_app().await;
    let to = ms(Utc::now());
    let from = to - CDuration::days(8);
    let c = seed_daily(&app, from).await;
    // `from` ten seconds earlier than the data's first day
    let v = app
        .get_json(
            &format!(
                "/api/v1/hotspots/emerging?res=9&step=day&from={}&to={}&area=township:{}",
                rfc3339(from - CDuration::seconds(10)),
                rfc3339(to),
                townships()[2].code
            ),
            200,
        )
        .await;
    let periods = v["periods"].as_array().unwrap();
    let last = periods.last().unwrap();
    assert_eq!(
        (ts(&last["to"]) - ts(&last["from"])).num_days(),
        1,
        "the final period is not a whole step: {last}"
    );
    let e = &by_h3(&v)[&c.to_string()];
    assert!(e["class"].as_str().unwrap().ends_with("_hot"), "{e}");
}
