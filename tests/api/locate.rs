use serde_json::Value;

use crate::helpers::{assert_field_error, grid_townships, spawn_app, townships, TestApp};

async fn locate(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/api/v1/locate?{query}")).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "locate?{query}: {v}");
    v
}

#[tokio::test]
async fn every_township_seat_locates_to_its_township() {
    let app = spawn_app().await;
    let grids = grid_townships();
    let ts = townships();
    assert_eq!(ts.len(), 19);
    for t in ts {
        let v = locate(&app, &format!("lon={}&lat={}", t.seat_lon, t.seat_lat)).await;
        let ctx = format!("seat of {} {}: {v}", t.code, t.name);
        assert_eq!(v["inside"], true, "{ctx}");
        assert_eq!(v["district"]["code"], "331003", "{ctx}");
        assert_eq!(v["township"]["code"], t.code.as_str(), "{ctx}");
        assert_eq!(v["township"]["name"], t.name.as_str(), "{ctx}");
        let grid = v["grid"]["code"].as_str().expect(&ctx);
        assert_eq!(
            grids.get(grid).map(String::as_str),
            Some(t.code.as_str()),
            "grid {grid} does not belong to the township; {ctx}"
        );
        assert!(v["station"]["code"].is_string(), "{ctx}");
        assert!(v["station"]["name"].is_string(), "{ctx}");
        let d = v["nearest_post"]["distance_m"].as_f64().expect(&ctx);
        assert!(d > 0.0 && d < 20_000.0, "post distance {d}; {ctx}");
        assert!(
            (v["lon"].as_f64().unwrap() - t.seat_lon).abs() < 1e-9,
            "{ctx}"
        );
        assert!(
            (v["lat"].as_f64().unwrap() - t.seat_lat).abs() < 1e-9,
            "{ctx}"
        );
    }
}

#[tokio::test]
async fn a_point_far_outside_is_not_inside() {
    let app = spawn_app().await;
    let v = locate(&app, "lon=120.0&lat=30.0").await;
    assert_eq!(v["inside"], false, "{v}");
    assert!(v["township"].is_null(), "{v}");
    assert!(v["grid"].is_null(), "{v}");
    assert!(v["district"].is_null(), "{v}");
}

#[tokio::test]
async fn gcj02_input_is_converted_before_locating() {
    let app = spawn_app().await;
    for t in townships() {
        let (glon, glat) = lianqin::spatial::crs::wgs84_to_gcj02(t.seat_lon, t.seat_lat);
        // the shift is real (hundreds of metres), so the conversion matters
        let shift = lianqin::spatial::haversine_m(t.seat_lon, t.seat_lat, glon, glat);
        assert!(shift > 100.0, "GCJ shift only {shift} m");
        let v = locate(&app, &format!("lon={glon}&lat={glat}&crs=gcj02")).await;
        assert_eq!(
            v["township"]["code"],
            t.code.as_str(),
            "{} via gcj02: {v}",
            t.name
        );
        let back = lianqin::spatial::haversine_m(
            t.seat_lon,
            t.seat_lat,
            v["lon"].as_f64().unwrap(),
            v["lat"].as_f64().unwrap(),
        );
        assert!(
            back < 0.5,
            "{}: converted point is {back} m from the seat",
            t.name
        );
    }
}

#[tokio::test]
async fn bad_locate_input_is_400_naming_the_field() {
    let app = spawn_app().await;
    let t = &townships()[0];
    let (lon, lat) = (t.seat_lon, t.seat_lat);
    let cases: Vec<(String, &str)> = vec![
        (format!("lon={lon}"), "lat"),
        (format!("lat={lat}"), "lon"),
        (String::new(), "lon"),
        (format!("lon={lon}&lat=91"), "lat"),
        (format!("lon={lon}&lat=-90.5"), "lat"),
        (format!("lon=181&lat={lat}"), "lon"),
        (format!("lon=abc&lat={lat}"), "lon"),
        (format!("lon=NaN&lat={lat}"), "lon"),
        (format!("lon=inf&lat={lat}"), "lon"),
        (format!("lon={lon}&lat=NaN"), "lat"),
        (format!("lon={lon}&lat="), "lat"),
        (format!("lon={lon}&lat={lat}&crs=utm"), "crs"),
    ];
    for (q, field) in cases {
        let r = app.get(&format!("/api/v1/locate?{q}")).await;
        assert_eq!(r.status(), 400, "locate?{q}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["field"], field, "locate?{q}: {v}");
        assert!(v["reason"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    }
    // and the helper's stricter form (content type) on one of them
    let r = app.get("/api/v1/locate?lon=1").await;
    assert_field_error(r, 400, "lat").await;
}
