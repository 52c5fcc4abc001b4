use serde_json::Value;

use crate::helpers::{assert_field_error, spawn_app};

#[tokio::test]
async fn every_layer_is_a_feature_collection_with_the_right_count() {
    let app = spawn_app().await;
    for (name, count) in [
        ("boundary", 1),
        ("townships", 19),
        ("grids", 348),
        ("stations", 4),
        ("posts", 21),
    ] {
        let r = app.get(&format!("/api/v1/layers/{name}")).await;
        assert_eq!(r.status(), 200, "layer {name}");
        let ct = r.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            ct.starts_with("application/geo+json"),
            "{name}: content type {ct}"
        );
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], "FeatureCollection", "{name}");
        let features = v["features"].as_array().expect("features");
        assert_eq!(features.len(), count, "{name} feature count");
        for f in features {
            assert_eq!(f["type"], "Feature", "{name}");
            assert!(f["geometry"]["type"].is_string(), "{name}: {f}");
            assert!(f["properties"]["code"].is_string(), "{name}: no code");
        }
    }
}

#[tokio::test]
async fn unknown_layer_is_404_with_field_and_reason() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/layers/roads").await;
    let v = assert_field_error(r, 404, "path").await;
    assert!(v["reason"].as_str().unwrap().contains("roads"), "{v}");
    let r = app.get("/api/v1/no-such-route").await;
    assert_field_error(r, 404, "path").await;
}
