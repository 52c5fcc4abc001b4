use serde_json::Value;

use crate::helpers::{at_seat, snapshot_ids, spawn_app, townships};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_survive_a_restart_on_the_same_database() {
    let mut app = spawn_app().await;
    let t = &townships()[2];
    let rec = app.post_created(&at_seat("R1", t, 3)).await;
    let id = rec[0]["id"].as_i64().unwrap();
    let old_addr = app.addr;

    app.stop().await;
    assert!(
        reqwest::get(format!("http://{old_addr}/healthz"))
            .await
            .is_err(),
        "the old server still answers after stop"
    );
    app.restart().await;

    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["world"]["recent_incidents"], 1, "{h}");

    let r = app.get("/api/v1/incidents").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let ids: Vec<i64> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![id]);

    let (_ws, snap) = app.ws_subscribe(Some(t.bbox)).await;
    assert_eq!(
        snapshot_ids(&snap),
        vec![id],
        "snapshot after restart: {snap}"
    );
    let f = &snap["incidents"]["features"][0];
    assert_eq!(f["properties"]["source_id"], "R1");
    assert_eq!(
        f["properties"]["jurisdiction"]["township_code"],
        t.code.as_str()
    );

    // a separate connection to the same database sees the one row
    let pool = sqlx::PgPool::connect(&app.db_url).await.unwrap();
    let stored: Vec<i64> = sqlx::query_scalar("select id from incident")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(stored, vec![id]);

    // ingest still works after the restart and is still idempotent
    let r = app.post_incidents(&at_seat("R1", t, 3)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.incident_count().await, 1);
}
