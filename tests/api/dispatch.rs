//! Dispatch: nearest / candidates, assign / ack / decline / status,
//! acknowledgement timeouts with re-offer, and what survives a restart.

use std::time::Duration;

use chrono::{Duration as CDuration, Utc};
use serde_json::{json, Value};

use crate::helpers::{
    assert_field_error, at_seat, eventually, haversine, offset, position_body, responder_body,
    spawn_app, spawn_app_with, townships, TestApp, Township,
};
use crate::responders::{base, close, coords, fix, place, post_positions, post_roster};

fn seat(t: &Township) -> (f64, f64) {
    (t.seat_lon, t.seat_lat)
}

async fn new_incident(app: &TestApp, source_id: &str, t: &Township) -> i64 {
    app.post_created(&at_seat(source_id, t, 1)).await[0]["id"]
        .as_i64()
        .unwrap()
}

async fn assign(app: &TestApp, incident: i64, ids: &[&str]) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/incidents/{incident}/assign"),
        &json!({"responders": ids}),
    )
    .await
}

/// Assigns and asserts 201; returns the new assignment id.
async fn assign_ok(app: &TestApp, incident: i64, id: &str) -> i64 {
    let r = assign(app, incident, &[id]).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "assign {id}: {v}");
    let a = &v["assignments"][0];
    assert_eq!(a["responder_id"], id, "{v}");
    assert_eq!(a["incident_id"], incident);
    assert_eq!(a["status"], "dispatched");
    assert_eq!(v["responders"][0]["id"], id, "{v}");
    assert_eq!(v["responders"][0]["properties"]["status"], "dispatched");
    a["id"].as_i64().unwrap()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    app.responder(id).await["properties"]["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn set_status(app: &TestApp, id: &str, status: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/responders/{id}/status"),
        &json!({"status": status}),
    )
    .await
}

async fn assignments(app: &TestApp, incident: i64) -> Vec<Value> {
    let v = app
        .get_json(&format!("/api/v1/incidents/{incident}/assignments"), 200)
        .await;
    assert_eq!(v["incident_id"], incident);
    v["assignments"].as_array().unwrap().clone()
}

async fn stored_assignment(app: &TestApp, id: i64) -> (String, String, i64, Option<i64>) {
    sqlx::query_as(
        "select status, responder_id, incident_id, replaces from assignment where id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn log_count(app: &TestApp, kind: &str, subject: &str) -> i64 {
    sqlx::query_scalar("select count(*) from event_log where kind = $1 and subject = $2")
        .bind(kind)
        .bind(subject)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

// ---- nearest / candidates -------------------------------------------------

fn candidate_ids(v: &Value) -> Vec<String> {
    v["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("no candidates in {v}"))
        .iter()
        .map(|c| c["responder"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn nearest_path(at: (f64, f64), extra: &str) -> String {
    format!(
        "/api/v1/responders/nearest?lon={}&lat={}{extra}",
        at.0, at.1
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_ranks_by_true_distance_and_filters_inside_the_search() {
    let app = spawn_app().await;
    let b = base();
    post_roster(
        &app,
        json!([
            {"id": "NN-P1", "name": "a", "type": "police", "station": "S1"},
            {"id": "NN-P2", "name": "b", "type": "police", "skills": ["firstaid"]},
            {"id": "NN-P3", "name": "c", "type": "police", "station": "S1"},
            {"id": "NN-PB", "name": "d", "type": "police", "status": "busy"},
            {"id": "NN-G1", "name": "e", "type": "grid", "skills": ["firstaid"]},
            {"id": "NN-A1", "name": "f", "type": "auxiliary"},
        ]),
        201,
    )
    .await;
    let now = Utc::now();
    let spots = [
        ("NN-P1", offset(b, 480.0, 130.0)),
        ("NN-P2", offset(b, -900.0, 1_100.0)),
        ("NN-P3", offset(b, 2_500.0, -1_700.0)),
        ("NN-PB", offset(b, 60.0, 0.0)),
        ("NN-G1", offset(b, 15_000.0, 0.0)),
        ("NN-A1", offset(b, 200.0, 200.0)),
    ];
    let body: Vec<Value> = spots
        .iter()
        .map(|(id, at)| position_body(id, *at, now))
        .collect();
    let v = post_positions(&app, Value::Array(body), 200).await;
    assert_eq!(v["accepted"], 6, "{v}");
    let at = |id: &str| spots.iter().find(|(i, _)| *i == id).unwrap().1;

    let v = app
        .get_json(&nearest_path(b, "&k=2&type=police"), 200)
        .await;
    assert_eq!(v["k"], 2);
    assert_eq!(candidate_ids(&v), ["NN-P1", "NN-P2"], "{v}");
    for (i, c) in v["candidates"].as_array().unwrap().iter().enumerate() {
        let id = c["responder"]["id"].as_str().unwrap();
        let want = haversine(b, at(id));
        let got = c["distance_m"].as_f64().unwrap();
        assert!((got - want).abs() <= 0.5, "{id}: {got} vs haversine {want}");
        assert_eq!(c["rank"], i + 1);
        let eta = c["eta_s"].as_f64().unwrap();
        assert!(eta > 0.0, "{c}");
        // default model: × 1.4 detour at 30 km/h for police
        let want_eta = want * 1.4 / (30.0 / 3.6);
        assert!((eta - want_eta).abs() <= 1.0, "eta {eta} vs {want_eta}");
        assert_eq!(c["stale"], false);
        assert_eq!(c["responder"]["status"], "available");
        let reasons = c["reasons"].as_array().unwrap();
        assert!(
            reasons[0].as_str().unwrap().starts_with("距离"),
            "{reasons:?}"
        );
        assert!(close(
            (c["lon"].as_f64().unwrap(), c["lat"].as_f64().unwrap()),
            at(id)
        ));
    }

    // busy ones are left out by default; k larger than the matches gives all
    let v = app
        .get_json(&nearest_path(b, "&k=10&type=police"), 200)
        .await;
    assert_eq!(candidate_ids(&v), ["NN-P1", "NN-P2", "NN-P3"]);
    let v = app
        .get_json(&nearest_path(b, "&k=2&type=police&status=any"), 200)
        .await;
    assert_eq!(candidate_ids(&v), ["NN-PB", "NN-P1"]);
    let v = app
        .get_json(&nearest_path(b, "&k=3&type=police&status=busy"), 200)
        .await;
    assert_eq!(candidate_ids(&v), ["NN-PB"]);

    // the only grid worker, 15 km away, is still found
    let v = app.get_json(&nearest_path(b, "&k=1&type=grid"), 200).await;
    assert_eq!(candidate_ids(&v), ["NN-G1"]);
    let d = v["candidates"][0]["distance_m"].as_f64().unwrap();
    assert!((d - haversine(b, at("NN-G1"))).abs() <= 0.5, "{d}");
    assert!((d - 15_000.0).abs() < 50.0, "{d}");
    // k entries whenever k match anywhere
    let v = app
        .get_json(&nearest_path(b, "&k=4&type=police,grid"), 200)
        .await;
    assert_eq!(candidate_ids(&v), ["NN-P1", "NN-P2", "NN-P3", "NN-G1"]);

    // skill and station filters
    let v = app
        .get_json(&nearest_path(b, "&k=5&skill=firstaid"), 200)
        .await;
    assert_eq!(candidate_ids(&v), ["NN-P2", "NN-G1"]);
    assert!(
        v["candidates"][0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "技能匹配: firstaid"),
        "{v}"
    );
    let v = app.get_json(&nearest_path(b, "&k=5&station=S1"), 200).await;
    assert_eq!(candidate_ids(&v), ["NN-P1", "NN-P3"]);
    let v = app
        .get_json(&nearest_path(b, "&k=5&skill=diving"), 200)
        .await;
    assert_eq!(candidate_ids(&v), Vec::<String>::new());
    // no type: every type, nearest first
    let v = app.get_json(&nearest_path(b, "&k=3"), 200).await;
    assert_eq!(candidate_ids(&v), ["NN-A1", "NN-P1", "NN-P2"]);
    // default k is 5
    let v = app.get_json(&nearest_path(b, ""), 200).await;
    assert_eq!(v["candidates"].as_array().unwrap().len(), 5, "{v}");

    for (q, field) in [
        ("&k=0", "k"),
        ("&k=101", "k"),
        ("&k=abc", "k"),
        ("&k=-1", "k"),
        ("&type=tank", "type"),
        ("&bogus=1", "bogus"),
    ] {
        let r = app.get(&nearest_path(b, q)).await;
        assert_field_error(r, 400, field).await;
    }
    let r = app
        .get(&format!("/api/v1/responders/nearest?lat={}", b.1))
        .await;
    assert_field_error(r, 400, "lon").await;
    let r = app
        .get(&format!("/api/v1/responders/nearest?lon={}&lat=95", b.0))
        .await;
    assert_field_error(r, 400, "lat").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_fixes_are_marked_and_ranked_after_fresh_ones() {
    let app = spawn_app_with(|s| s.dispatch.stale_after_secs = 2).await;
    let b = base();
    let near = offset(b, 100.0, 0.0);
    let far = offset(b, 3_000.0, 0.0);
    place(&app, "ST-NEAR", "police", near, 0).await;
    place(&app, "ST-FAR", "police", far, 0).await;
    let path = nearest_path(b, "&k=2&type=police");
    let v = app.get_json(&path, 200).await;
    assert_eq!(candidate_ids(&v), ["ST-NEAR", "ST-FAR"], "{v}");
    assert_eq!(v["candidates"][0]["stale"], false, "{v}");

    // both go stale after 2 s; then only the far one reports again
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let v = app.get_json(&path, 200).await;
    assert_eq!(
        candidate_ids(&v),
        ["ST-NEAR", "ST-FAR"],
        "all stale: by distance"
    );
    assert!(
        v["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["stale"] == true),
        "{v}"
    );
    fix(&app, "ST-FAR", offset(far, 10.0, 0.0), Utc::now()).await;
    let v = app.get_json(&path, 200).await;
    assert_eq!(candidate_ids(&v), ["ST-FAR", "ST-NEAR"], "{v}");
    let c = &v["candidates"];
    assert_eq!(c[0]["stale"], false, "{v}");
    assert_eq!(c[1]["stale"], true, "{v}");
    assert!(c[1]["position_age_s"].as_f64().unwrap() >= 2.0, "{}", c[1]);
    assert!(
        c[1]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("定位已过期")),
        "{v}"
    );
    assert_eq!(c[1]["responder"]["position"]["stale"], true);
    let f = app.responder("ST-NEAR").await;
    assert_eq!(f["properties"]["position"]["stale"], true, "{f}");
    // k=1 takes the fresh one although the stale one is nearer
    let v = app
        .get_json(&nearest_path(b, "&k=1&type=police"), 200)
        .await;
    assert_eq!(candidate_ids(&v), ["ST-FAR"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_candidates_use_the_incident_position() {
    let app = spawn_app().await;
    let t = &townships()[2];
    let b = (t.seat_lon, t.seat_lat);
    let inc = app
        .post_created(&crate::helpers::at_seat("CAND-1", t, 1))
        .await;
    let inc_id = inc[0]["id"].as_i64().unwrap();
    let spots = [
        ("CA-1", "police", offset(b, 300.0, 0.0)),
        ("CA-2", "grid", offset(b, 0.0, 700.0)),
        ("CA-3", "police", offset(b, -1_200.0, 0.0)),
        ("CA-4", "fire", offset(b, 4_000.0, 0.0)),
    ];
    for (id, kind, at) in spots {
        place(&app, id, kind, at, 5).await;
    }
    let v = app
        .get_json(&format!("/api/v1/incidents/{inc_id}/candidates?k=3"), 200)
        .await;
    assert_eq!(v["incident"]["id"], inc_id, "{v}");
    assert_eq!(candidate_ids(&v), ["CA-1", "CA-2", "CA-3"], "{v}");
    for c in v["candidates"].as_array().unwrap() {
        let id = c["responder"]["id"].as_str().unwrap();
        let at = spots.iter().find(|s| s.0 == id).unwrap().2;
        let d = c["distance_m"].as_f64().unwrap();
        assert!((d - haversine(b, at)).abs() <= 0.5, "{id}: {d}");
        assert!(c["eta_s"].as_f64().unwrap() > 0.0);
        assert!(!c["reasons"].as_array().unwrap().is_empty());
    }
    assert_eq!(
        v["candidates"][0]["township_code"], t.code,
        "a responder 300 m from the seat is in the same township: {v}"
    );
    let v = app
        .get_json(
            &format!("/api/v1/incidents/{inc_id}/candidates?k=3&type=fire"),
            200,
        )
        .await;
    assert_eq!(candidate_ids(&v), ["CA-4"]);

    let r = app.get("/api/v1/incidents/999999/candidates?k=3").await;
    assert_eq!(r.status(), 404, "{}", r.text().await.unwrap());
    let r = app.get("/api/v1/incidents/abc/candidates?k=3").await;
    assert_field_error(r, 400, "id").await;
    let r = app
        .get(&format!("/api/v1/incidents/{inc_id}/candidates?k=0"))
        .await;
    assert_field_error(r, 400, "k").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_type_moves_the_responder_to_the_other_search() {
    let app = spawn_app().await;
    let b = base();
    place(&app, "TY-1", "police", offset(b, 100.0, 0.0), 1).await;
    let path = |kind: &str| nearest_path(b, &format!("&k=3&type={kind}"));
    assert_eq!(
        candidate_ids(&app.get_json(&path("police"), 200).await),
        ["TY-1"]
    );
    let mut body = responder_body("TY-1", "grid");
    body["skills"] = json!(["mediation"]);
    post_roster(&app, body, 200).await;
    assert!(candidate_ids(&app.get_json(&path("police"), 200).await).is_empty());
    let v = app.get_json(&path("grid"), 200).await;
    assert_eq!(candidate_ids(&v), ["TY-1"], "{v}");
    // the position is kept across the upsert
    assert!(close(
        coords(&app.responder("TY-1").await),
        offset(b, 100.0, 0.0)
    ));
    let v = app
        .get_json(&nearest_path(b, "&k=3&skill=mediation"), 200)
        .await;
    assert_eq!(candidate_ids(&v), ["TY-1"], "{v}");
}

// ---- assignments ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_ack_and_the_refusals() {
    let app = spawn_app().await;
    let t = &townships()[2];
    let b = seat(t);
    place(&app, "AS-A", "police", offset(b, 100.0, 0.0), 1).await;
    place(&app, "AS-B", "police", offset(b, 900.0, 0.0), 1).await;
    let mut busy = responder_body("AS-BUSY", "police");
    busy["status"] = json!("busy");
    post_roster(&app, busy, 201).await;
    let inc = new_incident(&app, "AS-1", t).await;
    let inc2 = new_incident(&app, "AS-2", t).await;

    let aid = assign_ok(&app, inc, "AS-A").await;
    let f = app.responder("AS-A").await;
    assert_eq!(f["properties"]["status"], "dispatched", "{f}");
    assert_eq!(f["properties"]["assignment"]["id"], aid, "{f}");
    assert_eq!(f["properties"]["assignment"]["incident_id"], inc);
    assert_eq!(
        stored_assignment(&app, aid).await,
        ("dispatched".into(), "AS-A".into(), inc, None)
    );
    let status: String = sqlx::query_scalar("select status from responder where id = 'AS-A'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "dispatched");
    assert_eq!(
        log_count(&app, "assignment.created", &aid.to_string()).await,
        1
    );
    let logged: Vec<Value> = sqlx::query_scalar(
        "select payload from event_log where kind = 'responder.status' and subject = 'AS-A'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["status"], "dispatched");

    // the same responder again, to the same or another incident: 409 naming it
    for incident in [inc, inc2] {
        let r = assign(&app, incident, &["AS-A"]).await;
        let e = assert_field_error(r, 409, "responders[0]").await;
        assert!(
            e["reason"]
                .as_str()
                .unwrap()
                .contains(&format!("assignment {aid}")),
            "{e}"
        );
    }
    // second in a list
    let r = assign(&app, inc2, &["AS-B", "AS-A"]).await;
    assert_field_error(r, 409, "responders[1]").await;
    assert_eq!(status_of(&app, "AS-B").await, "available", "all or nothing");
    let r = assign(&app, inc2, &["AS-BUSY"]).await;
    let e = assert_field_error(r, 409, "responders[0]").await;
    assert!(e["reason"].as_str().unwrap().contains("busy"), "{e}");
    let r = assign(&app, inc2, &["AS-NOPE"]).await;
    assert_field_error(r, 404, "responders[0]").await;
    let r = assign(&app, 999_999, &["AS-B"]).await;
    assert_eq!(r.status(), 404, "{}", r.text().await.unwrap());
    let r = assign(&app, inc2, &["AS-B", "AS-B"]).await;
    assert_field_error(r, 400, "responders[1]").await;
    let r = assign(&app, inc2, &[]).await;
    assert_field_error(r, 400, "responders").await;
    let r = app
        .post_json(
            "/api/v1/incidents/abc/assign",
            &json!({"responders": ["AS-B"]}),
        )
        .await;
    assert_field_error(r, 400, "id").await;
    let n: i64 = sqlx::query_scalar("select count(*) from assignment")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "no refused assignment was stored");

    // ack: en route, acked; a second ack is a conflict
    let r = app
        .post_json(&format!("/api/v1/assignments/{aid}/ack"), &json!({}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(status_of(&app, "AS-A").await, "en_route");
    let list = assignments(&app, inc).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "acked", "{list:?}");
    assert!(list[0]["acked_at"].is_string(), "{list:?}");
    assert_eq!(stored_assignment(&app, aid).await.0, "acked");
    let r = app
        .post_json(&format!("/api/v1/assignments/{aid}/ack"), &json!({}))
        .await;
    assert_field_error(r, 409, "status").await;
    let r = app
        .post_json("/api/v1/assignments/999999/ack", &json!({}))
        .await;
    assert_eq!(r.status(), 404, "{}", r.text().await.unwrap());
    // still held after ack: assigning again is refused
    let r = assign(&app, inc2, &["AS-A"]).await;
    assert_field_error(r, 409, "responders[0]").await;

    // on_scene keeps the assignment; available clears it
    let r = set_status(&app, "AS-A", "on_scene").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let f = app.responder("AS-A").await;
    assert_eq!(f["properties"]["status"], "on_scene");
    assert_eq!(f["properties"]["assignment"]["id"], aid, "{f}");
    let r = set_status(&app, "AS-A", "busy").await;
    assert_field_error(r, 409, "status").await;
    assert_eq!(status_of(&app, "AS-A").await, "on_scene");
    let r = set_status(&app, "AS-A", "available").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["assignments"][0]["status"], "cleared", "{v}");
    let f = app.responder("AS-A").await;
    assert_eq!(f["properties"]["status"], "available");
    assert!(f["properties"]["assignment"].is_null(), "{f}");
    let list = assignments(&app, inc).await;
    assert_eq!(list[0]["status"], "cleared", "{list:?}");
    assert!(list[0]["closed_at"].is_string());
    assert_eq!(
        log_count(&app, "assignment.cleared", &aid.to_string()).await,
        1
    );
    // free again: can be assigned
    assign_ok(&app, inc2, "AS-A").await;

    // the status endpoint refuses dispatched, unknown statuses and responders
    let r = set_status(&app, "AS-B", "dispatched").await;
    assert_field_error(r, 400, "status").await;
    let r = set_status(&app, "AS-B", "asleep").await;
    assert_field_error(r, 400, "status").await;
    let r = set_status(&app, "AS-NOPE", "busy").await;
    assert_field_error(r, 404, "id").await;
    let r = app
        .post_json(
            "/api/v1/responders/AS-B/status",
            &json!({"status": "busy", "x": 1}),
        )
        .await;
    assert_field_error(r, 400, "x").await;
    let r = set_status(&app, "AS-B", "off_duty").await;
    assert_eq!(r.status(), 200);
    assert_eq!(status_of(&app, "AS-B").await, "off_duty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_reoffers_to_the_next_closest_of_the_same_type() {
    let app = spawn_app().await;
    let t = &townships()[2];
    let b = seat(t);
    place(&app, "DC-1", "police", offset(b, 100.0, 0.0), 1).await;
    place(&app, "DC-3", "police", offset(b, 0.0, 3_000.0), 1).await;
    place(&app, "DC-2", "police", offset(b, -1_200.0, 0.0), 1).await;
    // nearer than DC-2 but of another type, and a busy police even nearer
    place(&app, "DC-G", "grid", offset(b, 300.0, 0.0), 1).await;
    place(&app, "DC-BUSY", "police", offset(b, 200.0, 0.0), 1).await;
    assert_eq!(set_status(&app, "DC-BUSY", "busy").await.status(), 200);
    let inc = new_incident(&app, "DC-INC", t).await;

    let a1 = assign_ok(&app, inc, "DC-1").await;
    let r = app
        .post_json(&format!("/api/v1/assignments/{a1}/decline"), &json!({}))
        .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(status_of(&app, "DC-1").await, "available");
    assert_eq!(status_of(&app, "DC-2").await, "dispatched");
    assert_eq!(status_of(&app, "DC-G").await, "available");
    let list = assignments(&app, inc).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["id"], a1);
    assert_eq!(list[0]["status"], "declined");
    assert_eq!(list[1]["responder_id"], "DC-2", "{list:?}");
    assert_eq!(list[1]["status"], "dispatched");
    assert_eq!(list[1]["replaces"], a1, "{list:?}");
    let a2 = list[1]["id"].as_i64().unwrap();
    assert_eq!(
        app.responder("DC-2").await["properties"]["assignment"]["id"],
        a2
    );
    // a declined assignment cannot be declined or acked again
    let r = app
        .post_json(&format!("/api/v1/assignments/{a1}/decline"), &json!({}))
        .await;
    assert_field_error(r, 409, "status").await;
    let r = app
        .post_json(&format!("/api/v1/assignments/{a1}/ack"), &json!({}))
        .await;
    assert_field_error(r, 409, "status").await;

    // DC-2 declines too: DC-3 next (DC-1 was already tried)
    let r = app
        .post_json(&format!("/api/v1/assignments/{a2}/decline"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let list = assignments(&app, inc).await;
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[2]["responder_id"], "DC-3", "{list:?}");
    assert_eq!(list[2]["replaces"], a2);
    let a3 = list[2]["id"].as_i64().unwrap();
    // and when DC-3 declines nobody of that type is left: no new offer
    let r = app
        .post_json(&format!("/api/v1/assignments/{a3}/decline"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let list = assignments(&app, inc).await;
    assert_eq!(list.len(), 3, "{list:?}");
    for id in ["DC-1", "DC-2", "DC-3", "DC-G"] {
        assert_eq!(status_of(&app, id).await, "available", "{id}");
    }
    assert_eq!(status_of(&app, "DC-BUSY").await, "busy");
    let open: i64 = sqlx::query_scalar(
        "select count(*) from assignment where status in ('dispatched', 'acked')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(open, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_dispatch_times_out_and_goes_to_the_next_candidate() {
    let app = spawn_app_with(|s| s.dispatch.ack_timeout_secs = 1).await;
    let t = &townships()[2];
    let b = seat(t);
    place(&app, "TO-1", "police", offset(b, 150.0, 0.0), 1).await;
    place(&app, "TO-2", "police", offset(b, 0.0, -900.0), 1).await;
    let inc = new_incident(&app, "TO-INC", t).await;
    let a1 = assign_ok(&app, inc, "TO-1").await;

    let list = eventually(Duration::from_secs(6), "timeout re-offer", || async {
        let list = assignments(&app, inc).await;
        (list.len() == 2).then_some(list)
    })
    .await;
    assert_eq!(list[0]["id"], a1);
    assert_eq!(list[0]["status"], "timed_out", "{list:?}");
    assert_eq!(list[1]["responder_id"], "TO-2", "{list:?}");
    assert_eq!(list[1]["replaces"], a1);
    assert_eq!(status_of(&app, "TO-1").await, "available");
    let f = app.responder("TO-2").await;
    assert_eq!(f["properties"]["status"], "dispatched", "{f}");
    assert_eq!(f["properties"]["assignment"]["id"], list[1]["id"]);
    assert_eq!(stored_assignment(&app, a1).await.0, "timed_out");
    assert_eq!(
        log_count(&app, "assignment.timed_out", &a1.to_string()).await,
        1
    );

    // TO-2 does not ack either; TO-1 was tried already, so nobody is next
    let a2 = list[1]["id"].as_i64().unwrap();
    eventually(Duration::from_secs(6), "second timeout", || async {
        (stored_assignment(&app, a2).await.0 == "timed_out").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(assignments(&app, inc).await.len(), 2);
    assert_eq!(status_of(&app, "TO-1").await, "available");
    assert_eq!(status_of(&app, "TO-2").await, "available");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_dispatch_does_not_time_out() {
    let app = spawn_app_with(|s| s.dispatch.ack_timeout_secs = 1).await;
    let t = &townships()[2];
    let b = seat(t);
    place(&app, "TA-1", "police", offset(b, 150.0, 0.0), 1).await;
    place(&app, "TA-2", "police", offset(b, 0.0, -900.0), 1).await;
    let inc = new_incident(&app, "TA-INC", t).await;
    let a1 = assign_ok(&app, inc, "TA-1").await;
    let r = app
        .post_json(&format!("/api/v1/assignments/{a1}/ack"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let list = assignments(&app, inc).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "acked");
    assert_eq!(status_of(&app, "TA-1").await, "en_route");
    assert_eq!(status_of(&app, "TA-2").await, "available");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_statuses_assignments_timers_and_positions_survive_a_restart() {
    let mut app = spawn_app_with(|s| s.dispatch.ack_timeout_secs = 2).await;
    let t = &townships()[2];
    let b = seat(t);
    post_roster(
        &app,
        json!([
            {"id": "RS-1", "name": "a", "type": "police", "phone": "13800001111", "skills": ["driving"]},
            {"id": "RS-2", "name": "b", "type": "police"},
            {"id": "RS-3", "name": "c", "type": "grid"},
            {"id": "RS-4", "name": "d", "type": "lawyer", "status": "off_duty"},
        ]),
        201,
    )
    .await;
    let now = Utc::now();
    let p1 = offset(b, 100.0, 0.0);
    let p2 = offset(b, 800.0, 0.0);
    let p3 = offset(b, 0.0, 400.0);
    fix(&app, "RS-1", p1, now - CDuration::seconds(5)).await;
    fix(&app, "RS-2", p2, now - CDuration::seconds(5)).await;
    fix(&app, "RS-3", p3, now - CDuration::seconds(5)).await;
    let inc_acked = new_incident(&app, "RS-INC-A", t).await;
    let inc = new_incident(&app, "RS-INC-B", t).await;
    // RS-3 acked (no timer), RS-1 dispatched with a 2 s timer
    let a3 = assign_ok(&app, inc_acked, "RS-3").await;
    let r = app
        .post_json(&format!("/api/v1/assignments/{a3}/ack"), &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    // a last fix for RS-3, then stop at once: the clean shutdown flushes it
    let p3b = offset(p3, 30.0, 0.0);
    let t3b = Utc::now();
    fix(&app, "RS-3", p3b, t3b).await;
    let a1 = assign_ok(&app, inc, "RS-1").await;
    app.restart().await;

    // positions are in PostGIS and back in memory
    let f = app.responder("RS-3").await;
    assert!(
        (coords(&f).0 - p3b.0).abs() < 1e-9 && (coords(&f).1 - p3b.1).abs() < 1e-9,
        "RS-3 after restart: {f}"
    );
    let ts =
        chrono::DateTime::parse_from_rfc3339(f["properties"]["position"]["ts"].as_str().unwrap())
            .unwrap();
    assert_eq!(ts.timestamp_millis(), t3b.timestamp_millis());
    let stored: i64 = sqlx::query_scalar("select count(*) from responder_position")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 3);
    // roster and statuses
    let fc = app.get_json("/api/v1/responders", 200).await;
    assert_eq!(fc["features"].as_array().unwrap().len(), 4, "{fc}");
    let f1 = app.responder("RS-1").await;
    assert_eq!(f1["properties"]["phone_masked"], "138****1111");
    assert_eq!(f1["properties"]["skills"], json!(["driving"]));
    assert_eq!(status_of(&app, "RS-4").await, "off_duty");
    assert_eq!(status_of(&app, "RS-3").await, "en_route");
    assert_eq!(
        app.responder("RS-3").await["properties"]["assignment"]["id"],
        a3,
        "the acked assignment is held after restart"
    );
    // the open assignment's timer fired after the restart: re-offered
    let list = eventually(Duration::from_secs(6), "timeout after restart", || async {
        let list = assignments(&app, inc).await;
        (list.len() == 2).then_some(list)
    })
    .await;
    assert_eq!(list[0]["id"], a1);
    assert_eq!(list[0]["status"], "timed_out", "{list:?}");
    assert_eq!(list[1]["responder_id"], "RS-2", "{list:?}");
    assert_eq!(list[1]["replaces"], a1);
    assert_eq!(status_of(&app, "RS-1").await, "available");
    assert_eq!(status_of(&app, "RS-2").await, "dispatched");
    // the acked one is untouched
    let acked = assignments(&app, inc_acked).await;
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["status"], "acked");
    // and the positions still rank: RS-1 (100 m) is nearest again
    let v = app
        .get_json(
            &format!(
                "/api/v1/responders/nearest?lon={}&lat={}&k=1&type=police",
                b.0, b.1
            ),
            200,
        )
        .await;
    assert_eq!(v["candidates"][0]["responder"]["id"], "RS-1", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_are_flushed_to_postgis_within_a_second_or_two() {
    let app = spawn_app().await;
    let b = seat(&townships()[2]);
    place(&app, "FL-1", "grid", b, 3).await;
    let p = offset(b, 40.0, 0.0);
    fix(&app, "FL-1", p, Utc::now()).await;
    let (lon, lat): (f64, f64) = eventually(Duration::from_secs(5), "flush", || async {
        let row: Option<(f64, f64, chrono::DateTime<Utc>)> = sqlx::query_as(
            "select ST_X(geom), ST_Y(geom), fix_at from responder_position where responder_id = 'FL-1'",
        )
        .fetch_optional(&app.pool)
        .await
        .unwrap();
        row.filter(|r| (r.1 - p.1).abs() < 1e-9).map(|r| (r.0, r.1))
    })
    .await;
    assert!((lon - p.0).abs() < 1e-9 && (lat - p.1).abs() < 1e-9);
    let track: i64 =
        sqlx::query_scalar("select count(*) from responder_track where responder_id = 'FL-1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(track >= 1, "track points: {track}");
    let v = app.get_json("/api/v1/responders/FL-1/track", 200).await;
    assert_eq!(v["geometry"]["type"], "LineString", "{v}");
    assert!(!v["geometry"]["coordinates"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commanders_assigning_the_same_responder_at_once_get_one_201_and_one_409() {
    let app = spawn_app().await;
    let t = &townships()[2];
    place(&app, "RC-1", "police", offset(seat(t), 100.0, 0.0), 1).await;
    let i1 = new_incident(&app, "RC-INC-1", t).await;
    let i2 = new_incident(&app, "RC-INC-2", t).await;
    for round in 0..3 {
        let (r1, r2) = tokio::join!(assign(&app, i1, &["RC-1"]), assign(&app, i2, &["RC-1"]));
        let mut codes = [r1.status().as_u16(), r2.status().as_u16()];
        codes.sort();
        assert_eq!(codes, [201, 409], "round {round}");
        let open: Vec<i64> = sqlx::query_scalar(
            "select id from assignment where responder_id = 'RC-1' and status in ('dispatched', 'acked')",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        assert_eq!(open.len(), 1, "round {round}: {open:?}");
        let f = app.responder("RC-1").await;
        assert_eq!(f["properties"]["assignment"]["id"], open[0], "{f}");
        assert_eq!(set_status(&app, "RC-1", "available").await.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn en_route_from_the_status_endpoint_acknowledges_the_dispatch() {
    let app = spawn_app_with(|s| s.dispatch.ack_timeout_secs = 1).await;
    let t = &townships()[2];
    place(&app, "ER-1", "police", offset(seat(t), 100.0, 0.0), 1).await;
    place(&app, "ER-2", "police", offset(seat(t), 700.0, 0.0), 1).await;
    let inc = new_incident(&app, "ER-INC", t).await;
    let a = assign_ok(&app, inc, "ER-1").await;
    let r = set_status(&app, "ER-1", "en_route").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["assignments"][0]["id"], a, "{v}");
    assert_eq!(v["assignments"][0]["status"], "acked", "{v}");
    // acknowledged: the 1 s timer does not re-offer it
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let list = assignments(&app, inc).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "acked");
    assert_eq!(status_of(&app, "ER-1").await, "en_route");
    assert_eq!(status_of(&app, "ER-2").await, "available");
}
