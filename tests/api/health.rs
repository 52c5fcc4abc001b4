use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_reports_ok_and_layer_counts() {
    let app = spawn_app().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["database"], "ok", "{v}");
    assert_eq!(v["world"]["loaded"], true, "{v}");
    let layers = &v["world"]["layers"];
    assert_eq!(layers["boundary"], 1, "{v}");
    assert_eq!(layers["townships"], 19, "{v}");
    assert_eq!(layers["grids"], 348, "{v}");
    assert_eq!(layers["stations"], 4, "{v}");
    assert_eq!(layers["posts"], 21, "{v}");
    assert_eq!(v["world"]["recent_incidents"], 0, "{v}");
}

/// Every `.route("…")` registered in src/http/mod.rs, except the big
/// screen's "/" placeholder, read from the source so a new route without a
/// description in the document fails this test.
fn registered_routes() -> Vec<String> {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/mod.rs"))
        .expect("src/http/mod.rs");
    let mut out = Vec::new();
    let mut rest = src.as_str();
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let rest_trim = rest.trim_start();
        if let Some(s) = rest_trim.strip_prefix('"') {
            let end = s.find('"').expect("closing quote");
            let path = &s[..end];
            if path != "/" {
                out.push(path.to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let version = v["openapi"].as_str().expect("openapi version string");
    assert!(version.starts_with("3."), "openapi {version}");
    assert!(v["info"]["title"].is_string());
    let paths = v["paths"].as_object().expect("paths object");
    let routes = registered_routes();
    assert!(
        routes.len() >= 6,
        "expected at least 6 routes in src/http/mod.rs, found {routes:?}"
    );
    for want in [
        "/healthz",
        "/openapi.json",
        "/api/v1/layers/{name}",
        "/api/v1/locate",
        "/api/v1/incidents",
        "/api/v1/stream",
    ] {
        assert!(
            routes.iter().any(|r| r == want),
            "route {want} not found in src/http/mod.rs"
        );
    }
    for route in &routes {
        assert!(
            paths.contains_key(route),
            "{route} is routed but missing from /openapi.json"
        );
    }
    for (method, path) in [("post", "/api/v1/incidents"), ("get", "/api/v1/incidents")] {
        assert!(paths[path][method].is_object(), "{method} {path} missing");
    }
}

#[tokio::test]
async fn stats_today_counts_from_the_database_by_source() {
    let app = spawn_app().await;
    let before: Value = app.get("/api/v1/stats/today").await.json().await.unwrap();
    assert_eq!(before["timezone"], "Asia/Shanghai");
    assert_eq!(before["total"], 0);
    assert_eq!(before["by_source"]["110"], 0);
    let now = chrono::Utc::now().to_rfc3339();
    let body = serde_json::json!([
        {"source": "110", "source_id": "S1", "reported_at": now, "lon": 121.26, "lat": 28.65},
        {"source": "110", "source_id": "S2", "reported_at": now, "lon": 121.26, "lat": 28.65},
        {"source": "grid", "source_id": "S3", "reported_at": now, "lon": 121.26, "lat": 28.65}
    ]);
    let r = app.post_incidents(&body).await;
    assert_eq!(r.status(), 201);
    let ids: Vec<i64> = r
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    let after: Value = app.get("/api/v1/stats/today").await.json().await.unwrap();
    assert_eq!(after["total"], 3);
    assert_eq!(after["by_source"]["110"], 2);
    assert_eq!(after["by_source"]["grid"], 1);
    assert_eq!(after["by_source"]["xinfang"], 0);
    assert_eq!(
        after["max_id"].as_i64().unwrap(),
        *ids.iter().max().unwrap()
    );
}
