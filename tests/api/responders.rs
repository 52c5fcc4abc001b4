//! Responders: roster, positions (JSON and OsmAnd), nearest / candidates and
//! the WebSocket `responders` layer. Assignments, timeouts and restarts are
//! in `dispatch.rs`.

use chrono::{DateTime, Duration as CDuration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::helpers::{
    assert_field_error, haversine, next_json, offset, position_body, responder_body, send_json,
    spawn_app, spawn_app_with, townships, TestApp, WsStream,
};

/// A point inside the district (a township seat), as (lon, lat).
pub fn base() -> (f64, f64) {
    let t = &townships()[2];
    (t.seat_lon, t.seat_lat)
}

/// POSTs roster entries, asserting `status`; returns the body.
pub async fn post_roster(app: &TestApp, body: Value, status: u16) -> Value {
    app.post_expect("/api/v1/responders", &body, status).await
}

/// POSTs positions, asserting `status`; returns the body.
pub async fn post_positions(app: &TestApp, body: Value, status: u16) -> Value {
    app.post_expect("/api/v1/responders/positions", &body, status)
        .await
}

/// Adds `id` of `kind` and gives it one fix at `at`, `secs_ago` seconds old.
pub async fn place(app: &TestApp, id: &str, kind: &str, at: (f64, f64), secs_ago: i64) {
    post_roster(app, responder_body(id, kind), 201).await;
    fix(app, id, at, Utc::now() - CDuration::seconds(secs_ago)).await;
}

/// One accepted fix.
pub async fn fix(app: &TestApp, id: &str, at: (f64, f64), ts: DateTime<Utc>) {
    let v = post_positions(app, json!([position_body(id, at, ts)]), 200).await;
    assert_eq!(v["accepted"], 1, "fix for {id} not accepted: {v}");
}

/// (lon, lat) of a responder Feature's geometry.
pub fn coords(f: &Value) -> (f64, f64) {
    let c = &f["geometry"]["coordinates"];
    (
        c[0].as_f64().unwrap_or_else(|| panic!("no lon in {f}")),
        c[1].as_f64().unwrap_or_else(|| panic!("no lat in {f}")),
    )
}

pub fn close(a: (f64, f64), b: (f64, f64)) -> bool {
    (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9
}

fn ids(fc: &Value) -> Vec<String> {
    let mut v: Vec<String> = fc["features"]
        .as_array()
        .unwrap_or_else(|| panic!("not a FeatureCollection: {fc}"))
        .iter()
        .map(|f| f["id"].as_str().expect("feature id").to_string())
        .collect();
    v.sort();
    v
}

fn ts_of(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

async fn stats(app: &TestApp) -> Value {
    app.get_json("/api/v1/stats/positions", 200).await
}

async fn responder_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from responder")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

// ---- 1. roster ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_upsert_masks_phones_and_resend_is_not_created() {
    let app = spawn_app().await;
    let one = json!({
        "id": "RO-P1", "name": "张三", "type": "police", "phone": "+86 138 1234 5678",
        "skills": ["driving"], "station": "ST-1", "department": "城关派出所", "shift": "白班",
    });
    let f = post_roster(&app, one.clone(), 201).await;
    assert_eq!(f["type"], "Feature", "{f}");
    assert_eq!(f["id"], "RO-P1");
    assert_eq!(f["created"], true, "{f}");
    assert!(f["geometry"].is_null(), "no fix yet: {f}");
    let p = &f["properties"];
    assert_eq!(p["phone_masked"], "138****5678", "{f}");
    assert_eq!(p["type"], "police");
    assert_eq!(p["status"], "available");
    assert_eq!(p["skills"], json!(["driving"]));
    assert_eq!(p["station"], "ST-1");
    assert!(!f.to_string().contains("12345678"), "clear number in {f}");

    let many = post_roster(
        &app,
        json!([
            {"id": "RO-G1", "name": "李四", "type": "grid", "phone": "139-8765-4321"},
            {"id": "RO-L1", "name": "王五", "type": "lawyer", "status": "off_duty"},
        ]),
        201,
    )
    .await;
    let list = many.as_array().expect("an array answer for an array body");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], "RO-G1");
    assert_eq!(list[0]["properties"]["phone_masked"], "139****4321");
    assert_eq!(list[1]["properties"]["status"], "off_duty");
    assert!(list.iter().all(|f| f["created"] == true), "{many}");

    // the clear numbers are in no column of any stored row (nor the event log)
    let rows: Vec<String> = sqlx::query_scalar("select row_to_json(r)::text from responder r")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let logs: Vec<String> = sqlx::query_scalar("select row_to_json(e)::text from event_log e")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for row in rows.iter().chain(&logs) {
        for clear in ["12345678", "1234 5678", "87654321", "8765-4321"] {
            assert!(!row.contains(clear), "clear phone {clear:?} stored: {row}");
        }
    }
    let masked: Vec<Option<String>> =
        sqlx::query_scalar("select phone_masked from responder order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        masked,
        vec![
            Some("139****4321".to_string()),
            None,
            Some("138****5678".to_string())
        ]
    );

    // resend: 200, not created, still one row
    let again = post_roster(&app, one, 200).await;
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(again["properties"]["phone_masked"], "138****5678");
    // a batch with one new entry is 201 and says which is which
    let mixed = post_roster(
        &app,
        json!([
            responder_body("RO-G1", "grid"),
            responder_body("RO-X1", "fire")
        ]),
        201,
    )
    .await;
    assert_eq!(mixed[0]["created"], false, "{mixed}");
    assert_eq!(mixed[1]["created"], true, "{mixed}");
    assert_eq!(responder_count(&app).await, 4);
    let created: i64 =
        sqlx::query_scalar("select count(*) from event_log where kind = 'responder.created'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(created, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_roster_rows_are_refused_with_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    post_roster(&app, responder_body("RB-1", "police"), 201).await;
    let cases = [
        (
            json!([responder_body("RB-2", "police"), {"id": "RB-3", "name": "x", "type": "tank"}]),
            "[1].type",
        ),
        (
            json!([
                responder_body("RB-4", "police"),
                responder_body("RB-4", "grid")
            ]),
            "[1].id",
        ),
        (
            json!([{"id": "RB-5", "name": "x", "type": "police", "colour": "red"}]),
            "[0].colour",
        ),
        (
            json!({"id": "RB-6", "name": "x", "type": "police", "colour": "red"}),
            "colour",
        ),
        (json!({"id": "RB 7", "name": "x", "type": "police"}), "id"),
        (json!({"id": "RB-8", "type": "police"}), "name"),
        (
            json!({"id": "RB-9", "name": "x", "type": "police", "phone": "call me"}),
            "phone",
        ),
        (
            json!({"id": "RB-10", "name": "x", "type": "police", "status": "dispatched"}),
            "status",
        ),
        (
            json!([responder_body("RB-11", "grid"), {"id": "RB-12", "name": "x", "type": "grid", "skills": "cpr"}]),
            "[1].skills",
        ),
        (json!([]), "body"),
        (json!("RB-13"), "body"),
    ];
    for (body, field) in cases {
        let r = app.post_json("/api/v1/responders", &body).await;
        let e = assert_field_error(r, 400, field).await;
        if field == "[1].id" {
            assert!(
                e["reason"].as_str().unwrap().contains("[0]"),
                "duplicate reason names the first: {e}"
            );
        }
    }
    // all or nothing: none of the good rows of the refused batches exist
    assert_eq!(responder_count(&app).await, 1);
    let ids: Vec<String> = sqlx::query_scalar("select id from responder")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(ids, vec!["RB-1"]);
    let fc = app.get_json("/api/v1/responders", 200).await;
    assert_eq!(self::ids(&fc), vec!["RB-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_list_filters_and_get_by_id() {
    let app = spawn_app().await;
    let b = base();
    post_roster(
        &app,
        json!([
            {"id": "RL-P1", "name": "a", "type": "police", "skills": ["driving"], "station": "S1"},
            {"id": "RL-P2", "name": "b", "type": "police", "station": "S2"},
            {"id": "RL-G1", "name": "c", "type": "grid", "skills": ["mediation", "driving"]},
            {"id": "RL-L1", "name": "d", "type": "lawyer", "status": "off_duty"},
            {"id": "RL-F1", "name": "e", "type": "fire"},
        ]),
        201,
    )
    .await;
    let now = Utc::now();
    let p1 = b;
    let g1 = offset(b, 0.0, 800.0);
    let p2 = offset(b, 5_000.0, 0.0);
    let l1 = offset(b, -300.0, -300.0);
    let v = post_positions(
        &app,
        json!([
            position_body("RL-P1", p1, now),
            position_body("RL-G1", g1, now),
            position_body("RL-P2", p2, now),
            position_body("RL-L1", l1, now),
        ]),
        200,
    )
    .await;
    assert_eq!(v["accepted"], 4, "{v}");

    let list = |q: &'static str| {
        let app = &app;
        async move {
            let path = format!("/api/v1/responders{q}");
            let r = app.get(&path).await;
            assert_eq!(r.status(), 200, "{path}");
            let ct = r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_string();
            assert!(ct.starts_with("application/geo+json"), "{ct}");
            let fc: Value = r.json().await.unwrap();
            assert_eq!(fc["type"], "FeatureCollection");
            ids(&fc)
        }
    };
    assert_eq!(
        list("").await,
        ["RL-F1", "RL-G1", "RL-L1", "RL-P1", "RL-P2"]
    );
    assert_eq!(list("?type=police").await, ["RL-P1", "RL-P2"]);
    assert_eq!(list("?type=police,grid").await, ["RL-G1", "RL-P1", "RL-P2"]);
    assert_eq!(list("?status=off_duty").await, ["RL-L1"]);
    assert_eq!(
        list("?status=available").await,
        ["RL-F1", "RL-G1", "RL-P1", "RL-P2"]
    );
    assert_eq!(list("?skill=driving").await, ["RL-G1", "RL-P1"]);
    assert_eq!(list("?skill=mediation").await, ["RL-G1"]);
    assert!(list("?skill=diving").await.is_empty());
    assert_eq!(list("?station=S2").await, ["RL-P2"]);
    assert_eq!(list("?type=police&skill=driving").await, ["RL-P1"]);

    // bbox: a 2 km box around the base holds P1, G1, L1 (P2 is 5 km north,
    // F1 has no position)
    let sw = offset(b, -1_000.0, -1_000.0);
    let ne = offset(b, 1_000.0, 1_000.0);
    let bbox = format!("?bbox={},{},{},{}", sw.0, sw.1, ne.0, ne.1);
    let path = format!("/api/v1/responders{bbox}");
    let fc = app.get_json(&path, 200).await;
    assert_eq!(ids(&fc), ["RL-G1", "RL-L1", "RL-P1"]);
    let fc = app
        .get_json(&format!("{path}&type=police,lawyer&status=available"), 200)
        .await;
    assert_eq!(ids(&fc), ["RL-P1"]);

    for (q, field) in [
        ("?type=tank", "type"),
        ("?status=asleep", "status"),
        ("?bbox=1,2,3", "bbox"),
        ("?colour=red", "colour"),
    ] {
        let r = app.get(&format!("/api/v1/responders{q}")).await;
        assert_field_error(r, 400, field).await;
    }

    let f = app.responder("RL-G1").await;
    assert_eq!(f["id"], "RL-G1");
    assert_eq!(f["properties"]["type"], "grid");
    assert_eq!(f["properties"]["skills"], json!(["mediation", "driving"]));
    assert!(close(coords(&f), g1), "{f}");
    let pos = &f["properties"]["position"];
    assert!(close(
        (pos["lon"].as_f64().unwrap(), pos["lat"].as_f64().unwrap()),
        g1
    ));
    assert_eq!(pos["stale"], false);
    let r = app.get("/api/v1/responders/RL-NOPE").await;
    let e = assert_field_error(r, 404, "id").await;
    assert!(e["reason"].as_str().unwrap().contains("RL-NOPE"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_resend_with_an_explicit_status_changes_it() {
    let app = spawn_app().await;
    post_roster(&app, responder_body("RS-1", "police"), 201).await;
    let mut body = responder_body("RS-1", "police");
    body["status"] = json!("off_duty");
    let f = post_roster(&app, body, 200).await;
    assert_eq!(f["properties"]["status"], "off_duty", "{f}");
    assert_eq!(
        app.responder("RS-1").await["properties"]["status"],
        "off_duty"
    );
    // and a resend without a status keeps it
    let f = post_roster(&app, responder_body("RS-1", "police"), 200).await;
    assert_eq!(f["properties"]["status"], "off_duty", "{f}");
    // while on an open assignment an explicit status is a 409 naming it
    post_roster(&app, responder_body("RS-2", "police"), 201).await;
    let inc = app
        .post_created(&crate::helpers::incident("RS-INC", 121.27, 28.64, 1))
        .await;
    let incident_id = inc[0]["id"].as_i64().unwrap();
    let r = app
        .post_json(
            &format!("/api/v1/incidents/{incident_id}/assign"),
            &json!({"responders": ["RS-2"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let mut body = responder_body("RS-2", "police");
    body["status"] = json!("busy");
    let e = assert_field_error(
        app.post_json("/api/v1/responders", &json!([body])).await,
        409,
        "[0].status",
    )
    .await;
    assert!(e["reason"].as_str().unwrap().contains("assignment"), "{e}");
    assert_eq!(
        app.responder("RS-2").await["properties"]["status"],
        "dispatched"
    );
}

// ---- 2. positions ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_batch_reports_each_refusal_and_newest_wins() {
    let app = spawn_app().await;
    let b = base();
    post_roster(
        &app,
        json!([
            responder_body("PS-G1", "grid"),
            responder_body("PS-P1", "police")
        ]),
        201,
    )
    .await;
    let s0 = stats(&app).await;
    let now = Utc::now();
    let t0 = now - CDuration::seconds(60);
    fix(&app, "PS-G1", b, t0).await;

    let newest = offset(b, 100.0, 0.0);
    let newest_ts = now - CDuration::seconds(20);
    let body = json!([
        position_body("PS-P1", b, now - CDuration::seconds(30)),
        {"id": "PS-P1", "lon": b.0, "lat": 91.0, "ts": "2026-01-01T00:00:00Z"},
        {"id": "PS-P1", "lon": b.0, "lat": b.1, "ts": "yesterday"},
        position_body("PS-NOPE", b, now),
        position_body("PS-G1", b, now + CDuration::minutes(10)),
        position_body("PS-G1", b, now - CDuration::hours(25)),
        position_body("PS-G1", b, t0),
        position_body("PS-G1", offset(b, 10.0, 0.0), t0 - CDuration::seconds(60)),
        // 20 km in 10 s: 7,200 km/h, far above a grid worker's 120
        position_body("PS-G1", offset(b, 20_000.0, 0.0), t0 + CDuration::seconds(10)),
        position_body("PS-G1", newest, newest_ts),
    ]);
    let v = post_positions(&app, body, 200).await;
    assert_eq!(v["accepted"], 2, "{v}");
    let rejected = v["rejected"].as_array().expect("rejected list");
    let got: Vec<(u64, &str, &str)> = rejected
        .iter()
        .map(|e| {
            assert!(
                e["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "no reason: {e}"
            );
            (
                e["index"].as_u64().unwrap(),
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "[1].lat", "invalid"),
            (2, "[2].ts", "invalid"),
            (3, "[3].id", "unknown_responder"),
            (4, "[4].ts", "future"),
            (5, "[5].ts", "outdated"),
            (6, "[6].ts", "duplicate"),
            (7, "[7].ts", "older_than_latest"),
            (8, "[8].lat", "implausible_jump"),
        ],
        "{v}"
    );
    assert_eq!(rejected[2]["id"], "PS-NOPE");
    assert_eq!(rejected[7]["id"], "PS-G1");

    // counters moved by reason
    let s1 = stats(&app).await;
    let delta = |path: &[&str]| {
        let get = |s: &Value| path.iter().fold(s, |v, k| &v[*k]).as_u64().unwrap();
        get(&s1) - get(&s0)
    };
    assert_eq!(delta(&["accepted"]), 3, "{s0} → {s1}");
    assert_eq!(delta(&["invalid"]), 2, "{s1}");
    assert_eq!(delta(&["unknown_responder"]), 1, "{s1}");
    for code in [
        "future",
        "outdated",
        "duplicate",
        "older_than_latest",
        "implausible_jump",
    ] {
        assert_eq!(delta(&["rejected", code]), 1, "{code}: {s1}");
    }
    assert_eq!(delta(&["rejected", "inaccurate"]), 0, "{s1}");

    // newest wins: the last good fix, not the jump
    let f = app.responder("PS-G1").await;
    assert!(close(coords(&f), newest), "{f}");
    assert_eq!(
        ts_of(&f["properties"]["position"]["ts"]).timestamp_millis(),
        newest_ts.timestamp_millis()
    );
    let f = app.responder("PS-P1").await;
    assert!(close(coords(&f), b), "{f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_single_position_is_a_4xx_with_the_code() {
    let app = spawn_app().await;
    let b = base();
    post_roster(&app, responder_body("PR-1", "police"), 201).await;
    let now = Utc::now();

    let r = app
        .post_json(
            "/api/v1/responders/positions",
            &position_body("PR-NOPE", b, now),
        )
        .await;
    let e = assert_field_error(r, 404, "id").await;
    assert_eq!(e["error"], "unknown_responder", "{e}");
    assert!(e["reason"].as_str().unwrap().contains("PR-NOPE"), "{e}");

    let r = app
        .post_json(
            "/api/v1/responders/positions",
            &position_body("PR-1", b, now + CDuration::hours(1)),
        )
        .await;
    let e = assert_field_error(r, 422, "ts").await;
    assert_eq!(e["code"], "future", "{e}");

    let mut bad = position_body("PR-1", b, now);
    bad["accuracy"] = json!(1500);
    let r = app.post_json("/api/v1/responders/positions", &bad).await;
    let e = assert_field_error(r, 422, "accuracy").await;
    assert_eq!(e["code"], "inaccurate", "{e}");

    let mut bad = position_body("PR-1", b, now);
    bad["lat"] = json!(91);
    let r = app.post_json("/api/v1/responders/positions", &bad).await;
    assert_field_error(r, 400, "lat").await;

    // a batch where nothing was accepted names the first refusal
    let r = app
        .post_json(
            "/api/v1/responders/positions",
            &json!([
                position_body("PR-1", b, now - CDuration::days(2)),
                position_body("PR-NOPE", b, now),
            ]),
        )
        .await;
    let e = assert_field_error(r, 422, "[0].ts").await;
    assert_eq!(e["code"], "outdated", "{e}");
    assert_eq!(e["rejected"].as_array().map(Vec::len), Some(2), "{e}");

    // a good single fix is 200, and the refused ones left nothing behind
    let v = post_positions(&app, position_body("PR-1", b, now), 200).await;
    assert_eq!(v, json!({"accepted": 1, "rejected": []}));
    let f = app.responder("PR-1").await;
    assert!(close(coords(&f), b), "{f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_settings_drive_the_position_filters() {
    let app = spawn_app_with(|s| {
        s.dispatch.outdated_after_hours = 1;
        s.dispatch.max_speed_kmh.insert("police".into(), 50.0);
    })
    .await;
    let b = base();
    post_roster(
        &app,
        json!([
            responder_body("PC-P", "police"),
            responder_body("PC-C", "patrol_car")
        ]),
        201,
    )
    .await;
    let now = Utc::now();
    // 2 h old: outdated with a 1 h limit (the default 24 h would take it)
    let v = post_positions(
        &app,
        json!([
            position_body("PC-P", b, now - CDuration::hours(2)),
            position_body("PC-P", b, now - CDuration::seconds(60)),
            position_body("PC-C", b, now - CDuration::seconds(60)),
        ]),
        200,
    )
    .await;
    assert_eq!(v["accepted"], 2, "{v}");
    assert_eq!(v["rejected"][0]["code"], "outdated", "{v}");
    // 1 km in 30 s = 120 km/h: over police's configured 50, under patrol_car's 200
    let v = post_positions(
        &app,
        json!([
            position_body(
                "PC-P",
                offset(b, 1_000.0, 0.0),
                now - CDuration::seconds(30)
            ),
            position_body(
                "PC-C",
                offset(b, 1_000.0, 0.0),
                now - CDuration::seconds(30)
            ),
        ]),
        200,
    )
    .await;
    assert_eq!(v["accepted"], 1, "{v}");
    assert_eq!(v["rejected"][0]["index"], 0, "{v}");
    assert_eq!(v["rejected"][0]["code"], "implausible_jump", "{v}");
    assert!(
        v["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("50 km/h"),
        "{v}"
    );
}

// ---- 3. OsmAnd ---------------------------------------------------------------

async fn osmand_get(app: &TestApp, query: &str) -> reqwest::Response {
    app.get(&format!("/osmand?{query}")).await
}

async fn osmand_ok(app: &TestApp, query: &str) {
    let r = osmand_get(app, query).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "/osmand?{query}: {text}");
}

fn position_of(f: &Value) -> &Value {
    &f["properties"]["position"]
}

fn iso_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osmand_query_forms_are_accepted_and_normalised() {
    let app = spawn_app().await;
    let b = base();
    let roster: Vec<Value> = (1..=9)
        .map(|i| responder_body(&format!("OS-{i}"), "police"))
        .collect();
    post_roster(&app, Value::Array(roster), 201).await;
    let now = Utc::now();
    let secs = now.timestamp() - 60;

    // id=, unix seconds, speed in knots, bearing, altitude, accuracy, batt
    let q = format!(
        "id=OS-1&lat={}&lon={}&timestamp={secs}&speed=10&bearing=90.5&altitude=12.5&accuracy=8&batt=77",
        b.1, b.0
    );
    osmand_ok(&app, &q).await;
    let f = app.responder("OS-1").await;
    assert!(close(coords(&f), b), "{f}");
    let p = position_of(&f);
    assert_eq!(ts_of(&p["ts"]).timestamp(), secs, "{f}");
    assert_eq!(ts_of(&p["ts"]).timestamp_subsec_millis(), 0);
    let speed = p["speed_mps"].as_f64().unwrap();
    assert!(
        (speed - 10.0 * 1852.0 / 3600.0).abs() < 1e-6,
        "10 kn stored as {speed} m/s"
    );
    assert_eq!(p["heading"], 90.5);
    assert_eq!(p["accuracy_m"], 8.0);

    // the exact resend of the same fix is 200 (the phone must stop retrying)
    let dup0 = stats(&app).await["rejected"]["duplicate"].as_u64().unwrap();
    let r = osmand_get(&app, &q).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["accepted"], 0, "{v}");
    assert_eq!(v["duplicate"], true, "{v}");
    let dup1 = stats(&app).await["rejected"]["duplicate"].as_u64().unwrap();
    assert_eq!(dup1, dup0 + 1);

    // deviceid=
    let p2 = offset(b, 200.0, 0.0);
    osmand_ok(
        &app,
        &format!("deviceid=OS-2&lat={}&lon={}&timestamp={secs}", p2.1, p2.0),
    )
    .await;
    assert!(close(coords(&app.responder("OS-2").await), p2));

    // location=lat,lon (latitude first)
    let p3 = offset(b, 0.0, 300.0);
    osmand_ok(
        &app,
        &format!("id=OS-3&location={},{}&timestamp={secs}", p3.1, p3.0),
    )
    .await;
    assert!(close(coords(&app.responder("OS-3").await), p3));

    // ISO-8601 with %3A
    let t4 = now - CDuration::seconds(90);
    let iso = iso_utc(t4).replace(':', "%3A");
    osmand_ok(
        &app,
        &format!("id=OS-4&lat={}&lon={}&timestamp={iso}", b.1, b.0),
    )
    .await;
    let f = app.responder("OS-4").await;
    assert_eq!(ts_of(&position_of(&f)["ts"]).timestamp(), t4.timestamp());

    // `yyyy-MM-dd+HH%3Amm%3Ass` (`+` is a space) and an offset as %2B08%3A00
    let t5 = now - CDuration::seconds(120);
    let plus = t5.format("%Y-%m-%d+%H%%3A%M%%3A%S").to_string();
    osmand_ok(
        &app,
        &format!("id=OS-5&lat={}&lon={}&timestamp={plus}", b.1, b.0),
    )
    .await;
    let f = app.responder("OS-5").await;
    assert_eq!(ts_of(&position_of(&f)["ts"]).timestamp(), t5.timestamp());
    let t5b = t5 + CDuration::seconds(30);
    let offset8 = t5b
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%dT%H%%3A%M%%3A%S%%2B08%%3A00")
        .to_string();
    osmand_ok(
        &app,
        &format!("id=OS-5&lat={}&lon={}&timestamp={offset8}", b.1, b.0),
    )
    .await;
    let f = app.responder("OS-5").await;
    assert_eq!(ts_of(&position_of(&f)["ts"]).timestamp(), t5b.timestamp());

    // milliseconds
    let ms = now.timestamp_millis() - 45_123;
    osmand_ok(
        &app,
        &format!("id=OS-6&lat={}&lon={}&timestamp={ms}", b.1, b.0),
    )
    .await;
    let f = app.responder("OS-6").await;
    assert_eq!(ts_of(&position_of(&f)["ts"]).timestamp_millis(), ms);

    // POST with the query string, and POST with the form as the body
    let p7 = offset(b, -400.0, 0.0);
    let r = app
        .client
        .post(app.url(&format!(
            "/osmand?id=OS-7&lat={}&lon={}&timestamp={secs}&speed=2",
            p7.1, p7.0
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let f = app.responder("OS-7").await;
    assert!(close(coords(&f), p7), "{f}");
    let p7b = offset(p7, 30.0, 0.0);
    let r = app
        .client
        .post(app.url("/osmand"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "id=OS-7&lat={}&lon={}&timestamp={}",
            p7b.1,
            p7b.0,
            secs + 5
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(close(coords(&app.responder("OS-7").await), p7b));

    // crs=gcj02: converted to WGS-84, which moves the point by the GCJ offset
    let g = offset(b, 0.0, -500.0);
    osmand_ok(
        &app,
        &format!("id=OS-8&lat={}&lon={}&timestamp={secs}&crs=gcj02", g.1, g.0),
    )
    .await;
    let stored = coords(&app.responder("OS-8").await);
    let shift = haversine(stored, g);
    assert!(
        (100.0..1_000.0).contains(&shift),
        "GCJ-02 → WGS-84 moved the point {shift} m"
    );
    // GCJ-02 is WGS-84 shifted roughly north-east-ish here: WGS lon is smaller
    assert!(stored.0 < g.0, "{stored:?} vs {g:?}");
    // the JSON positions API converts the same way
    let mut body = position_body("OS-9", g, now - CDuration::seconds(60));
    body["crs"] = json!("gcj02");
    post_positions(&app, body, 200).await;
    let same = coords(&app.responder("OS-9").await);
    assert!(close(same, stored), "{same:?} vs {stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osmand_traccar_client_json_body_and_errors() {
    let app = spawn_app().await;
    let b = base();
    post_roster(&app, responder_body("OJ-1", "patrol_car"), 201).await;
    let t = Utc::now() - CDuration::seconds(30);
    let body = json!({
        "location": {
            "timestamp": crate::helpers::rfc3339(t),
            "coords": {"latitude": b.1, "longitude": b.0, "accuracy": 5.0, "speed": 3.0,
                       "heading": 180.0, "altitude": 20.0},
            "is_moving": true, "odometer": 0,
            "battery": {"level": 0.5, "is_charging": false},
            "activity": {"type": "still"}
        },
        "device_id": "OJ-1"
    });
    let r = app
        .client
        .post(app.url("/osmand"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let f = app.responder("OJ-1").await;
    assert!(close(coords(&f), b), "{f}");
    let p = position_of(&f);
    // the JSON form's speed is m/s on the wire (not knots)
    assert_eq!(p["speed_mps"], 3.0, "{f}");
    assert_eq!(p["heading"], 180.0);
    assert_eq!(p["accuracy_m"], 5.0);
    assert_eq!(ts_of(&p["ts"]).timestamp_millis(), t.timestamp_millis());

    // exact resend: 200
    let r = app
        .client
        .post(app.url("/osmand"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let secs = Utc::now().timestamp();
    let r = osmand_get(
        &app,
        &format!("id=OJ-NOPE&lat={}&lon={}&timestamp={secs}", b.1, b.0),
    )
    .await;
    assert_field_error(r, 404, "id").await;
    let r = osmand_get(&app, &format!("lat={}&lon={}&timestamp={secs}", b.1, b.0)).await;
    assert_field_error(r, 400, "id").await;
    let r = osmand_get(
        &app,
        &format!("id=OJ-1&lat=95&lon={}&timestamp={secs}", b.0),
    )
    .await;
    assert_field_error(r, 400, "lat").await;
    let r = osmand_get(&app, &format!("id=OJ-1&lon={}&timestamp={secs}", b.0)).await;
    assert_field_error(r, 400, "lat").await;
    let r = osmand_get(
        &app,
        &format!("id=OJ-1&lat={}&lon={}&timestamp=soon", b.1, b.0),
    )
    .await;
    assert_field_error(r, 400, "timestamp").await;
    // a fix the filters refuse: 422 with the code
    let r = osmand_get(
        &app,
        &format!("id=OJ-1&lat={}&lon={}&timestamp={}", b.1, b.0, secs + 3600),
    )
    .await;
    let e = assert_field_error(r, 422, "ts").await;
    assert_eq!(e["code"], "future", "{e}");
    let mut no_id = body.clone();
    no_id.as_object_mut().unwrap().remove("device_id");
    let r = app
        .client
        .post(app.url("/osmand"))
        .header("content-type", "application/json")
        .body(no_id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
    // nothing above moved OJ-1
    let f = app.responder("OJ-1").await;
    assert_eq!(
        ts_of(&position_of(&f)["ts"]).timestamp_millis(),
        t.timestamp_millis()
    );
}

// ---- 8. WebSocket `responders` layer -----------------------------------------

/// Next message of type `responders` or `assignment`; panics on anything else.
async fn next_duty_msg(ws: &mut WsStream) -> Value {
    let v = next_json(ws).await;
    assert!(
        v["type"] == "responders" || v["type"] == "assignment",
        "expected a responders/assignment message, got {v}"
    );
    v
}

fn feature_for<'a>(msg: &'a Value, id: &str) -> Option<&'a Value> {
    msg["features"].as_array()?.iter().find(|f| f["id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_responders_layer_snapshot_updates_and_coalescing() {
    let app = spawn_app().await;
    let t = &townships()[2];
    let b = (t.seat_lon, t.seat_lat);
    let sw = offset(b, -3_000.0, -3_000.0);
    let ne = offset(b, 3_000.0, 3_000.0);
    let bbox = [sw.0, sw.1, ne.0, ne.1];
    place(&app, "WS-IN", "police", offset(b, 100.0, 0.0), 1).await;
    place(&app, "WS-OUT", "police", offset(b, 10_000.0, 0.0), 1).await;
    post_roster(&app, responder_body("WS-MOVER", "grid"), 201).await;

    let (mut ws, snap) = app
        .ws_subscribe_layers(bbox, &["incidents", "responders"])
        .await;
    assert_eq!(snap["responders"]["type"], "FeatureCollection", "{snap}");
    assert_eq!(ids(&snap["responders"]), ["WS-IN"], "{snap}");
    assert_eq!(snap["assignments"], json!([]), "{snap}");
    let snap_seq = snap["seq"].as_u64().unwrap();
    let (mut ws_inc, snap_inc) = app.ws_subscribe_layers(bbox, &["incidents"]).await;
    assert!(
        snap_inc.get("responders").is_none(),
        "incidents-only snapshot has responders: {snap_inc}"
    );

    // a position outside the box first, then one inside: only the inside one
    fix(&app, "WS-OUT", offset(b, 10_050.0, 0.0), Utc::now()).await;
    let p = offset(b, -500.0, 0.0);
    fix(&app, "WS-MOVER", p, Utc::now() - CDuration::seconds(30)).await;
    let msg = next_duty_msg(&mut ws).await;
    assert_eq!(msg["type"], "responders", "{msg}");
    assert!(msg["seq"].as_u64().unwrap() > snap_seq, "{msg}");
    assert!(feature_for(&msg, "WS-OUT").is_none(), "leaked: {msg}");
    let f = feature_for(&msg, "WS-MOVER").unwrap_or_else(|| panic!("{msg}"));
    assert!(close(coords(f), p), "{f}");
    assert_eq!(f["properties"]["status"], "available");

    // 20 fixes posted one by one, as fast as possible: coalesced
    let start = Utc::now() - CDuration::seconds(25);
    let n = 20;
    let mut last = p;
    for i in 1..=n {
        last = offset(p, 2.0 * i as f64, 0.0);
        fix(
            &app,
            "WS-MOVER",
            last,
            start + CDuration::milliseconds(100 * i),
        )
        .await;
    }
    let mut messages = 0;
    loop {
        let msg = next_duty_msg(&mut ws).await;
        assert_eq!(msg["type"], "responders", "{msg}");
        messages += 1;
        let f = feature_for(&msg, "WS-MOVER").unwrap_or_else(|| panic!("{msg}"));
        assert_eq!(
            msg["features"].as_array().unwrap().len(),
            1,
            "one feature per responder per message: {msg}"
        );
        if close(coords(f), last) {
            break;
        }
    }
    assert!(
        messages < n,
        "{messages} responders messages for {n} fixes: not coalesced"
    );

    // an assignment: a responders message (dispatched) and an assignment message
    let inc = app
        .post_created(&crate::helpers::at_seat("WS-INC", t, 1))
        .await;
    let inc_id = inc[0]["id"].as_i64().unwrap();
    let first_inc = next_json(&mut ws_inc).await;
    assert_eq!(first_inc["type"], "incident", "{first_inc}");
    let incident_msg = next_json(&mut ws).await;
    assert_eq!(incident_msg["type"], "incident", "{incident_msg}");
    let v = app
        .post_expect(
            &format!("/api/v1/incidents/{inc_id}/assign"),
            &json!({"responders": ["WS-IN"]}),
            201,
        )
        .await;
    let aid = v["assignments"][0]["id"].as_i64().unwrap();
    let (mut saw_status, mut saw_assignment) = (false, false);
    while !(saw_status && saw_assignment) {
        let msg = next_duty_msg(&mut ws).await;
        if msg["type"] == "assignment" {
            let a = &msg["assignment"];
            assert_eq!(a["id"], aid, "{msg}");
            assert_eq!(a["responder_id"], "WS-IN");
            assert_eq!(a["incident_id"], inc_id);
            assert_eq!(a["status"], "dispatched");
            saw_assignment = true;
        } else if let Some(f) = feature_for(&msg, "WS-IN") {
            assert_eq!(f["properties"]["status"], "dispatched", "{msg}");
            assert_eq!(f["properties"]["assignment"]["id"], aid, "{msg}");
            saw_status = true;
        }
    }
    // a new subscriber sees the open assignment in its snapshot
    let (_ws2, snap2) = app.ws_subscribe_layers(bbox, &["responders"]).await;
    let open = snap2["assignments"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{snap2}");
    assert_eq!(open[0]["id"], aid);
    assert!(
        snap2["incidents"]["features"]
            .as_array()
            .unwrap()
            .is_empty(),
        "responders-only snapshot: {snap2}"
    );

    // the incidents-only client got none of it: its next message is the
    // next incident
    let inc2 = app
        .post_created(&crate::helpers::at_seat("WS-INC-2", t, 1))
        .await;
    let got = next_json(&mut ws_inc).await;
    assert_eq!(got["type"], "incident", "{got}");
    assert_eq!(got["feature"]["id"], inc2[0]["id"], "{got}");
    let got = next_json(&mut ws).await;
    assert_eq!(got["type"], "incident", "{got}");
    assert_eq!(got["feature"]["id"], inc2[0]["id"], "{got}");

    // a responder leaving the box is still heard of once (at its new place
    // outside), so the screen can drop it; its next move is not sent
    let gone = offset(b, 8_000.0, 0.0);
    // (8.5 km: far enough in time for a grid worker's 120 km/h limit)
    fix(&app, "WS-MOVER", gone, Utc::now() + CDuration::seconds(280)).await;
    let msg = next_duty_msg(&mut ws).await;
    let f = feature_for(&msg, "WS-MOVER").unwrap_or_else(|| panic!("{msg}"));
    let c = coords(f);
    assert!(c.1 > bbox[3] && c.1 >= gone.1 - 1e-9, "{f}");
    fix(
        &app,
        "WS-MOVER",
        offset(gone, 100.0, 0.0),
        Utc::now() + CDuration::seconds(290),
    )
    .await;
    // the in-box sentinel arrives with nothing before it
    let sentinel = offset(b, 150.0, 0.0);
    fix(
        &app,
        "WS-OUT",
        sentinel,
        Utc::now() + CDuration::seconds(240),
    )
    .await;
    let msg = next_duty_msg(&mut ws).await;
    assert!(feature_for(&msg, "WS-MOVER").is_none(), "{msg}");
    assert!(close(
        coords(feature_for(&msg, "WS-OUT").unwrap()),
        sentinel
    ));

    // an unknown layer is an error naming `layers`
    send_json(
        &mut ws,
        json!({"type": "subscribe", "bbox": bbox, "layers": ["cars"]}),
    )
    .await;
    let e = next_json(&mut ws).await;
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["field"], "layers", "{e}");
}
