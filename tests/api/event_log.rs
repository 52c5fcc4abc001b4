use serde_json::json;

use crate::helpers::{at_seat, spawn_app, townships};

#[tokio::test]
async fn one_created_event_per_new_incident_and_the_log_is_append_only() {
    let app = spawn_app().await;
    let t = &townships()[9];
    let mut created = Vec::new();
    for rec in app.post_created(&at_seat("E1", t, 5)).await {
        created.push(rec["id"].as_i64().unwrap());
    }
    // duplicate: no event
    let r = app.post_incidents(&at_seat("E1", t, 5)).await;
    assert_eq!(r.status(), 200);
    // batch with one duplicate
    let recs = app
        .post_created(&json!([
            at_seat("E2", t, 4),
            at_seat("E1", t, 4),
            at_seat("E3", t, 3)
        ]))
        .await;
    for rec in recs.iter().filter(|r| r["created"] == true) {
        created.push(rec["id"].as_i64().unwrap());
    }
    assert_eq!(created.len(), 3);

    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "select subject, payload from event_log where kind = 'incident.created' order by seq",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let subjects: Vec<String> = rows.iter().map(|(s, _)| s.clone()).collect();
    let want: Vec<String> = created.iter().map(|id| id.to_string()).collect();
    assert_eq!(
        subjects, want,
        "one incident.created per created incident, in order"
    );
    let source_ids: Vec<&str> = rows
        .iter()
        .map(|(_, p)| p["source_id"].as_str().unwrap())
        .collect();
    assert_eq!(source_ids, ["E1", "E2", "E3"]);
    for (_, p) in &rows {
        assert_eq!(p["source"], "110");
        assert_eq!(p["township_code"], t.code.as_str());
    }
    // the import logged the layers too
    let imported: i64 =
        sqlx::query_scalar("select count(*) from event_log where kind = 'layer.imported'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(imported, 5);

    let total: i64 = sqlx::query_scalar("select count(*) from event_log")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for sql in [
        "update event_log set kind = 'tampered'",
        "update event_log set payload = '{}' where kind = 'incident.created'",
        "delete from event_log",
        "delete from event_log where kind = 'incident.created'",
        "truncate event_log",
    ] {
        let err = sqlx::query(sql)
            .execute(&app.pool)
            .await
            .expect_err(&format!("{sql:?} must fail"));
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let after: i64 = sqlx::query_scalar("select count(*) from event_log")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(after, total);
    let tampered: i64 =
        sqlx::query_scalar("select count(*) from event_log where kind = 'tampered'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(tampered, 0);
}
