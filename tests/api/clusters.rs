//! Repeat-call clustering end to end (issue 7): cluster ids in the ingest
//! answer, the incident list and the stream; clusters in PostGIS and after a
//! restart; merge/split by hand; repeat statistics.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::helpers::{
    assert_field_error, next_json_within, offset, rfc3339, send_json, spawn_app, townships, TestApp,
};

/// A noise complaint `east_m` metres east of `at`, `minutes_ago` ago.
fn noise(id: &str, at: (f64, f64), east_m: f64, minutes_ago: i64, phone: Option<&str>) -> Value {
    let (lon, lat) = offset(at, 0.0, east_m);
    let mut v = json!({
        "source": "110",
        "source_id": id,
        "reported_at": rfc3339(Utc::now() - chrono::Duration::minutes(minutes_ago)),
        "lon": lon,
        "lat": lat,
        "category": "社会生活噪声扰民",
        "description": "楼上深夜唱歌音响声音太大，吵得睡不着",
        "priority": 3,
    });
    if let Some(p) = phone {
        v["caller_phone"] = json!(p);
    }
    v
}

fn fight(id: &str, at: (f64, f64), minutes_ago: i64) -> Value {
    json!({
        "source": "110",
        "source_id": id,
        "reported_at": rfc3339(Utc::now() - chrono::Duration::minutes(minutes_ago)),
        "lon": at.0,
        "lat": at.1,
        "category": "打架斗殴",
        "description": "两个人在门口打架",
        "priority": 1,
    })
}

fn cluster_of(record: &Value) -> i64 {
    record["cluster_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no cluster_id in {record}"))
}

async fn stored_cluster(app: &TestApp, incident: i64) -> Option<i64> {
    sqlx::query_scalar("select cluster_id from cluster_member where incident_id = $1")
        .bind(incident)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

fn seat() -> (f64, f64) {
    let t = &townships()[0];
    (t.seat_lon, t.seat_lat)
}

#[tokio::test]
async fn repeat_calls_share_a_cluster_everywhere_and_other_kinds_stay_apart() {
    let app = spawn_app().await;
    let at = seat();
    let recs = app
        .post_created(&json!([
            noise("N-1", at, 0.0, 30, Some("13800001111")),
            noise("N-2", at, 120.0, 20, None),
            fight("F-1", at, 19),
            noise("N-far", at, 3_000.0, 10, None),
        ]))
        .await;
    let c: Vec<i64> = recs.iter().map(cluster_of).collect();
    let ids: Vec<i64> = recs.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(
        c[0], ids[0],
        "the first call opens the cluster and names it"
    );
    assert_eq!(c[1], c[0], "120 m and 10 minutes apart: one event");
    assert_ne!(c[2], c[0], "a fight at the same door is another event");
    assert_ne!(c[3], c[0], "3 km away is another party");
    // stored before it was answered
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(stored_cluster(&app, *id).await, Some(c[i]));
    }
    let reason: String =
        sqlx::query_scalar("select reason from cluster_member where incident_id = $1")
            .bind(ids[1])
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(reason, "nearby");
    // a later call from the first caller, 1 km away (out of the radius):
    // the same caller links it
    let again = app
        .post_created(&noise("N-3", at, 900.0, 5, Some("13800001111")))
        .await;
    assert_eq!(cluster_of(&again[0]), c[0]);

    // the incident list carries it
    let list = app.get_json("/api/v1/incidents?limit=10", 200).await;
    for f in list["features"].as_array().unwrap() {
        let id = f["id"].as_i64().unwrap();
        let want = if [ids[0], ids[1], again[0]["id"].as_i64().unwrap()].contains(&id) {
            c[0]
        } else {
            id
        };
        assert_eq!(f["properties"]["cluster_id"], json!(want), "{f}");
    }
    // a replay answers the same cluster
    let replay = app
        .post_incidents(&json!(noise("N-2", at, 120.0, 20, None)))
        .await;
    assert_eq!(replay.status(), 200);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["cluster_id"], json!(c[0]));

    // GET /clusters: the 3-call cluster (single calls are left out by default)
    let fc = app.get_json("/api/v1/clusters", 200).await;
    let feats = fc["features"].as_array().unwrap();
    assert_eq!(feats.len(), 1, "{fc}");
    let p = &feats[0]["properties"];
    assert_eq!(feats[0]["id"], json!(c[0]));
    assert_eq!(p["members"], 3);
    assert_eq!(p["repeats"], 2);
    assert_eq!(p["family"], "noise");
    assert_eq!(p["open"], true);
    assert_eq!(p["callers"], 1);
    assert_eq!(p["sources"]["110"], 3);
    // the three calls lie on one east-west line: the hull is a segment
    assert_eq!(p["extent"]["type"], "LineString", "{p}");
    assert_eq!(feats[0]["geometry"]["type"], "Point");
    let all = app.get_json("/api/v1/clusters?min_members=1", 200).await;
    assert_eq!(all["features"].as_array().unwrap().len(), 3);
    let none = app.get_json("/api/v1/clusters?family=traffic", 200).await;
    assert!(none["features"].as_array().unwrap().is_empty());

    // the detail: members in event order, why each joined, masked caller
    let d = app
        .get_json(&format!("/api/v1/clusters/{}", c[0]), 200)
        .await;
    let members = d["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members[0]["reason"], "opened");
    assert_eq!(members[0]["repeat"], false);
    assert_eq!(members[1]["reason"], "nearby");
    assert_eq!(members[1]["matched"], json!(ids[0]));
    assert!((members[1]["distance_m"].as_f64().unwrap() - 120.0).abs() < 3.0);
    assert_eq!(members[2]["reason"], "same_caller");
    assert_eq!(members[2]["repeat"], true);
    assert_eq!(members[0]["caller_masked"], "138****1111");
    assert!(!d.to_string().contains("13800001111"), "raw number leaked");

    // bad input
    assert_field_error(app.get("/api/v1/clusters?open=maybe").await, 400, "open").await;
    assert_field_error(app.get("/api/v1/clusters?family=nope").await, 400, "family").await;
    assert_field_error(app.get("/api/v1/clusters?bbox=1,2").await, 400, "bbox").await;
    assert_field_error(app.get("/api/v1/clusters?radius=3").await, 400, "radius").await;
    assert_field_error(app.get("/api/v1/clusters/abc").await, 400, "id").await;
    assert_field_error(app.get("/api/v1/clusters/999999").await, 404, "id").await;
}

#[tokio::test]
async fn a_late_call_merges_two_clusters_and_a_commander_splits_them_again() {
    let mut app = spawn_app().await;
    let at = seat();
    let a = app.post_created(&noise("L-1", at, 0.0, 60, None)).await;
    let b = app.post_created(&noise("L-2", at, 340.0, 50, None)).await;
    let (ca, cb) = (cluster_of(&a[0]), cluster_of(&b[0]));
    assert_ne!(ca, cb, "340 m apart: two clusters");
    // a late record from a source system: it happened in between, 170 m from both
    let late = app.post_created(&noise("L-3", at, 170.0, 55, None)).await;
    assert_eq!(cluster_of(&late[0]), ca, "the older cluster survives");
    assert_eq!(
        stored_cluster(&app, b[0]["id"].as_i64().unwrap()).await,
        Some(ca)
    );
    let gone = app.get_json(&format!("/api/v1/clusters/{cb}"), 200).await;
    assert_eq!(gone["cluster"]["properties"]["replaced_by"], json!(ca));
    assert_eq!(gone["history"][0]["kind"], "REPLACED");
    let kept = app.get_json(&format!("/api/v1/clusters/{ca}"), 200).await;
    assert_eq!(kept["members"].as_array().unwrap().len(), 3);
    assert_eq!(kept["history"][0]["kind"], "REPLACING");
    assert_eq!(kept["history"][0]["incident_id"], late[0]["id"]);
    assert_eq!(kept["history"][0]["manual"], false);

    // acting on the merged-away id: a 409 saying where its calls went
    let r = app
        .post_expect(
            &format!("/api/v1/clusters/{cb}/merge"),
            &json!({"with": [ca]}),
            409,
        )
        .await;
    assert_eq!(r["field"], "id");
    assert_eq!(r["replaced_by"], json!(ca), "{r}");

    // the commander: L-2 is another flat's party
    let l2 = b[0]["id"].as_i64().unwrap();
    let r = app
        .post_expect(
            &format!("/api/v1/clusters/{ca}/split"),
            &json!({"incidents": [l2], "actor": "王指挥", "note": "另一户"}),
            200,
        )
        .await;
    assert_eq!(r["new_cluster_id"], json!(l2));
    assert_eq!(stored_cluster(&app, l2).await, Some(l2));
    let split = app.get_json(&format!("/api/v1/clusters/{l2}"), 200).await;
    assert_eq!(split["cluster"]["properties"]["replaced_by"], Value::Null);
    assert_eq!(split["cluster"]["properties"]["members"], 1);
    assert_eq!(split["cluster"]["properties"]["manual"], true);
    let kinds: Vec<&str> = split["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"SPLIT") && kinds.contains(&"CHILD"),
        "{kinds:?}"
    );
    let by_hand = split["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "SPLIT")
        .unwrap();
    assert_eq!(by_hand["actor"], "王指挥");
    assert_eq!(by_hand["note"], "另一户");
    let logged: i64 = sqlx::query_scalar(
        "select count(*) from event_log where kind = 'cluster.split' and payload->>'actor' = '王指挥'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(logged, 1);

    // refusals name the field
    assert_field_error(
        app.post_json(
            &format!("/api/v1/clusters/{ca}/split"),
            &json!({"incidents": [l2]}),
        )
        .await,
        422,
        "incidents",
    )
    .await;
    assert_field_error(
        app.post_json(
            &format!("/api/v1/clusters/{ca}/merge"),
            &json!({"with": []}),
        )
        .await,
        400,
        "with",
    )
    .await;
    assert_field_error(
        app.post_json(
            &format!("/api/v1/clusters/{ca}/merge"),
            &json!({"with": [ca]}),
        )
        .await,
        422,
        "with",
    )
    .await;
    assert_field_error(
        app.post_json(
            &format!("/api/v1/clusters/{ca}/merge"),
            &json!({"with": [l2], "by": 1}),
        )
        .await,
        400,
        "by",
    )
    .await;

    // a restart changes no cluster, and the split parts stay apart
    app.restart().await;
    let near_both = app.post_created(&noise("L-4", at, 255.0, 40, None)).await;
    let c4 = cluster_of(&near_both[0]);
    assert_eq!(c4, ca, "joins the older part");
    assert_eq!(stored_cluster(&app, l2).await, Some(l2), "the split holds");
    let split = app.get_json(&format!("/api/v1/clusters/{l2}"), 200).await;
    assert_eq!(split["cluster"]["properties"]["replaced_by"], Value::Null);

    // and the commander merges them after all
    let r = app
        .post_expect(
            &format!("/api/v1/clusters/{ca}/merge"),
            &json!({"with": [l2], "actor": "王指挥"}),
            200,
        )
        .await;
    assert_eq!(r["clusters"].as_array().unwrap().len(), 2);
    assert_eq!(stored_cluster(&app, l2).await, Some(ca));
    let kept = app.get_json(&format!("/api/v1/clusters/{ca}"), 200).await;
    assert_eq!(kept["cluster"]["properties"]["members"], 4);
}

#[tokio::test]
async fn the_clusters_layer_updates_in_place_on_the_stream() {
    let app = spawn_app().await;
    let at = seat();
    let first = app.post_created(&noise("S-1", at, 0.0, 10, None)).await;
    let c = cluster_of(&first[0]);
    let mut ws = app.ws_connect().await;
    send_json(
        &mut ws,
        json!({"type": "subscribe", "layers": ["incidents", "clusters"]}),
    )
    .await;
    let snap = next_json_within(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["clusters"]["type"], "FeatureCollection");
    assert!(
        snap["clusters"]["features"].as_array().unwrap().is_empty(),
        "a single call is not a cluster on screen yet"
    );
    assert_eq!(
        snap["incidents"]["features"][0]["properties"]["cluster_id"],
        json!(c)
    );

    app.post_created(&noise("S-2", at, 80.0, 5, None)).await;
    let mut got_incident = None;
    let mut got_cluster = None;
    while got_incident.is_none() || got_cluster.is_none() {
        let m = next_json_within(&mut ws, Duration::from_secs(10)).await;
        match m["type"].as_str() {
            Some("incident") => got_incident = Some(m),
            Some("cluster") => got_cluster = Some(m),
            _ => {}
        }
    }
    let inc = got_incident.unwrap();
    assert_eq!(inc["feature"]["properties"]["cluster_id"], json!(c));
    let cl = got_cluster.unwrap();
    assert_eq!(cl["feature"]["id"], json!(c));
    assert_eq!(cl["feature"]["properties"]["members"], 2);
    let v1 = cl["feature"]["properties"]["version"].as_i64().unwrap();

    app.post_created(&noise("S-3", at, 40.0, 1, None)).await;
    let cl2 = loop {
        let m = next_json_within(&mut ws, Duration::from_secs(10)).await;
        if m["type"] == "cluster" {
            break m;
        }
    };
    assert_eq!(
        cl2["feature"]["id"],
        json!(c),
        "the same cluster, updated in place"
    );
    assert_eq!(cl2["feature"]["properties"]["members"], 3);
    assert!(cl2["feature"]["properties"]["version"].as_i64().unwrap() > v1);
    assert!(cl2["seq"].as_u64().unwrap() > cl["seq"].as_u64().unwrap());

    // a new subscriber's snapshot holds it
    let mut ws2 = app.ws_connect().await;
    send_json(
        &mut ws2,
        json!({"type": "subscribe", "layers": ["clusters"]}),
    )
    .await;
    let snap = next_json_within(&mut ws2, Duration::from_secs(10)).await;
    let f = &snap["clusters"]["features"][0];
    assert_eq!(f["id"], json!(c));
    assert_eq!(f["properties"]["members"], 3);
    assert!(snap["incidents"]["features"].as_array().unwrap().is_empty());

    // a commander splits the last call off: its incident Feature is sent
    // again with the new cluster_id, and both clusters are updated
    let third: i64 = sqlx::query_scalar("select id from incident where source_id = 'S-3'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let r = app
        .post_expect(
            &format!("/api/v1/clusters/{c}/split"),
            &json!({"incidents": [third]}),
            200,
        )
        .await;
    assert_eq!(r["new_cluster_id"], json!(third));
    let (mut again, mut parts) = (None, Vec::new());
    while again.is_none() || parts.len() < 2 {
        let m = next_json_within(&mut ws, Duration::from_secs(10)).await;
        match m["type"].as_str() {
            Some("incident") if m["feature"]["properties"]["id"] == json!(third) => again = Some(m),
            Some("cluster") => parts.push(m["feature"]["id"].as_i64().unwrap()),
            _ => {}
        }
    }
    assert_eq!(
        again.unwrap()["feature"]["properties"]["cluster_id"],
        json!(third)
    );
    parts.sort_unstable();
    let mut want = vec![c, third];
    want.sort_unstable();
    assert_eq!(parts, want);
}

#[tokio::test]
async fn repeat_statistics_count_from_the_stored_clusters() {
    let app = spawn_app().await;
    let ts = townships();
    let (a, b) = (
        (ts[0].seat_lon, ts[0].seat_lat),
        (ts[1].seat_lon, ts[1].seat_lat),
    );
    // township A: one party, 4 calls (3 repeats) + a fight; township B: 2 single calls
    app.post_created(&json!([
        noise("R-1", a, 0.0, 50, Some("13900002222")),
        noise("R-2", a, 50.0, 40, Some("13900002222")),
        noise("R-3", a, 100.0, 30, None),
        noise("R-4", a, 60.0, 20, Some("13900002222")),
        fight("R-5", a, 20),
        noise("R-6", b, 0.0, 30, None),
        fight("R-7", b, 25),
    ]))
    .await;
    let from = rfc3339(Utc::now() - chrono::Duration::hours(2));
    let to = rfc3339(Utc::now() + chrono::Duration::minutes(1));
    let s = app
        .get_json(
            &format!("/api/v1/stats/repeats?from={from}&to={to}&by=township"),
            200,
        )
        .await;
    assert_eq!(s["calls"], 7);
    assert_eq!(s["repeats"], 3);
    assert!((s["rate"].as_f64().unwrap() - 3.0 / 7.0).abs() < 1e-9);
    assert_eq!(s["unclustered"], 0);
    let rows = s["rows"].as_array().unwrap();
    let row_a = rows
        .iter()
        .find(|r| r["key"] == ts[0].code.as_str())
        .unwrap();
    assert_eq!(
        (row_a["calls"].as_i64(), row_a["repeats"].as_i64()),
        (Some(5), Some(3))
    );
    let row_b = rows
        .iter()
        .find(|r| r["key"] == ts[1].code.as_str())
        .unwrap();
    assert_eq!(row_b["repeats"], 0);
    assert_eq!(s["top_locations"][0]["calls"], 4);
    assert_eq!(s["top_locations"][0]["family"], "noise");
    assert_eq!(s["top_callers"][0]["calls"], 3);
    assert_eq!(s["top_callers"][0]["caller_masked"], "139****2222");
    let by_cat = app
        .get_json(
            &format!("/api/v1/stats/repeats?from={from}&to={to}&by=category"),
            200,
        )
        .await;
    let fights = by_cat["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "02.01")
        .expect("fights row");
    assert_eq!(fights["calls"], 2);
    assert_eq!(
        fights["repeats"], 0,
        "two fights in two townships are not repeats"
    );
    // a period that starts after the first call still counts the later ones as repeats
    let mid = rfc3339(Utc::now() - chrono::Duration::minutes(35));
    let late = app
        .get_json(&format!("/api/v1/stats/repeats?from={mid}&to={to}"), 200)
        .await;
    assert_eq!(late["calls"], 5);
    assert_eq!(late["repeats"], 2);
    assert_field_error(app.get("/api/v1/stats/repeats?by=week").await, 400, "by").await;
    assert_field_error(
        app.get(&format!("/api/v1/stats/repeats?from={to}&to={from}"))
            .await,
        400,
        "from",
    )
    .await;
}

#[tokio::test]
async fn cluster_changes_that_failed_to_store_are_stored_with_the_next_ones() {
    let app = spawn_app().await;
    let at = seat();
    let a = app.post_created(&noise("O-1", at, 0.0, 30, None)).await;
    let ia = a[0]["id"].as_i64().unwrap();
    assert_eq!(stored_cluster(&app, ia).await, Some(cluster_of(&a[0])));

    // the cluster store fails for a moment (a trigger refuses every cluster
    // row with a serialization failure, i.e. a transient error that outlasts
    // the retries): the incident is committed and answered, its cluster
    // change is owed (not stored, not published)
    for sql in [
        "create function lq_test_refuse() returns trigger language plpgsql as \
         $$ begin raise exception 'cluster store down (test)' using errcode = '40001'; end $$",
        "create trigger lq_test_refuse before insert or update on cluster \
         for each row execute function lq_test_refuse()",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }
    let b = app.post_created(&noise("O-2", at, 60.0, 20, None)).await;
    let ib = b[0]["id"].as_i64().unwrap();
    assert_eq!(cluster_of(&b[0]), cluster_of(&a[0]), "memory clustered it");
    sqlx::query("drop trigger lq_test_refuse on cluster")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored_cluster(&app, ib).await, None, "not stored yet");

    // the next change (a call far away) carries the owed one with it
    let c = app.post_created(&noise("O-3", at, 5_000.0, 10, None)).await;
    let ic = c[0]["id"].as_i64().unwrap();
    assert_eq!(stored_cluster(&app, ic).await, Some(cluster_of(&c[0])));
    assert_eq!(
        stored_cluster(&app, ib).await,
        Some(cluster_of(&a[0])),
        "the owed membership is stored now"
    );
    let kept = app
        .get_json(&format!("/api/v1/clusters/{}", cluster_of(&a[0])), 200)
        .await;
    assert_eq!(kept["cluster"]["properties"]["members"], 2);
    assert_eq!(kept["members"].as_array().unwrap().len(), 2);

    // a change the database refuses for what it holds (not transient) is
    // dropped and does not hold up the ones after it
    for sql in [
        "create or replace function lq_test_refuse() returns trigger language plpgsql as \
         $$ begin raise exception 'refused (test)'; end $$",
        "create trigger lq_test_refuse before insert or update on cluster \
         for each row execute function lq_test_refuse()",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }
    let d = app.post_created(&noise("O-4", at, 9_000.0, 5, None)).await;
    sqlx::query("drop trigger lq_test_refuse on cluster")
        .execute(&app.pool)
        .await
        .unwrap();
    let e = app.post_created(&noise("O-5", at, 13_000.0, 4, None)).await;
    let (id, ie) = (d[0]["id"].as_i64().unwrap(), e[0]["id"].as_i64().unwrap());
    assert_eq!(stored_cluster(&app, ie).await, Some(cluster_of(&e[0])));
    assert_eq!(
        stored_cluster(&app, id).await,
        None,
        "the refused change was dropped"
    );
}
