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

/// The sources of the HTTP adapter (src/http/*.rs), by file name.
fn http_sources() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("src/http")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("source file");
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    out.sort();
    out
}

/// Every `(method, path)` declared by a `#[utoipa::path(...)]` attribute in
/// src/http: the router takes each route's path and methods from these
/// (`routes!`), so this is what the server routes.
fn declared_operations() -> Vec<(String, String)> {
    const MARK: &str = "#[utoipa::path(";
    let mut out = Vec::new();
    for (file, src) in http_sources() {
        let mut rest = src.as_str();
        while let Some(i) = rest.find(MARK) {
            rest = &rest[i + MARK.len()..];
            let head = rest.trim_start();
            let methods: Vec<String> = if let Some(m) = head.strip_prefix("method(") {
                let end = m.find(')').expect("closing ) of method(...)");
                m[..end].split(',').map(|x| x.trim().to_string()).collect()
            } else {
                let end = head
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .expect("method");
                vec![head[..end].to_string()]
            };
            let p = rest
                .find("path = \"")
                .unwrap_or_else(|| panic!("{file}: #[utoipa::path] without `path = \"...\"`"));
            let tail = &rest[p + "path = \"".len()..];
            let path = &tail[..tail.find('"').expect("closing quote")];
            for m in methods {
                assert!(
                    ["get", "post", "put", "delete", "patch", "head", "options"]
                        .contains(&m.as_str()),
                    "{file}: cannot read the method of {path}: {m:?}"
                );
                out.push((m, path.to_string()));
            }
        }
    }
    out.sort();
    out
}

/// Every path still registered with a plain `.route("…")` in src/http,
/// except the big screen's "/" placeholder (only there when web/dist is
/// not built): such a route has no OpenAPI entry unless someone wrote one.
fn plain_routes() -> Vec<String> {
    let mut out = Vec::new();
    for (_, src) in http_sources() {
        let mut rest = src.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            if let Some(s) = rest.trim_start().strip_prefix('"') {
                let path = &s[..s.find('"').expect("closing quote")];
                if path != "/" {
                    out.push(path.to_string());
                }
            }
        }
    }
    out
}

/// Every `(method, path)` of the served document.
fn documented_operations(doc: &Value) -> Vec<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths object");
    let mut out = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item object") {
            if [
                "get", "post", "put", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                assert!(op.is_object(), "{method} {path}: operation object");
                out.push((method.clone(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

/// Sources and document agree on every route and method (a route cannot be
/// added without its entry, nor an entry kept for a route that is gone),
/// and each documented operation answers: anything but the router's
/// `no route` 404 fallback or a 405 (path routed, method not).
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

    let declared = declared_operations();
    assert!(
        declared.len() >= 30,
        "expected at least 30 #[utoipa::path] operations in src/http, found {declared:?}"
    );
    let plain = plain_routes();
    assert!(
        plain.is_empty(),
        "routes registered with .route() have no OpenAPI entry; use routes!(handler) with #[utoipa::path]: {plain:?}"
    );
    let documented = documented_operations(&v);
    for op in &declared {
        assert!(
            documented.contains(op),
            "{} {} is declared in src/http but missing from /openapi.json (routed without routes!?)",
            op.0,
            op.1
        );
    }
    for op in &documented {
        assert!(
            declared.contains(op),
            "{} {} is in /openapi.json but no #[utoipa::path] in src/http declares it",
            op.0,
            op.1
        );
    }
    for want in [
        "/healthz",
        "/openapi.json",
        "/api/v1/layers/{name}",
        "/api/v1/locate",
        "/api/v1/incidents",
        "/api/v1/stream",
        "/osmand",
    ] {
        assert!(
            declared.iter().any(|(_, p)| p == want),
            "route {want} not declared in src/http"
        );
        assert!(
            paths.contains_key(want),
            "{want} missing from /openapi.json"
        );
    }
    for (method, path) in [
        ("post", "/api/v1/incidents"),
        ("get", "/api/v1/incidents"),
        ("get", "/osmand"),
        ("post", "/osmand"),
        ("get", "/api/v1/stream"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} missing");
    }

    // every documented operation exists in the router
    for (method, path) in &documented {
        let mut url = String::new();
        let mut rest = path.as_str();
        while let Some(i) = rest.find('{') {
            url.push_str(&rest[..i]);
            url.push('1');
            rest = &rest[i + rest[i..].find('}').expect("closing }") + 1..];
        }
        url.push_str(rest);
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = app
            .client
            .request(m, app.url(&url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        let fallback = status == 404
            && serde_json::from_str::<Value>(&body).is_ok_and(|b| {
                b["reason"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("no route for"))
            });
        assert!(
            !fallback && status != 405,
            "{method} {path} is documented but not routed: {method} {url} answered {status} {body}"
        );
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
